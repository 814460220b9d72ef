"""An upload journals each result as its line, made straight from its reports when the run is
plain (issue 28): the lines must be those of the runs a dry run makes, byte for byte."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pytest_octane.job.journal import run_line
from pytest_octane.model import RunStatus
from pytest_octane.plugin.attrs import JIRA_ATTR
from pytest_octane.plugin.collect import ResultCollector


def _report(
    nodeid: str, when: str, outcome: str, start: float, **extra: object
) -> pytest.TestReport:
    longrepr: object = None
    if outcome == "failed":
        longrepr = f"{nodeid.partition('::')[0]}:3: ValueError"
    elif outcome == "skipped":
        longrepr = ("x.py", 1, "Skipped: not on this platform")
    return pytest.TestReport(
        nodeid=nodeid,
        location=("x.py", 2, "x"),
        keywords={},
        outcome=outcome,  # type: ignore[arg-type]
        longrepr=longrepr,  # type: ignore[arg-type]
        when=when,  # type: ignore[arg-type]
        duration=0.25,
        start=start,
        stop=start + 0.25,
        **extra,
    )


def _test(
    nodeid: str, start: float, *, call: str = "passed", setup: str = "passed", **extra: object
) -> list[pytest.TestReport]:
    if setup != "passed":
        return [_report(nodeid, "setup", setup, start, **extra),
                _report(nodeid, "teardown", "passed", start + 1)]  # fmt: skip
    return [
        _report(nodeid, "setup", "passed", start, **extra),
        _report(nodeid, "call", call, start + 1),
        _report(nodeid, "teardown", "passed", start + 2),
    ]


SESSION = [
    *_test("tests/test_a.py::test_plain", 100.0),
    *_test("tests/test_a.py::TestK::test_keys_from_collection[1-é]", 110.0),
    *_test("tests/test_a.py::test_keys_on_the_report", 120.0, **{JIRA_ATTR: ["AB-7", "AB-8"]}),
    *_test("tests/test_a.py::test_fails", 130.0, call="failed"),
    *_test("tests/test_a.py::test_skipped", 140.0, call="skipped"),
    *_test("tests/test_a.py::test_setup_skips", 150.0, setup="skipped"),
    *_test("tests/test_a.py::test_setup_fails", 160.0, setup="failed"),
    *_test('tests/test_a.py::test_odd[\udcff\x00"\\]', 170.0),
    *_test("tests/test_b.py::test_captured", 180.0, sections=[("Captured stdout call", "out\n")]),
]
KEYS = {"tests/test_a.py::TestK::test_keys_from_collection[1-é]": ("AB-1", "AB-2")}


@pytest.mark.parametrize("started", [None, 1_700_000_000_000])
@pytest.mark.parametrize("capture", [("no", False), ("all", True)], ids=["plain", "captured"])
def test_the_journal_lines_are_those_of_the_runs(
    started: int | None, capture: tuple[str, bool]
) -> None:
    mode, passed = capture
    lines, runs = (
        ResultCollector(module="m", jira_keys=KEYS, capture=mode, capture_passed=passed)
        for _ in range(2)
    )
    collect_error = pytest.CollectReport(
        "tests/test_c.py", "failed", "E   ModuleNotFoundError: No module named 'x'", [], start=190.0
    )
    for collector in (lines, runs):
        for report in SESSION:
            collector.add_report(report)
        collector.add_collect_report(collect_error)
    made = runs.take_runs()
    if started is not None:
        made = [replace(run, started_ms=started) for run in made]
    taken = lines.take_lines(started)
    assert taken == [(run.status, run_line(run)) for run in made]
    assert not lines.has_runs and lines.take_lines() == []
    statuses = {status for status, _ in taken}
    assert statuses == {RunStatus.PASSED, RunStatus.FAILED, RunStatus.SKIPPED}
