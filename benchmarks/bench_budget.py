"""Benchmark: four runners sharing one space's queue, with and without ``--octane-queue-budget``.

Four real processes upload at once (``maxParallelUploads`` 4 each, so 16 wanted in flight)
into a simulator whose queue holds 6 tasks, sharing one SQLite task store. Without a budget
they meet queue-full answers and wait; with ``--octane-queue-budget=6`` they take turns.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_common import Row, fmt_s

from pytest_octane.simulator import Simulator

RUNNERS = 4
QUEUE_LIMIT = 6
PARALLEL = 4
TIMEOUT_S = 600.0

_WORKER = r"""
import json, os, sys, time
from pytest_octane.model import RunStatus, TestRun
from pytest_octane.settings import resolve_settings
from pytest_octane.job.engine import upload_session

cli, go, name, runs = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
deadline = time.monotonic() + 120
while not os.path.exists(go):
    if time.monotonic() > deadline:
        sys.exit("no start signal")
    time.sleep(0.005)
tests = [TestRun(nodeid=f"t_{name}.py::test_{i}", module="", package="", klass=f"t_{name}",
                 name=f"test_{i}", status=RunStatus.PASSED, duration_ms=1,
                 started_ms=int(time.time() * 1000)) for i in range(runs)]
outcome = upload_session(resolve_settings(cli=cli, environ={}, ini={}), tests)
print(json.dumps({"ok": outcome.ok}))
"""


@dataclass(slots=True)
class BudgetResult:
    rows: list[Row]
    detail: list[str]


def _one(budget: int | None, slices: int, per_slice: int, processing_ms: int) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="octane-bench-budget-") as tmp,
        Simulator(queue_limit=QUEUE_LIMIT, processing_ms=processing_ms) as sim,
    ):
        root = Path(tmp)
        env = dict(
            os.environ, OCTANE_CLIENT_ID=sim.client_id, OCTANE_CLIENT_SECRET=sim.client_secret
        )
        go = root / "go"
        procs = []
        for i in range(RUNNERS):
            cli: dict[str, Any] = {
                "space": str(sim.space_id), "url": sim.url, "workspace": str(sim.workspace_id),
                "task_store": f"sqlite:///{root / 'tasks.db'}", "spool_dir": str(root / f"s{i}"),
                "module_mode": "off", "slice_size": str(per_slice),
                "max_parallel": str(PARALLEL), "queue_full_retry": "0.5",
            }  # fmt: skip
            if budget is not None:
                cli["queue_budget"] = str(budget)
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-c",
                        _WORKER,
                        json.dumps(cli),
                        str(go),
                        f"r{i}",
                        str(slices * per_slice),
                    ],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=env,
                )
            )
        time.sleep(1.0)
        started = time.perf_counter()
        go.touch()
        ok = True
        for proc in procs:
            out, _err = proc.communicate(timeout=TIMEOUT_S)
            ok = ok and proc.returncode == 0 and '"ok": true' in out
        wall = time.perf_counter() - started
        counters = sim.counters
        return {
            "ok": ok,
            "wall_s": wall,
            "queue_full": counters["queue_full_rejections"],
            "max_in_flight": counters["max_in_flight"],
            "runs": counters["runs_stored"],
            "duplicates": counters["duplicate_runs"],
            "expected": RUNNERS * slices * per_slice,
        }


def run_budget(*, quick: bool, log: Callable[[str], None]) -> BudgetResult:
    slices, per_slice, processing_ms = (6, 50, 150) if quick else (12, 250, 400)
    without = _one(None, slices, per_slice, processing_ms)
    log(f"  without budget: {without}")
    with_budget = _one(QUEUE_LIMIT, slices, per_slice, processing_ms)
    log(f"  budget {QUEUE_LIMIT}: {with_budget}")
    every_run_once = all(
        r["ok"] and r["runs"] == r["expected"] and r["duplicates"] == 0
        for r in (without, with_budget)
    )
    what = f"{RUNNERS} runners x P={PARALLEL}, queue limit {QUEUE_LIMIT}"
    rows = [
        Row(
            f"queue-full answers, {what}: without budget -> budget {QUEUE_LIMIT}",
            f"{without['queue_full']} -> {with_budget['queue_full']}",
            "0 with the budget",
            with_budget["queue_full"] == 0,
        ),
        Row(
            f"most tasks queued at once, {what}, budget {QUEUE_LIMIT}",
            str(with_budget["max_in_flight"]),
            f"<= {QUEUE_LIMIT}",
            with_budget["max_in_flight"] <= QUEUE_LIMIT,
        ),
        Row(
            f"wall time, {what}: without budget -> budget {QUEUE_LIMIT}",
            f"{fmt_s(without['wall_s'])} -> {fmt_s(with_budget['wall_s'])}",
        ),
        Row(
            f"every run once, {what} (both variants)",
            "yes" if every_run_once else "no",
            "yes",
            every_run_once,
        ),
    ]
    detail = [
        f"budget scenario: {RUNNERS} runners, {slices} slices of {per_slice}, "
        f"{processing_ms} ms per task; without: {without}; with budget: {with_budget}"
    ]
    return BudgetResult(rows, detail)
