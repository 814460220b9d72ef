"""Benchmarks 3 and 4: upload efficiency against the queue-bound optimum, and request counts.

Each scenario starts its own simulator with processing time ``L`` per task and queue limit
``Q`` and uploads ``N`` slices through ``upload_session`` with ``maxParallelUploads`` ``P``.
The makespan is read from the simulator's request log: from the start of the first
``POST /test-results`` to the end of the last ``GET /test-results/{id}``.
"""

from __future__ import annotations

import math
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench_common import Row, fmt_s

from pytest_octane.job.engine import upload_session
from pytest_octane.job.run.links import KEYS_PER_QUERY
from pytest_octane.model import RunStatus, TestRun
from pytest_octane.settings import resolve_settings
from pytest_octane.simulator import RequestRecord, Simulator

_POST = re.compile(r"/test-results$")
_POLL = re.compile(r"/test-results/\d+$")


def make_runs(slices: int, per_slice: int, keys: Sequence[str] = ()) -> list[TestRun]:
    """``slices * per_slice`` passed runs with unique names; ``keys`` are handed out one
    per run, round robin."""
    runs = []
    for i in range(slices * per_slice):
        runs.append(
            TestRun(
                nodeid=f"tests/test_up{i // per_slice}.py::test_case[{i}]",
                module="",
                package="tests",
                klass=f"test_up{i // per_slice}",
                name=f"test_case[{i}]",
                status=RunStatus.PASSED,
                duration_ms=5,
                started_ms=1_750_000_000_000 + i,
                jira_keys=(keys[i % len(keys)],) if keys else (),
            )
        )
    return runs


@dataclass(slots=True)
class Scenario:
    slices: int
    per_slice: int
    processing_ms: int
    queue_limit: int
    parallel: int
    queue_full_retry: float = 10.0
    keys: Sequence[str] = ()
    workers: int = 1  # tasks the server processes at once


@dataclass(slots=True)
class ScenarioResult:
    scenario: Scenario
    ok: bool
    error: str | None
    wall_s: float
    makespan_s: float
    max_in_flight: int
    rejections_503: int
    posts: int
    polls: int
    runs_stored: int
    unique_runs: int
    counters: dict[str, Any] = field(default_factory=dict)

    @property
    def optimum_s(self) -> float:
        s = self.scenario
        return math.ceil(s.slices / s.parallel) * s.processing_ms / 1000

    @property
    def server_bound_s(self) -> float:
        """What a server processing ``workers`` tasks at a time allows, at best."""
        s = self.scenario
        return math.ceil(s.slices / min(s.parallel, s.workers)) * s.processing_ms / 1000


def _start(record: RequestRecord) -> float:
    return record.time - record.duration_ms / 1000


def run_scenario(scenario: Scenario, root: Path) -> ScenarioResult:
    sim = Simulator(
        processing_ms=scenario.processing_ms,
        queue_limit=scenario.queue_limit,
        stories=list(scenario.keys),
        processing_workers=scenario.workers,
    )
    with sim:
        cli = {
            "space": sim.space_id,
            "url": sim.url,
            "workspace": sim.workspace_id,
            "slice_size": scenario.per_slice,
            "max_parallel": scenario.parallel,
            "queue_full_retry": scenario.queue_full_retry,
            "queue_full_deadline": 120.0,
            "poll_timeout": 120.0,
            "task_store": root / "store",
            "spool_dir": root / "spool",
            "build_server_id": "bench",
            "build_job_id": "upload",
            "build_id": "1",
        }
        settings = resolve_settings(
            cli={name: str(value) for name, value in cli.items()}, environ={}, ini={}
        )
        runs = make_runs(scenario.slices, scenario.per_slice, scenario.keys)
        credentials = {"client_id": sim.client_id, "client_secret": sim.client_secret}
        started = time.perf_counter()
        outcome = upload_session(settings, runs, hook=lambda: credentials)
        wall = time.perf_counter() - started
        log = sim.request_log
        counters = sim.counters
        stored = sim.runs()
        errors = list(sim.internal_errors)
    posts = [r for r in log if r.method == "POST" and _POST.search(r.path)]
    polls = [r for r in log if r.method == "GET" and _POLL.search(r.path)]
    makespan = 0.0
    if posts and polls:
        makespan = max(r.time for r in polls) - min(_start(r) for r in posts)
    identities = {(r["package"], r["class"], r["name"]) for r in stored}
    error = outcome.error_text or (errors[0] if errors else None)
    return ScenarioResult(
        scenario=scenario,
        ok=outcome.ok and not errors,
        error=error,
        wall_s=wall,
        makespan_s=makespan,
        max_in_flight=int(counters["max_in_flight"]),
        rejections_503=sum(1 for r in posts if r.status == 503),
        posts=len(posts),
        polls=len(polls),
        runs_stored=len(stored),
        unique_runs=len(identities),
        counters=counters,
    )


@dataclass(slots=True)
class UploadResult:
    rows: list[Row]
    detail: list[str]


def _describe(s: Scenario) -> str:
    return (
        f"N={s.slices} L={s.processing_ms}ms Q={s.queue_limit} P={s.parallel} "
        f"server workers={s.workers}"
    )


