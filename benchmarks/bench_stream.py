"""Streaming uploads: the time from the last test's end to the end of the session.

A suite of N tests of 3 ms runs against the simulator (1.5 s of processing a slice, slices
of 250, two uploads in parallel, and a simulator that processes two tasks at once, as
Octane's workers do) with ``--octane-stream=off`` (everything is sent after the
last test) and ``--octane-stream=on`` (slices are sent while the tests run).  The goal of
issue 13: with streaming, the session ends within 5 s of its last test at 3,000 tests.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench_common import Row, clean_env, fmt_ratio, fmt_s

from pytest_octane.simulator import Simulator

SUITE = """
import time

import pytest


@pytest.mark.parametrize("n", range({tests}))
def test_work(n):
    time.sleep(0.003)
    if n == {tests} - 1:
        with open("last-test-ended", "w") as fh:
            fh.write(repr(time.time()))
"""
PROCESSING_MS = 1500
SLICE = 250
PARALLEL = 2
GOAL_S = 5.0


@dataclass(frozen=True, slots=True)
class StreamResult:
    rows: list[Row]
    detail: list[str]


def _session(tests: int, stream: str, root: Path) -> tuple[float, float, int]:
    """(seconds from the last test's end to the session's end, whole session, runs)."""
    with Simulator(processing_ms=PROCESSING_MS, processing_workers=PARALLEL) as sim:
        folder = root / f"{stream}-{tests}"
        folder.mkdir()
        (folder / "test_work.py").write_text(textwrap.dedent(SUITE.format(tests=tests)))
        env = clean_env(OCTANE_CLIENT_ID=sim.client_id, OCTANE_CLIENT_SECRET=sim.client_secret)
        started = time.time()
        done = subprocess.run(
            [sys.executable, "-m", "pytest", str(folder), "-q", "-p", "no:cacheprovider",
             "-p", "no:xdist", "-p", "no:randomly", f"--octane-space={sim.space_id}",
             f"--octane-url={sim.url}", f"--octane-workspace={sim.workspace_id}",
             f"--octane-task-store={folder / 'store'}", f"--octane-spool-dir={folder / 'spool'}",
             f"--octane-slice-size={SLICE}", f"--octane-max-parallel={PARALLEL}",
             f"--octane-stream={stream}"],
            cwd=folder, env=env, capture_output=True, text=True, timeout=1800, check=False,
        )  # fmt: skip
        ended = time.time()
        if done.returncode != 0:
            raise RuntimeError(f"pytest exited {done.returncode}: {done.stdout[-2000:]}")
        last = float((folder / "last-test-ended").read_text())
        runs = len(sim.runs())
        if runs != tests or sim.counters["duplicate_runs"]:
            raise RuntimeError(f"{runs} runs arrived of {tests}")
        return ended - last, ended - started, sim.counters["max_in_flight"]


def run_stream(*, quick: bool, log: Callable[[str], None]) -> StreamResult:
    rows: list[Row] = []
    detail: list[str] = []
    sizes = (3000,) if quick else (3000, 30_000)
    with tempfile.TemporaryDirectory(prefix="octane-bench-stream-") as tmp:
        for tests in sizes:
            after: dict[str, float] = {}
            for stream in ("off", "on"):
                tail, whole, in_flight = _session(tests, stream, Path(tmp))
                after[stream] = tail
                log(f"  {tests} tests, stream {stream}: {tail:.2f} s after the last test")
                detail.append(
                    f"stream {stream}, {tests} tests: {fmt_s(tail)} after the last test, "
                    f"session {fmt_s(whole)}, at most {in_flight} tasks in flight"
                )
                met = in_flight <= PARALLEL
                rows.append(
                    Row(
                        f"stream {stream}: {tests} tests, tasks in flight",
                        str(in_flight),
                        f"<= {PARALLEL}",
                        met,
                    )
                )
            goal = f"<= {GOAL_S:g} s" if tests == 3000 else "-"
            rows.append(
                Row(
                    f"stream on: {tests} tests, last test to session end",
                    fmt_s(after["on"]),
                    goal,
                    after["on"] <= GOAL_S if tests == 3000 else None,
                )
            )
            rows.append(
                Row(f"stream off: {tests} tests, last test to session end", fmt_s(after["off"]))
            )
            rows.append(Row(f"stream on/off: {tests} tests", fmt_ratio(after["on"] / after["off"])))
    return StreamResult(rows, detail)
