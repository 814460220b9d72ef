"""The simulator's Gherkin runs: one ``gherkin_test`` per feature path, one
``gherkin_automated_run`` per ``<gherkin_test_run>``, with its scenarios and steps kept.

Octane's own entity names (API-FACTS section 6); the fields kept are what the tests check.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from pytest_octane.simulator.query import Ref
from pytest_octane.simulator.state import Entity, SimState, Task

__all__ = ["gherkin_run_summary", "gherkin_test_for", "scenarios_of", "store_gherkin_run"]


def gherkin_test_for(state: SimState, feature: etree._Element) -> Entity:
    """The feature's Gherkin test, created on its first run (found by its path after that)."""
    path = str(feature.get("path"))
    known = state.gherkin_tests.get(path)
    if known is not None:
        return state.entities["test"][known]
    test = state.add_entity(
        "test",
        {
            "subtype": "gherkin_test",
            "name": feature.get("name") or path,
            "description": None,
            "covered_content": (),
            "product_areas": (),
        },
    )
    test.extra["feature_path"] = path
    state.gherkin_tests[path] = test.id
    return test


def _steps(parent: etree._Element | None) -> list[dict[str, Any]]:
    if parent is None:
        return []
    steps = []
    for step in parent.findall("step"):
        error = step.find("error_message")
        steps.append(
            {
                "name": step.get("name"),
                "status": step.get("status"),
                "duration_ms": int(step.get("duration") or 0),
                "error": error.text if error is not None else None,
            }
        )
    return steps


def scenarios_of(feature: etree._Element) -> dict[str, Any]:
    scenarios = feature.find("scenarios")
    if scenarios is None:
        return {"background": [], "scenarios": []}
    return {
        "background": _steps(scenarios.find("background/steps")),
        "scenarios": [
            {
                "name": s.get("name"),
                "outline_index": int(s.get("outlineIndex") or 0) or None,
                "status": s.get("status"),
                "steps": _steps(s.find("steps")),
            }
            for s in scenarios.findall("scenario")
        ],
    }


def store_gherkin_run(
    state: SimState,
    task: Task,
    element: etree._Element,
    fields: dict[str, Any],
    covered: tuple[Ref, ...],
) -> Entity:
    """Store one Gherkin run; ``fields`` are the run fields shared with plain runs."""
    feature = element.find("feature")
    assert feature is not None  # the schema check requires it
    test = gherkin_test_for(state, feature)
    test.fields["covered_content"] = test.fields["covered_content"] + tuple(
        r for r in covered if r not in test.fields["covered_content"]
    )
    started = int(feature.get("started") or 0)
    run = state.add_entity(
        "run",
        {
            **fields,
            "subtype": "gherkin_automated_run",
            "name": element.get("name") or str(feature.get("path")),
            "test": Ref("test", test.id),
        },
    )
    file = feature.find("file")
    run.extra.update(
        task_id=task.id,
        started_ms=started,
        feature_path=feature.get("path"),
        feature_tag=feature.get("tag"),
        feature_text=file.text if file is not None else "",
        **scenarios_of(feature),
    )
    task.run_ids.append(run.id)
    state.counters.runs_stored += 1
    return run


def gherkin_run_summary(state: SimState, run: Entity) -> dict[str, Any]:
    """What tests read back of a stored Gherkin run."""
    fields = run.fields
    test = fields.get("test")
    status = fields.get("native_status")
    return {
        "id": run.id,
        "test_id": test.id if isinstance(test, Ref) else None,
        "name": fields.get("name"),
        "status": status.name if isinstance(status, Ref) else None,
        "duration_ms": fields.get("duration"),
        "covered_content": [r.id for r in fields.get("covered_content") or ()],
        **{
            key: run.extra.get(key)
            for key in (
                "task_id",
                "started_ms",
                "feature_path",
                "feature_tag",
                "feature_text",
                "background",
                "scenarios",
            )
        },
    }
