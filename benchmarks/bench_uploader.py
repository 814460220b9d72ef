"""Benchmark: the upload in a process of its own (issue 22), before and after, in one run.

* overhead: bare pytest, the dry run and an upload to the simulator, each of this checkout
  and of a baseline git ref (``main`` by default: its ``pytest_octane`` is exported to a
  temporary folder and put first on ``PYTHONPATH``), alternating within each round and paired
  with the bare run of the same round (see bench_overhead).  CPU time is that of pytest and
  every process it waited for, the uploader process included.
* start-up: from spawning the uploader process to its "ready" (the job recorded), against the
  start of a bare ``python -c pass``.
* memory (``--memory``): the peak resident set of a 100,000-test session without the plugin,
  with the dry run and with an upload, for both checkouts (the largest process of the run:
  pytest or its uploader).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench_common import REPO, Row, clean_env, fmt_ratio, fmt_s, median, paired_ratios
from bench_overhead import (
    BARE,
    Variant,
    _dry_written,
    _run_once,
    alternate_rounds,
    make_suite,
    module_count,
)

from pytest_octane.simulator import Simulator


@dataclass(slots=True)
class UploaderResult:
    rows: list[Row]
    detail: list[str]


def export(ref: str, into: Path) -> Path:
    """``ref``'s pytest_octane package, as a folder to put on PYTHONPATH."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", ref, "pytest_octane"],
        check=True,
        capture_output=True,
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def _variants(sim: Simulator, scratch: Path, baseline: Path, ref: str) -> list[Variant]:
    counter = iter(range(1_000_000))
    creds = {"OCTANE_CLIENT_ID": sim.client_id, "OCTANE_CLIENT_SECRET": sim.client_secret}

    def upload_args(s: Path) -> list[str]:
        run = scratch / f"upload-{next(counter)}"
        return [
            f"--octane-space={sim.space_id}", f"--octane-url={sim.url}",
            f"--octane-workspace={sim.workspace_id}", f"--octane-task-store={run / 'store'}",
            f"--octane-spool-dir={run / 'spool'}", "--octane-strict",
        ]  # fmt: skip

    def dry_args(s: Path) -> list[str]:
        return [f"--octane-dry-run={s / 'dry'}"]

    old = {"PYTHONPATH": str(baseline)}
    return [
        Variant(BARE, lambda s: []),
        Variant("junitxml", lambda s: [f"--junitxml={s / 'junit.xml'}"]),
        Variant(f"dry run ({ref})", dry_args, old, _dry_written),
        Variant("dry run (this branch)", dry_args, {}, _dry_written),
        Variant(f"upload ({ref})", upload_args, {**creds, **old}),
        Variant("upload (this branch)", upload_args, dict(creds)),
    ]


def run_uploader(
    *, tests: int, rounds: int, ref: str, memory: bool, log: Callable[[str], None]
) -> UploaderResult:
    rows: list[Row] = []
    detail: list[str] = []
    load_before = os.getloadavg()[0]  # the machine is shared: the load says how quiet it was
    with tempfile.TemporaryDirectory(prefix="octane-bench-uploader-") as tmp:
        root = Path(tmp)
        baseline = export(ref, root / "baseline")
        suite = make_suite(root, tests)
        scratch = root / "scratch"
        scratch.mkdir()
        keys = [f"BENCH-{i}" for i in range(1, module_count(tests) + 1)]
        with Simulator(stories=keys, processing_ms=0) as sim:
            variants = _variants(sim, scratch, baseline, ref)
            timeout = max(120.0, tests / 20)
            for variant in variants:  # warm-up, not counted
                _, _, problem = _run_once(variant, suite, scratch, timeout)
                if problem:
                    raise RuntimeError(f"{variant.name}: {problem}")
            alternate_rounds(variants, suite, scratch, rounds=rounds, timeout=timeout, log=log)
            stored, expected = sim.counters["runs_stored"], 2 * tests * (rounds + 1)
            rows.append(Row("uploader: runs stored by both upload variants", str(stored),
                            f"== {expected}", stored == expected))  # fmt: skip
            bare, junit = variants[0], variants[1]
            junit_wall = median(paired_ratios(junit.wall, bare.wall))
            for variant in variants[1:]:
                wall = median(paired_ratios(variant.wall, bare.wall))
                cpu = median(paired_ratios(variant.cpu, bare.cpu))
                # issue 28: this checkout's dry run and upload at most 1.03x bare (wall, the
                # median of paired runs) and below --junitxml in the same run
                judged = variant.name.endswith("(this branch)")
                rows.append(
                    Row(
                        f"uploader: {tests} tests, {variant.name} vs bare, median wall / CPU",
                        f"{fmt_ratio(wall)} / {fmt_ratio(cpu)} "
                        f"({fmt_s(median(variant.wall))} vs {fmt_s(median(bare.wall))})",
                        "wall <= 1.03x and < junitxml" if judged else "measured",
                        wall <= 1.03 and wall < junit_wall if judged else True,
                    )
                )
            detail.append(
                "uploader overhead raw wall/CPU (s): "
                + "; ".join(
                    f"{v.name}: "
                    + ", ".join(f"{w:.2f}/{c:.2f}" for w, c in zip(v.wall, v.cpu, strict=True))
                    for v in variants
                )
            )
            uploads = [v for v in variants if v.name.startswith("upload")]
            rows += _phases([bare, *uploads], root, scratch, tests, timeout, log)
            rows += _import_time(baseline, ref, log)
            rows += _startup(sim, root, log)
            if memory:
                rows += _memory(sim, root, baseline, ref, log)
    load = f"{load_before:.2f} at the start, {os.getloadavg()[0]:.2f} at the end"
    rows.append(Row("uploader: load average (1 min) of the machine", load, "measured", True))
    return UploaderResult(rows, detail)


