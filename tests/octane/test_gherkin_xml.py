"""gherkin_xml: slicing of scenarios by feature and story keys, and the element's details."""

from __future__ import annotations

import io

import pytest

from pytest_octane.model import GherkinScenario, GherkinStep, RunStatus, TestRun
from pytest_octane.octane.gherkin_xml import feature_status, plan_slices
from pytest_octane.octane.results_xml import ResultHeader, write_document


def _run(name: str, feature: str = "", keys: tuple[str, ...] = (), **kw: object) -> TestRun:
    gherkin = None
    if feature:
        gherkin = GherkinScenario(
            feature_name=feature.title(),
            feature_path=f"features/{feature}.feature",
            feature_text="Feature: x\n",
            feature_tags=tuple(kw.pop("tags", ())),  # type: ignore[arg-type]
            name=name,
            steps=(GherkinStep(keyword="Given", text="x" * 5000, status="passed"),),
        )
    return TestRun(
        nodeid=name,
        module="",
        package="p",
        klass="c",
        name=name,
        status=kw.pop("status", RunStatus.PASSED),  # type: ignore[arg-type]
        duration_ms=3,
        started_ms=1000 + len(name),
        jira_keys=keys,
        gherkin=gherkin,
    )


def test_features_with_different_keys_never_share_a_slice() -> None:
    runs = [
        _run("a1", "a", ("QZ-1",)),
        _run("plain"),
        _run("b1", "b"),
        _run("a2", "a"),
        _run("c1", "c", ("QZ-1",)),
    ]
    slices = [[run.name for run in chunk] for chunk in plan_slices(runs, 10)]
    # plain first; a (keys QZ-1 from a1) with c (QZ-1); b (no keys) alone
    assert slices == [["plain"], ["a1", "a2", "c1"], ["b1"]]


def test_a_feature_larger_than_a_slice_gets_one_of_its_own() -> None:
    runs = [_run(f"a{i}", "a") for i in range(3)] + [_run("b1", "b"), _run("c1", "c")]
    assert [len(chunk) for chunk in plan_slices(runs, 2)] == [3, 2]


def test_the_feature_run_status_follows_its_scenarios() -> None:
    assert feature_status([RunStatus.PASSED, RunStatus.FAILED]) is RunStatus.FAILED
    assert feature_status([RunStatus.SKIPPED, RunStatus.PASSED]) is RunStatus.PASSED
    assert feature_status([RunStatus.SKIPPED]) is RunStatus.SKIPPED


def test_long_step_names_are_cut_and_octane_tid_tags_fill_the_feature_tag(validate_xml) -> None:
    buffer = io.BytesIO()
    write_document(buffer, ResultHeader(), [_run("a1", "a", tags=("smoke", "TID1311REV0.2.0"))])
    root = validate_xml(buffer.getvalue())
    assert len(root.find(".//step").get("name")) == 3800
    assert root.find(".//feature").get("tag") == "@TID1311REV0.2.0"


def test_a_document_never_mixes_plain_runs_and_scenarios() -> None:
    with pytest.raises(ValueError, match="not both"):
        write_document(io.BytesIO(), ResultHeader(), [_run("plain"), _run("a1", "a")])
    with pytest.raises(ValueError, match="not both"):
        write_document(io.BytesIO(), ResultHeader(), [_run("a1", "a"), _run("plain")])
