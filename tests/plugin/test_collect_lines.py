"""An upload journals each result as its line, made straight from its reports when the run is
plain (issue 28): read back, the lines must be the runs a dry run makes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pytest_octane.job.journal import JournalWriter, read_journal
from pytest_octane.model import RunStatus, TestRun
from pytest_octane.octane.results_xml import reported_run_xml, run_xml
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


def _read_back(tmp_path: Path, lines: list[bytes]) -> list[TestRun]:
    writer = JournalWriter(tmp_path / "journal.jsonl", "job-1", module="m")
    for line in lines:
        writer.add_line(line)
    writer.end(0)
    return read_journal(tmp_path / "journal.jsonl").runs


@pytest.mark.parametrize("started", [None, 1_700_000_000_000])
@pytest.mark.parametrize("capture", [("no", False), ("all", True)], ids=["plain", "captured"])
@pytest.mark.parametrize("sink", [False, True], ids=["taken", "sink"])
def test_the_journal_lines_are_the_runs(
    tmp_path: Path, started: int | None, capture: tuple[str, bool], sink: bool
) -> None:
    """Taken at once (``take_lines``) or each as its teardown is reported (``journal_plain``),
    the lines read back are the runs ``take_runs`` makes, in the order they finished."""
    mode, passed = capture
    lines, runs = (
        ResultCollector(module="m", jira_keys=KEYS, capture=mode, capture_passed=passed)
        for _ in range(2)
    )
    given: list[tuple[RunStatus, bytes]] = []
    if sink:
        lines.journal_plain(lambda line, status: given.append((status, line)), started_ms=started)
    collect_error = pytest.CollectReport(
        "tests/test_c.py", "failed", "E   ModuleNotFoundError: No module named 'x'", [], start=190.0
    )
    for collector in (lines, runs):
        for report in SESSION:
            finished = collector.add_report(report)
            assert finished == (report.when == "teardown" and collector.has_runs)
            if sink and collector is lines and finished:  # the reporter takes each at once
                given.extend(lines.take_lines(started))
        collector.add_collect_report(collect_error)
    given.extend(lines.take_lines(started))
    made = runs.take_runs()
    if started is not None:
        made = [replace(run, started_ms=started) for run in made]
    assert _read_back(tmp_path, [line for _, line in given]) == made
    assert [status for status, _ in given] == [run.status for run in made]
    assert not lines.has_runs and lines.take_lines() == []
    assert b'{"test":' in given[0][1]  # the plain kind is there, and the generic one too
    assert any(line.startswith(b'{"run":') for _, line in given)


@pytest.mark.parametrize("started", [None, 1_700_000_000_000])
@pytest.mark.parametrize("capture", [("no", False), ("all", True)], ids=["plain", "captured"])
def test_a_dry_run_writes_the_elements_of_the_runs(
    started: int | None, capture: tuple[str, bool]
) -> None:
    """A dry run writes a plain result's element from its fields: the text ``run_xml`` writes
    for the run ``take_runs`` makes (odd characters, keys and skip reasons included)."""
    mode, passed = capture
    fields, runs = (
        ResultCollector(module="m", jira_keys=KEYS, capture=mode, capture_passed=passed)
        for _ in range(2)
    )
    for collector in (fields, runs):
        for report in SESSION:
            collector.add_report(report)
    made = runs.take_runs()
    if started is not None:
        made = [replace(run, started_ms=started) for run in made]
    results = fields.take_results(started)
    plain = [result for result in results if not isinstance(result, TestRun)]
    assert 4 <= len(plain) < len(results)  # both kinds are here
    texts = [
        run_xml(result, None, 30)
        if isinstance(result, TestRun)
        else reported_run_xml("m", result, 30)
        for result in results
    ]
    assert texts == [run_xml(run, None, 30) for run in made]
    assert [
        result.jira_keys if isinstance(result, TestRun) else result[5] for result in results
    ] == [run.jira_keys for run in made]
    assert not fields.has_runs and fields.take_results() == []


def test_a_dry_run_writes_the_same_bytes_with_or_without_a_hook(pytester: pytest.Pytester) -> None:
    """A ``pytest_octane_modify_run`` hook makes the dry run make every run first; a hook that
    changes nothing must not change a byte of what is written."""
    pytester.makeconftest(
        """
        import pytest

        @pytest.hookimpl(wrapper=True)
        def pytest_runtest_makereport(item, call):
            report = yield
            report.start, report.stop, report.duration = 1_700_000_000.5, 1_700_000_000.75, 0.25
            return report
        """
    )
    pytester.makepyfile(
        test_mixed="""
        import pytest

        pytestmark = pytest.mark.jira("QZ-1")

        @pytest.mark.parametrize("value", ["a", 'q"<&>', "\\u00e9"])
        def test_passes(value):
            pass

        def test_fails():
            assert 1 == 2

        @pytest.mark.skip(reason="not <here> & now")
        def test_skipped():
            pass

        @pytest.mark.xfail(reason="known")
        def test_xfails():
            assert False

        class TestGroup:
            @pytest.mark.jira("QZ-2")
            def test_in_class(self):
                print("noise")
        """
    )
    written = {}
    for name in ("plain", "hooked"):
        if name == "hooked":
            pytester.makepyfile(
                octane_noop_hook="def pytest_octane_modify_run(run):\n    return run\n"
            )
            pytester.syspathinsert()
        out = pytester.path / name
        extra = ["-p", "octane_noop_hook"] if name == "hooked" else []
        result = pytester.runpytest(f"--octane-dry-run={out}", "--octane-slice-size=3", *extra)
        result.assert_outcomes(passed=4, failed=1, skipped=1, xfailed=1)
        written[name] = {path.name: path.read_bytes() for path in sorted(out.iterdir())}
    assert written["plain"] == written["hooked"]
    assert sorted(written["plain"]) == [
        "jira-keys.json",
        "slice-0001.xml",
        "slice-0002.xml",
        "slice-0003.xml",
    ]