#: a conftest that writes down when collection ended, when the tests could start (after the
#: plugin's own ``pytest_runtestloop``, which waits for the uploader's "ready") and when the
#: session reached its end; the bench adds the process's exit
_PHASES_CONFTEST = """
import os, time
T = {}
def pytest_collection_finish(session): T["collected"] = time.time()
def pytest_runtestloop(session): T["tests"] = time.time()
def pytest_sessionfinish(session):
    T["finish"] = time.time()
    with open(os.environ["PHASES_OUT"], "w") as out: out.write(repr(T))
"""


def _phases(
    variants: list[Variant],
    root: Path,
    scratch: Path,
    tests: int,
    timeout: float,
    log: Callable[[str], None],
) -> list[Row]:
    """Where an upload's extra wall time goes: the wait at the end of collection and the
    session's end (from ``pytest_sessionfinish`` to the process's exit: the last slice, its
    task and the uploader's exit), 3 alternating rounds; medians in ms.  The suite has as
    many tests as the others (the simulator knows the stories of their modules only)."""
    suite = make_suite(root / "phases", tests)
    (suite / "conftest.py").write_text(_PHASES_CONFTEST, encoding="utf-8")
    out = root / "phases.txt"
    seen: dict[str, list[tuple[float, float]]] = {v.name: [] for v in variants}
    for _ in range(3):
        for variant in variants:
            probe = Variant(variant.name, variant.args, {**variant.env, "PHASES_OUT": str(out)})
            _, _, problem = _run_once(probe, suite, scratch, timeout)
            ended = time.time()
            if problem:
                raise RuntimeError(f"{variant.name}: {problem}")
            marks = ast.literal_eval(out.read_text(encoding="utf-8"))
            waited = marks["tests"] - marks["collected"]
            seen[variant.name].append((waited, ended - marks["finish"]))
    log(f"  phases (collection end -> tests, session end -> exit): {seen}")
    return [
        Row(
            f"uploader: {name}: wait at collection end / session end to exit, median of 3",
            f"{median([w for w, _ in v]) * 1e3:.0f} ms / {median([e for _, e in v]) * 1e3:.0f} ms",
            "measured",
            True,
        )
        for name, v in seen.items()
    ]


#: the plugin's import on top of an imported pytest, in seconds (what pytest's entry point costs)
_IMPORT_PROBE = (
    "import time, pytest; t = time.perf_counter(); import pytest_octane.plugin; "
    "print(time.perf_counter() - t)"
)


