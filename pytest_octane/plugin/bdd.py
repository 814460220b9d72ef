"""pytest-bdd scenarios: what pytest-bdd knows of each one, carried on its teardown report.

Registered only when pytest-bdd is installed (it is never imported here: its objects arrive
through its own hooks).  On an xdist worker and in a plain session alike, the data is a
JSON-able dict set as a report attribute (``BDD_ATTR``) so xdist sends it to the controller,
where :func:`scenario_of` turns it into a :class:`GherkinScenario`.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Generator, MutableMapping
from pathlib import Path
from typing import Any

import pytest

from pytest_octane.model import GherkinScenario, GherkinStep
from pytest_octane.plugin.attrs import BDD_ATTR

__all__ = ["BddCollector", "scenario_name", "scenario_of"]

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


def _background_count(template: Any) -> int:
    """Background steps come first in a rendered scenario (the feature's, then its rule's)."""
    return len(template.all_background_steps)


def _example_of(item: pytest.Item) -> dict[str, str] | None:
    callspec = getattr(item, "callspec", None)
    params = getattr(callspec, "params", {}) if callspec is not None else {}
    example = params.get("_pytest_bdd_example")
    return dict(example) if example else None


def _outline_index(template: Any, example: dict[str, str]) -> int | None:
    """1-based position of ``example`` among the outline's example rows (stable between runs)."""
    index = 0
    for examples in getattr(template, "examples", ()):
        for context in examples.as_contexts():
            index += 1
            if dict(context) == example:
                return index
    return None


def scenario_name(name: str, example: dict[str, str] | None) -> str:
    """``Eat cukes [start=12, eat=5]``: the outline's name plus its example's values, so each
    example is its own scenario and keeps its name between runs."""
    if not example:
        return name
    values = ", ".join(f"{key}={value}" for key, value in example.items())
    return f"{name} [{values}]"


