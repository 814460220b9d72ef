"""Benchmark: a dry run's end, plain runs written from their fields or made run by run; and
the simulator's check and ingest of one slice as the uploader sends it (issue 28).

The two dry-run paths alternate in one process on the same 5,000 results (the reports a
session of trivial tests gives), compared on CPU time (``time.process_time``), and must write
the same bytes. The simulator's figures are absolute milliseconds of this machine (a test
double's speed, which the upload's end waits for), medians of the repetitions.

    python benchmarks/bench_plain_runs.py [--tests 5000] [--reps 9]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from bench_common import machine, median, now_text, paired_ratios

from pytest_octane.model import TestRun
from pytest_octane.octane.results_xml import (
    ResultHeader,
    RunRefs,
    reported_run_xml,
    run_xml,
    write_document,
    write_slices,
    write_text_slices,
)
from pytest_octane.octane.schema import parse, validate
from pytest_octane.plugin.collect import ResultCollector
from pytest_octane.simulator.ingest import ingest
from pytest_octane.simulator.state import SimConfig, SimState

SLICE_SIZE = 1000
MAX_TRACE = 20000
STORY, MODULE = 2001, 3001
HEADER = ResultHeader(test_fields=(("Testing_Tool_Type", "pytest"), ("Framework", "pytest")))


def session_reports(count: int) -> list[pytest.TestReport]:
    """Setup, call and teardown reports of ``count`` parametrized tests, every 50th skipped."""
    reports = []
    for i in range(count):
        nodeid = f"tests/test_bench_{i // 1000}.py::test_trivial[{i % 1000}]"
        skipped = i % 50 == 49
        for when in ("setup", "call", "teardown"):
            outcome = "skipped" if skipped and when == "call" else "passed"
            reports.append(
                pytest.TestReport(
                    nodeid=nodeid,
                    location=("x.py", 1, "test_trivial"),
                    keywords={},
                    outcome=outcome,  # type: ignore[arg-type]
                    longrepr=("x.py", 1, "Skipped: not here") if outcome == "skipped" else None,
                    when=when,  # type: ignore[arg-type]
                    duration=0.0003,
                    start=1_750_000_000.0 + i,
                    stop=1_750_000_000.0003 + i,
                )
            )
    return reports


def _collector(reports: Sequence[pytest.TestReport]) -> ResultCollector:
    keys = {report.nodeid: ("BENCH-1",) for report in reports}
    collector = ResultCollector(module="", jira_keys=keys)
    for report in reports:
        collector.add_report(report)
    return collector


def as_reported(collector: ResultCollector, folder: Path) -> None:
    """What a dry run does now: plain results written from their fields."""
    texts = [
        run_xml(result, None, MAX_TRACE)
        if isinstance(result, TestRun)
        else reported_run_xml("", result, MAX_TRACE)
        for result in collector.take_results()
    ]
    write_text_slices(folder, HEADER, texts, slice_size=SLICE_SIZE)


def run_by_run(collector: ResultCollector, folder: Path) -> None:
    """What it did before (and still does with a hook, links or scenarios): every run made."""
    write_slices(folder, HEADER, collector.take_runs(), slice_size=SLICE_SIZE)


def _cpu(fn: Callable[[], object]) -> float:
    started = time.process_time()
    fn()
    return time.process_time() - started


def dry_run_end(count: int, reps: int, scratch: Path) -> tuple[list[float], list[float]]:
    reports = session_reports(count)
    fast: list[float] = []
    slow: list[float] = []
    for rep in range(reps):
        for name, write, times in (("a", as_reported, fast), ("b", run_by_run, slow)):
            collector = _collector(reports)  # outside the timing: the session made it
            folder = scratch / f"{name}{rep}"
            times.append(_cpu(lambda: write(collector, folder)))  # noqa: B023
    for index in range(1, -(-count // SLICE_SIZE) + 1):
        name = f"slice-{index:04d}.xml"
        assert (scratch / "a0" / name).read_bytes() == (scratch / "b0" / name).read_bytes()
    return fast, slow


def uploaded_slice() -> bytes:
    """1,000 runs with a story and a module each: a slice as the uploader POSTs it."""
    reports = session_reports(SLICE_SIZE)
    runs = _collector(reports).take_runs()
    refs = RunRefs(backlog_item_ids=(STORY,), product_area_ids=(MODULE,))
    target = tempfile.SpooledTemporaryFile()
    write_document(target, HEADER, runs, refs=lambda run: refs)
    target.seek(0)
    return bytes(target.read())


def simulator(reps: int) -> tuple[list[float], list[float]]:
    payload = uploaded_slice()
    config = SimConfig(
        space_id=1, workspace_id=2, client_id="c", client_secret="s", user="u", password="p",
        jira_field="f", queue_limit=10, processing_ms=0, idle_timeout_s=None,
        max_page_size=100, default_limit=100, rotate_cookie_every=0, dedup_status=202,
    )  # fmt: skip
    checks: list[float] = []
    ingests: list[float] = []
    for _ in range(reps):
        checks.append(_cpu(lambda: validate(payload)))
        state = SimState(config, seed=1, clock=time.time)
        with state.lock:
            state.add_entity("work_item", {"name": "story"}, id_=STORY)
            state.add_entity("application_module", {"name": "module"}, id_=MODULE)
            task = state.new_task("digest", payload, False)
            started = time.process_time()
            status, details = ingest(state, task)
            ingests.append(time.process_time() - started)
        assert status == "success", details
    parse(payload)  # the payload is what the simulator accepts
    return checks, ingests


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=5000)
    parser.add_argument("--reps", type=int, default=9)
    args = parser.parse_args(argv)
    print(f"{now_text()} {machine()}")
    with tempfile.TemporaryDirectory() as scratch:
        fast, slow = dry_run_end(args.tests, args.reps, Path(scratch))
    ratio = median(paired_ratios(fast, slow))
    print(
        f"dry run's end, {args.tests} results, CPU: written from their fields "
        f"{1000 * median(fast):.1f} ms, run by run {1000 * median(slow):.1f} ms "
        f"(median of paired ratios {ratio:.2f}x, same bytes)"
    )
    checks, ingests = simulator(args.reps)
    print(
        f"simulator, one slice of {SLICE_SIZE} runs with a story and a module each, CPU: "
        f"validate {1000 * median(checks):.1f} ms, ingest {1000 * median(ingests):.1f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