def _import_time(baseline: Path, ref: str, log: Callable[[str], None]) -> list[Row]:
    """``import pytest_octane.plugin`` after ``import pytest`` (median of 15 fresh
    interpreters, the two checkouts alternating); ``python -X importtime`` tells which
    module costs what."""
    times: dict[str, list[float]] = {ref: [], "this branch": []}
    pycache = baseline.parent / "pycache"  # bytecode cached, as users' runs have it
    envs = {
        ref: clean_env(pycache, PYTHONPATH=str(baseline)),
        "this branch": clean_env(pycache),
    }
    for round_no in range(16):  # the first round compiles the bytecode: not counted
        for name, env in envs.items():
            done = subprocess.run(
                [sys.executable, "-c", _IMPORT_PROBE], env=env, capture_output=True, check=True
            )
            if round_no:
                times[name].append(float(done.stdout.split()[-1]))
    log(
        "  import: "
        + ", ".join(f"{n} {[round(t * 1000, 1) for t in v]} ms" for n, v in times.items())
    )
    return [
        Row(
            f"uploader: import pytest_octane.plugin after pytest ({name}), median of 15",
            f"{median(v) * 1000:.1f} ms",
            "measured",
            True,
        )
        for name, v in times.items()
    ]


def _startup(sim: Simulator, root: Path, log: Callable[[str], None]) -> list[Row]:
    """Spawn to ready (job recorded), against a bare interpreter's start."""
    from pytest_octane.job.events import UploadState
    from pytest_octane.plugin.uploading import UploaderProcess
    from pytest_octane.settings import resolve_settings

    os.environ["OCTANE_CLIENT_ID"], os.environ["OCTANE_CLIENT_SECRET"] = (
        sim.client_id,
        sim.client_secret,
    )
    ready: list[float] = []
    bare: list[float] = []
    try:
        for n in range(10):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], check=True, env=clean_env())
            bare.append(time.perf_counter() - started)
            cli = {
                "space": str(sim.space_id), "url": sim.url, "workspace": str(sim.workspace_id),
                "task_store": str(root / f"start-{n}" / "store"),
                "spool_dir": str(root / f"start-{n}" / "spool"),
            }  # fmt: skip
            uploader = UploaderProcess(
                resolve_settings(cli=cli, environ={}, ini={}),
                hook=lambda: None,
                state=UploadState(),
                text=lambda line: None,
            )
            started = time.perf_counter()
            uploader.start()
            uploader.wait_ready()
            ready.append(time.perf_counter() - started)
            uploader.finish(0, announce=False)
    finally:
        del os.environ["OCTANE_CLIENT_ID"], os.environ["OCTANE_CLIENT_SECRET"]
    log(f"  start-up: ready {[round(r, 3) for r in ready]}, python -c pass {bare}")
    return [
        Row(
            "uploader: start-up, spawn to ready (job recorded), median of 10",
            f"{fmt_s(median(ready))} (python -c pass: {fmt_s(median(bare))})",
            "measured",
            True,
        )
    ]


def _peak_rss(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    """The largest resident set (MB) of the command's processes."""
    probe = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], "
        "stdout=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *command], cwd=cwd, env=env, capture_output=True, check=True
    )
    return int(done.stdout.split()[-1]) / 1024


def _memory(
    sim: Simulator, root: Path, baseline: Path, ref: str, log: Callable[[str], None]
) -> list[Row]:
    tests = 100_000
    suite = make_suite(root / "big", tests)
    creds = {"OCTANE_CLIENT_ID": sim.client_id, "OCTANE_CLIENT_SECRET": sim.client_secret}
    base = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-p", "no:randomly"]
    upload = [
        f"--octane-space={sim.space_id}", f"--octane-url={sim.url}",
        f"--octane-workspace={sim.workspace_id}", f"--octane-task-store={root / 'mem-store'}",
        f"--octane-spool-dir={root / 'mem-spool'}",
    ]  # fmt: skip
    cases = [
        ("no plugin (-p no:octane)", [*base, "-p", "no:octane"], {}),
        (f"upload ({ref})", [*base, *upload], {**creds, "PYTHONPATH": str(baseline)}),
        ("upload (this branch)", [*base, *upload], creds),
    ]
    rows = []
    for name, command, extra in cases:
        peak = _peak_rss(command, suite, clean_env(root / "pycache", **extra))
        log(f"  memory {name}: {peak:.0f} MB")
        rows.append(Row(f"uploader: {tests} tests, peak RSS, {name}", f"{peak:.0f} MB",
                        "measured", True))  # fmt: skip
    return rows
