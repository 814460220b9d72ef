"""What the uploader's own tests share: results to journal, and a bounded wait."""

from __future__ import annotations

import time
from typing import Any

from pytest_octane.model import GherkinScenario, GherkinStep, RunError, RunStatus, TestRun


def make_run(i: int, **changes: Any) -> TestRun:
    fields: dict[str, Any] = {
        "nodeid": f"tests/test_m{i % 3}.py::test_{i}",
        "module": "",
        "package": "tests",
        "klass": f"test_m{i % 3}",
        "name": f"test_{i}",
        "status": RunStatus.FAILED if i % 7 == 0 else RunStatus.PASSED,
        "duration_ms": i % 13,
        "started_ms": 1_700_000_000_000 + i,
    }
    if i % 7 == 0:
        fields["error"] = RunError(type="AssertionError", message=f"no {i}", trace=f"trace {i}")
    fields.update(changes)
    return TestRun(**fields)


def make_scenario(i: int, feature: str = "Shop") -> TestRun:
    text = f"Feature: {feature}\n  Scenario: buy {i}\n    Given a shop\n"
    scenario = GherkinScenario(
        feature_name=feature,
        feature_path=f"features/{feature.lower()}.feature",
        feature_text=text,
        feature_tags=("@smoke",),
        name=f"buy {i}",
        steps=(GherkinStep(keyword="Given", text="a shop", status="passed", duration_ms=3),),
    )
    return make_run(i, gherkin=scenario, nodeid=f"tests/test_bdd.py::test_buy_{i}")


def wait_until(condition: Any, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