def run_upload(*, quick: bool, log: Callable[[str], None]) -> UploadResult:
    rows: list[Row] = []
    detail: list[str] = []
    if quick:
        fit = Scenario(
            slices=10, per_slice=10, processing_ms=300, queue_limit=50, parallel=5, workers=5
        )
        over = Scenario(
            slices=6, per_slice=10, processing_ms=100, queue_limit=3, parallel=5,
            queue_full_retry=0.2, workers=3,
        )  # fmt: skip
    else:
        fit = Scenario(
            slices=20, per_slice=50, processing_ms=1000, queue_limit=50, parallel=5, workers=5
        )
        over = Scenario(
            slices=12, per_slice=50, processing_ms=300, queue_limit=3, parallel=5,
            queue_full_retry=0.2, workers=3,
        )  # fmt: skip
    serial = replace(fit, workers=1, slices=min(fit.slices, 10))
    with tempfile.TemporaryDirectory(prefix="octane-bench-upload-") as tmp:
        a = run_scenario(fit, Path(tmp) / "fit")
        log(f"  {_describe(fit)}: makespan {a.makespan_s:.2f}s, wall {a.wall_s:.2f}s")
        c = run_scenario(serial, Path(tmp) / "serial")
        log(f"  {_describe(serial)}: makespan {c.makespan_s:.2f}s, wall {c.wall_s:.2f}s")
        b = run_scenario(over, Path(tmp) / "over")
        log(f"  {_describe(over)}: makespan {b.makespan_s:.2f}s, 503s {b.rejections_503}")
    for result in (a, b, c):
        if not result.ok:
            detail.append(f"{_describe(result.scenario)}: upload not ok: {result.error}")
    expected_a = fit.slices * fit.per_slice
    efficiency = a.optimum_s / a.makespan_s if a.makespan_s else 0.0
    serial_eff = c.server_bound_s / c.makespan_s if c.makespan_s else 0.0
    rows += [
        Row(
            f"upload {_describe(fit)}: makespan vs ceil(N/P)*L",
            f"{fmt_s(a.makespan_s)} vs {fmt_s(a.optimum_s)}: efficiency {efficiency:.2f}",
            ">= 0.90",
            a.ok and efficiency >= 0.90,
        ),
        Row(
            f"upload {_describe(fit)}: most tasks in flight",
            str(a.max_in_flight),
            f"<= P={fit.parallel}",
            a.max_in_flight <= fit.parallel,
        ),
        Row(
            f"upload {_describe(fit)}: 503s seen (P <= Q)",
            str(a.rejections_503),
            "0",
            a.rejections_503 == 0,
        ),
        Row(
            f"upload {_describe(fit)}: runs stored once, job ok",
            f"{a.unique_runs}/{a.runs_stored} of {expected_a}, ok={a.ok}",
            f"{expected_a}/{expected_a}, ok=True",
            a.ok and a.unique_runs == a.runs_stored == expected_a,
        ),
        Row(f"upload {_describe(fit)}: polls per slice", f"{a.polls / fit.slices:.1f}"),
        Row(
            f"upload {_describe(serial)}: makespan vs N*L (bundled simulator as is)",
            f"{fmt_s(c.makespan_s)} vs {fmt_s(c.server_bound_s)}: efficiency {serial_eff:.2f}",
        ),
    ]
    expected_b = over.slices * over.per_slice
    rows += [
        Row(
            f"upload P>Q {_describe(over)}: 503 queue full seen, then recovered",
            f"{b.rejections_503} x 503; {b.unique_runs}/{b.runs_stored} runs of {expected_b}, "
            f"ok={b.ok}",
            f"all {expected_b} runs once, ok=True",
            b.ok and b.unique_runs == b.runs_stored == expected_b,
        ),
        Row(
            f"upload P>Q {_describe(over)}: most tasks in flight",
            str(b.max_in_flight),
            f"<= Q={over.queue_limit}",
            b.max_in_flight <= over.queue_limit,
        ),
    ]
    for name, r in (("fit", a), ("serial", c), ("P>Q", b)):
        detail.append(
            f"upload {name} {_describe(r.scenario)}: wall {r.wall_s:.2f}s, makespan "
            f"{r.makespan_s:.2f}s, posts {r.posts}, polls {r.polls}, "
            f"requests {r.counters.get('requests_per_endpoint')}"
        )
    return UploadResult(rows, detail)


def run_requests(*, keys: int, log: Callable[[str], None]) -> UploadResult:
    """Benchmark 4: story queries for ``keys`` unique JIRA keys, and polls per slice."""
    jira = [f"PROJ-{i}" for i in range(1, keys + 1)]
    per_slice = 1000
    slices = -(-keys // per_slice)
    scenario = Scenario(
        slices=slices,
        per_slice=per_slice,
        processing_ms=100,
        queue_limit=50,
        parallel=5,
        keys=jira,
    )
    with tempfile.TemporaryDirectory(prefix="octane-bench-requests-") as tmp:
        result = run_scenario(scenario, Path(tmp))
    per_endpoint: dict[str, int] = result.counters.get("requests_per_endpoint", {})
    story_queries = per_endpoint.get("GET /stories", 0)
    goal = math.ceil(keys / KEYS_PER_QUERY) + 1
    log(f"  {keys} keys: {story_queries} story queries, {result.polls} polls")
    rows = [
        Row(
            f"requests: story queries for {keys:,} unique JIRA keys",
            str(story_queries),
            f"<= ceil({keys}/{KEYS_PER_QUERY})+1 = {goal}",
            result.ok and 0 < story_queries <= goal,
        ),
        Row(
            f"requests: polls per slice ({slices} slices of {per_slice}, L=100ms)",
            f"{result.polls / slices:.1f}",
        ),
        Row(
            "requests: sign-ins per upload",
            str(result.counters.get("sign_ins")),
            "1",
            result.counters.get("sign_ins") == 1,
        ),
    ]
    detail = [f"requests per endpoint ({keys} keys): {per_endpoint}"]
    if not result.ok:
        detail.append(f"requests scenario: upload not ok: {result.error}")
    return UploadResult(rows, detail)
