"""The collector reads the reports every supported pytest and pytest-rerunfailures send.

pytest-rerunfailures before 16.7 logs no teardown for an attempt it reruns (its "rerun"
report is that attempt's last); 16.7 logs the attempt's remaining reports after it. pytest 7.4
writes ``reason: `` before the reason of ``pytest.xfail()``; pytest 8 does not. The tox matrix
runs the end-to-end tests on one version of each; these cases feed both forms to every version.
"""

from __future__ import annotations

from typing import Literal

import pytest

from pytest_octane.model import RunStatus
from pytest_octane.plugin.collect import ResultCollector

NODEID = "test_flaky.py::test_flaky"
Outcome = Literal["passed", "failed", "skipped"]
When = Literal["setup", "call", "teardown"]


def _report(when: When, outcome: str, start: float, **extra: object) -> pytest.TestReport:
    longrepr = "test_flaky.py:3: ValueError" if outcome in ("failed", "rerun") else None
    report = pytest.TestReport(
        nodeid=NODEID,
        location=("test_flaky.py", 2, "test_flaky"),
        keywords={},
        outcome="failed" if outcome == "rerun" else outcome,  # type: ignore[arg-type]
        longrepr=longrepr,
        when=when,
        duration=0.5,
        start=start,
        stop=start + 0.5,
        **extra,
    )
    report.outcome = outcome  # type: ignore[assignment]  # what pytest-rerunfailures does
    return report


def _attempt(start: float, call: str, *, teardown: bool = True) -> list[pytest.TestReport]:
    reports = [_report("setup", "passed", start), _report("call", call, start + 1)]
    if teardown:
        reports.append(_report("teardown", "passed", start + 2))
    return reports


@pytest.mark.parametrize(
    "rerun_teardown", [False, True], ids=["rerunfailures<16.7", "rerunfailures>=16.7"]
)
def test_only_the_final_attempt_of_a_rerun_test_counts(rerun_teardown: bool) -> None:
    collector = ResultCollector()
    reports = [
        *_attempt(100.0, "rerun", teardown=rerun_teardown),
        *_attempt(200.0, "rerun", teardown=rerun_teardown),
        *_attempt(300.0, "passed"),
    ]
    for report in reports:
        collector.add_report(report)
    assert len(collector.runs) == 1
    run = collector.runs[0]
    assert run.status is RunStatus.PASSED
    assert run.error is None
    assert run.started_ms == 300_000  # the final attempt's own start and duration
    assert run.duration_ms == 1500


@pytest.mark.parametrize("rerun_teardown", [False, True])
def test_a_test_that_fails_every_attempt_is_one_failed_run(rerun_teardown: bool) -> None:
    collector = ResultCollector()
    for report in [
        *_attempt(100.0, "rerun", teardown=rerun_teardown),
        *_attempt(200.0, "failed"),
    ]:
        collector.add_report(report)
    assert [(run.status, run.started_ms) for run in collector.runs] == [(RunStatus.FAILED, 200_000)]


@pytest.mark.parametrize("wasxfail", ["reason: known to break", "known to break"])
def test_the_reason_of_pytest_xfail_reads_the_same_on_pytest_7_and_8(wasxfail: str) -> None:
    collector = ResultCollector()
    collector.add_report(_report("setup", "passed", 1.0))
    collector.add_report(_report("call", "skipped", 2.0, wasxfail=wasxfail))
    collector.add_report(_report("teardown", "passed", 3.0))
    assert collector.runs[0].status is RunStatus.SKIPPED
    assert collector.runs[0].description == "xfail: known to break"


def test_runs_are_made_when_asked_for_in_the_order_their_items_finished() -> None:
    """Issue 28: a dry run makes its runs at the session's end (``runs``), an upload takes
    each as it finishes (``take_runs``); both see the same runs in the same order."""
    first, second = ResultCollector(), ResultCollector()
    for start in (100.0, 200.0):
        for report in _attempt(start, "passed"):
            first.add_report(report)
            second.add_report(report)
    taken = second.take_runs()
    assert not second.has_runs and second.runs == []
    assert first.has_runs and [r.started_ms for r in first.runs] == [100_000, 200_000]
    assert first.runs == taken and first.runs is first.runs  # made once, kept
