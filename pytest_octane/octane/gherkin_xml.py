"""Octane's ``gherkin_test_run`` elements, and slicing that keeps each feature in one slice.

The XSD allows either ``<test_run>`` or ``<gherkin_test_run>`` children in one ``<test_runs>``,
never both, so plain runs and scenarios go to separate slices.  A ``gherkin_test_run`` has no
place for story ids of its own: only the document's ``<backlog_items>`` can link it, so
features are sliced together only when their scenarios name the same JIRA keys.

lxml is imported only by the functions that build elements: the slicing (``plan_slices``,
``features_of``, ``feature_keys``) costs no lxml import (issue 28).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from pytest_octane.model import GherkinScenario, GherkinStep, RunStatus, TestRun
from pytest_octane.octane.xml_text import clean, cut_trace

if TYPE_CHECKING:
    from lxml import etree

__all__ = [
    "feature_keys",
    "feature_status",
    "features_of",
    "gherkin_elements",
    "gherkin_run_element",
    "gherkin_run_texts",
    "plan_slices",
]

#: Octane's own feature-file tag linking a feature to its Gherkin test (``@TID1311REV0.2.0``).
_OCTANE_TID = re.compile(r"TID\d+REV[\w.]*")
_NAME_LIMIT = 3800


def features_of(runs: Sequence[TestRun]) -> list[list[TestRun]]:
    """The scenarios of ``runs`` grouped by feature file, in the order features first appear."""
    groups: dict[str, list[TestRun]] = {}
    for run in runs:
        assert run.gherkin is not None
        groups.setdefault(run.gherkin.feature_path, []).append(run)
    return list(groups.values())


def feature_keys(feature: Sequence[TestRun]) -> tuple[str, ...]:
    """Every JIRA key of a feature's scenarios (the whole feature run links to them)."""
    return tuple(dict.fromkeys(key for run in feature for key in run.jira_keys))


def plan_slices(runs: Sequence[TestRun], size: int) -> list[Sequence[TestRun]]:
    """Plain runs in chunks of ``size``, then features packed up to ``size`` scenarios a slice
    (a bigger feature gets a slice of its own), never mixing features of different keys."""
    plain = [run for run in runs if run.gherkin is None]
    slices: list[Sequence[TestRun]] = [
        plain[start : start + size] for start in range(0, len(plain), size)
    ]
    by_keys: dict[frozenset[str], list[list[TestRun]]] = {}
    for feature in features_of([run for run in runs if run.gherkin is not None]):
        by_keys.setdefault(frozenset(feature_keys(feature)), []).append(feature)
    for features in by_keys.values():
        current: list[TestRun] = []
        for feature in features:
            if current and len(current) + len(feature) > size:
                slices.append(current)
                current = []
            current.extend(feature)
        if current:
            slices.append(current)
    return slices


def _clean(text: str, limit: int | None = None) -> str:
    cleaned = clean(text)
    return cleaned if limit is None else cleaned[:limit]


def feature_status(statuses: Sequence[RunStatus]) -> RunStatus:
    """Failed if any scenario failed, Passed if any passed, else Skipped (all skipped)."""
    if RunStatus.FAILED in statuses:
        return RunStatus.FAILED
    if RunStatus.PASSED in statuses:
        return RunStatus.PASSED
    return RunStatus.SKIPPED


def _step_element(
    tag_parent: etree._Element, step: GherkinStep, error: str | None
) -> etree._Element:
    from lxml import etree

    name = _clean(f"{step.keyword} {step.text}".strip(), _NAME_LIMIT) or "step"
    element = etree.SubElement(
        tag_parent, "step", name=name, duration=str(max(0, step.duration_ms)), status=step.status
    )
    if error:
        etree.SubElement(element, "error_message").text = _clean(error)
    return element


def _background(scenarios: Sequence[GherkinScenario]) -> list[GherkinStep]:
    """The feature's Background steps, each failed if it failed in any scenario."""
    with_background = [s for s in scenarios if any(step.background for step in s.steps)]
    if not with_background:
        return []
    first = [step for step in with_background[0].steps if step.background]
    merged = []
    for position, step in enumerate(first):
        runs = [
            [st for st in s.steps if st.background][position]
            for s in with_background
            if len([st for st in s.steps if st.background]) > position
        ]
        failed = next((st for st in runs if st.status == "failed"), None)
        passed = next((st for st in runs if st.status == "passed"), None)
        merged.append(failed or passed or step)
    return merged


def gherkin_run_element(feature: Sequence[TestRun], max_trace: int) -> etree._Element:
    """One ``<gherkin_test_run>`` for the scenarios of one feature file."""
    from lxml import etree

    scenarios = [run.gherkin for run in feature if run.gherkin is not None]
    head = scenarios[0]
    status = feature_status([run.status for run in feature])
    element = etree.Element(
        "gherkin_test_run",
        name=_clean(head.feature_name, 255),
        duration=str(sum(max(0, run.duration_ms) for run in feature)),
        status=status.value,
    )
    tid = next((tag for tag in head.feature_tags if _OCTANE_TID.fullmatch(tag)), "")
    xml_feature = etree.SubElement(
        element,
        "feature",
        name=_clean(head.feature_name, 255),
        path=_clean(head.feature_path, 255) or "unknown.feature",
        tag=f"@{tid}" if tid else "",
        started=str(max(0, min(run.started_ms for run in feature))),
    )
    etree.SubElement(xml_feature, "file").text = _clean(head.feature_text)
    xml_scenarios = etree.SubElement(xml_feature, "scenarios")
    background = _background(scenarios)
    if background:
        steps = etree.SubElement(etree.SubElement(xml_scenarios, "background"), "steps")
        for step in background:
            _step_element(steps, step, step.error)
    for run, scenario in zip(feature, scenarios, strict=True):
        xml_scenario = etree.SubElement(
            xml_scenarios, "scenario", name=_clean(scenario.name, _NAME_LIMIT)
        )
        if scenario.outline_index is not None:
            xml_scenario.set("outlineIndex", str(scenario.outline_index))
        xml_scenario.set("status", run.status.value)
        steps = etree.SubElement(xml_scenario, "steps")
        trace = cut_trace(run.error.trace, max_trace) if run.error else None
        for step in scenario.steps:
            if step.background:
                continue
            # the failing step shows pytest's full report, not just the exception's line
            error = (trace or step.error) if step.status == "failed" else None
            _step_element(steps, step, error)
    return element


def gherkin_elements(runs: Sequence[TestRun], max_trace: int) -> Iterator[etree._Element]:
    for feature in features_of(runs):
        yield gherkin_run_element(feature, max_trace)


def gherkin_run_texts(runs: Sequence[TestRun], max_trace: int) -> Iterator[str]:
    """The ``<gherkin_test_run>`` elements of ``runs`` as XML text (no declaration), one per
    feature, for the text writer of results_xml."""
    from lxml import etree

    for element in gherkin_elements(runs, max_trace):
        yield etree.tostring(element, encoding=str)