class BddCollector:
    """pytest-bdd hook implementations; one instance per process (controller or worker)."""

    def __init__(self, rootdir: Path, jira_tag_pattern: str) -> None:
        # pytest-bdd (9.x) maps each scenario test function to its ScenarioTemplate; this
        # class is only made when pytest-bdd is installed, so the import is safe here
        from pytest_bdd.scenario import scenario_wrapper_template_registry

        self._templates: Any = scenario_wrapper_template_registry
        self.rootdir = rootdir
        self.tag_re = re.compile(jira_tag_pattern) if jira_tag_pattern else None
        #: per nodeid: step results by the step's position in the rendered scenario
        self._steps: dict[str, dict[int, dict[str, Any]]] = {}
        self._started: dict[str, float] = {}

    # -- pytest-bdd's hooks (only called when pytest-bdd is installed)

    def pytest_bdd_before_step(self, request: Any, scenario: Any, step: Any) -> None:
        self._started[request.node.nodeid] = time.perf_counter()

    def pytest_bdd_after_step(self, request: Any, scenario: Any, step: Any) -> None:
        self._record(request.node.nodeid, scenario, step, PASSED, None)

    def pytest_bdd_step_error(
        self, request: Any, scenario: Any, step: Any, exception: BaseException
    ) -> None:
        message = f"{type(exception).__name__}: {exception}".rstrip(": ")
        self._record(request.node.nodeid, scenario, step, FAILED, message)

    def pytest_bdd_step_func_lookup_error(
        self, request: Any, scenario: Any, step: Any, exception: BaseException
    ) -> None:
        self._started[request.node.nodeid] = time.perf_counter()
        self._record(request.node.nodeid, scenario, step, FAILED, str(exception))

    def _record(
        self, nodeid: str, scenario: Any, step: Any, status: str, error: str | None
    ) -> None:
        started = self._started.pop(nodeid, time.perf_counter())
        position = next((i for i, s in enumerate(scenario.steps) if s is step), -1)
        self._steps.setdefault(nodeid, {})[position] = {
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000),
            "error": error,
        }

    def template_of(self, item: pytest.Item) -> Any:
        """The pytest-bdd scenario the item runs, or None for any other test."""
        function = getattr(item, "obj", None)
        try:
            return self._templates.get(function) if function is not None else None
        except TypeError:  # an unhashable (or unreferenceable) test object is no scenario
            return None

    def is_scenario(self, item: pytest.Item) -> bool:
        return self.template_of(item) is not None

    # -- pytest's hook: put the data on the teardown report

    @pytest.hookimpl(wrapper=True)  # a new-style wrapper: pluggy's cheaper kind, per phase
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if call.when != "teardown":
            return report
        template = self.template_of(item)
        if template is None:
            return report
        results = self._steps.pop(item.nodeid, {})
        self._started.pop(item.nodeid, None)
        setattr(report, BDD_ATTR, self.describe(item, template, results))
        return report

    def describe(
        self, item: pytest.Item, template: Any, results: dict[int, dict[str, Any]]
    ) -> dict[str, Any]:
        example = _example_of(item)
        scenario = template.render(example or {})
        feature = template.feature
        background = _background_count(template)
        steps = []
        for position, step in enumerate(scenario.steps):
            result = results.get(position, {"status": SKIPPED, "duration_ms": 0, "error": None})
            steps.append(
                {
                    "keyword": str(step.keyword).strip(),
                    "text": str(step.name),
                    "background": position < background,
                    **result,
                }
            )
        feature_tags = sorted(str(t) for t in feature.tags)
        rule = getattr(template, "rule", None)
        rule_tags = set(rule.tags) if rule is not None else set()
        scenario_tags = sorted(str(t) for t in set(template.tags) | rule_tags)
        return {
            "feature_name": str(feature.name),
            "feature_file": str(feature.filename),
            "feature_path": self._relative(str(feature.filename)),
            "feature_tags": feature_tags,
            "name": scenario_name(str(template.name), example),
            "tags": scenario_tags,
            "outline_index": _outline_index(template, example) if example else None,
            "steps": steps,
            "jira_keys": self.tag_keys([*feature_tags, *scenario_tags]),
        }

    def tag_keys(self, tags: list[str]) -> list[str]:
        """Tags that are JIRA keys (``@PROJ-12`` arrives as ``PROJ-12``), first seen first."""
        if self.tag_re is None:
            return []
        keys: list[str] = []
        for tag in tags:
            if self.tag_re.fullmatch(tag) and tag not in keys:
                keys.append(tag)
        return keys

    def _relative(self, filename: str) -> str:
        try:
            return Path(os.path.relpath(filename, self.rootdir)).as_posix()
        except ValueError:  # another drive on Windows
            return Path(filename).as_posix()


def _read_feature(filename: str) -> str:
    try:
        return Path(filename).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""  # the scenarios and steps still tell the story


def scenario_of(data: dict[str, Any], texts: MutableMapping[str, str]) -> GherkinScenario:
    """The controller's view of one scenario; ``texts`` caches feature files by name."""
    filename = str(data.get("feature_file", ""))
    if filename not in texts:
        texts[filename] = _read_feature(filename) if filename else ""
    steps = tuple(
        GherkinStep(
            keyword=str(step.get("keyword", "")),
            text=str(step.get("text", "")),
            status=str(step.get("status", SKIPPED)),
            duration_ms=int(step.get("duration_ms", 0)),
            error=step.get("error"),
            background=bool(step.get("background", False)),
        )
        for step in data.get("steps", ())
    )
    index = data.get("outline_index")
    return GherkinScenario(
        feature_name=str(data.get("feature_name", "")),
        feature_path=str(data.get("feature_path", "")) or "unknown.feature",
        feature_text=texts[filename],
        feature_tags=tuple(data.get("feature_tags", ())),
        name=str(data.get("name", "")),
        tags=tuple(data.get("tags", ())),
        outline_index=int(index) if index is not None else None,
        steps=steps,
    )
