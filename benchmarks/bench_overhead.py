"""Benchmark 1: what pytest-octane costs a suite of trivial tests, against bare pytest.

Every variant runs the same generated suite in a fresh subprocess; the variants alternate
within each round (the order rotates from round to round) and each one is compared with the
bare run of its own round, so drifting machine load cancels out of the paired ratios.

Two clocks per run: wall time, and the CPU time (user + system) of the pytest process from
``getrusage(RUSAGE_CHILDREN)``.  On a shared, loaded machine wall time swings by tens of
percent between neighbouring runs, while CPU time counts only the work the process did; the
goals for work done in the pytest process (inactive plugin, dry run) are judged on CPU time,
the upload goal (which includes waiting for the server) on wall time.  Both are printed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bench_common import Row, clean_env, fmt_ratio, fmt_s, median, paired_ratios

if TYPE_CHECKING:
    from pytest_octane.simulator import Simulator

TEST_FILE = """\
import pytest

pytestmark = pytest.mark.jira("BENCH-{index}")


@pytest.mark.parametrize("i", range({count}))
def test_trivial(i):
    assert i >= 0
"""


def make_suite(folder: Path, tests: int, per_file: int = 1000) -> Path:
    """Write ``tests`` trivial parametrized tests, ``per_file`` to a module, with a JIRA key
    per module (so the upload variant maps keys like a real suite)."""
    suite = folder / "suite"
    suite.mkdir(parents=True, exist_ok=True)
    (suite / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    index = 0
    remaining = tests
    while remaining > 0:
        index += 1
        count = min(per_file, remaining)
        (suite / f"test_bench_{index}.py").write_text(
            TEST_FILE.format(index=index, count=count), encoding="utf-8"
        )
        remaining -= count
    return suite


def module_count(tests: int, per_file: int = 1000) -> int:
    return -(-tests // per_file)


@contextlib.contextmanager
def suite_with_stories(
    tests: int, conftest: str, prefix: str
) -> Iterator[tuple[Path, Path, Simulator]]:
    """A scratch folder with a suite of ``tests`` trivial tests and ``conftest``, and a
    simulator that knows each module's JIRA key: ``(folder, suite, simulator)``."""
    from pytest_octane.simulator import Simulator

    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        root = Path(tmp)
        suite = make_suite(root, tests)
        (suite / "conftest.py").write_text(conftest, encoding="utf-8")
        keys = [f"BENCH-{i}" for i in range(1, module_count(tests) + 1)]
        with Simulator(stories=keys, processing_ms=0) as sim:
            yield root, suite, sim


def upload_options(sim: Simulator, run: Path) -> list[str]:
    """An upload to ``sim`` with its own task store and spool folder under ``run``."""
    return [
        f"--octane-space={sim.space_id}", f"--octane-url={sim.url}",
        f"--octane-workspace={sim.workspace_id}",
        f"--octane-task-store={run / 'store'}", f"--octane-spool-dir={run / 'spool'}",
        "--octane-strict",
    ]  # fmt: skip


@dataclass(slots=True)
class Variant:
    """One way of running the suite; ``args`` and ``env`` are built per run."""

    name: str
    args: Callable[[Path], list[str]]
    env: dict[str, str] = field(default_factory=dict)
    check: Callable[[Path], str | None] | None = None  # problem with a finished run, if any
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_once(
    variant: Variant, suite: Path, scratch: Path, timeout: float
) -> tuple[float, float, str | None]:
    """Run the suite once; return (wall seconds, CPU seconds, problem or None)."""
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
    command += variant.args(scratch)
    env = clean_env(scratch.parent / "pycache", **variant.env)
    cpu_before = _children_cpu()
    started = time.perf_counter()
    proc = subprocess.run(
        command,
        cwd=suite,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=timeout,
        check=False,
    )
    wall = time.perf_counter() - started
    cpu = _children_cpu() - cpu_before
    output = proc.stdout.decode("utf-8", "replace")
    tail = " / ".join(output.strip().splitlines()[-3:])
    if proc.returncode != 0:
        return wall, cpu, f"exit code {proc.returncode}: {tail}"
    problem = variant.check(scratch) if variant.check else None
    if problem:
        return wall, cpu, f"{problem}: {tail}"
    return wall, cpu, None


def alternate_rounds(
    variants: list[Variant],
    suite: Path,
    scratch: Path,
    *,
    rounds: int,
    timeout: float,
    log: Callable[[str], None],
) -> None:
    """Run every variant once per round, the order rotating from round to round, and keep
    each run's wall and CPU time on its variant."""
    for round_no in range(rounds):
        shift = round_no % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            wall, cpu, problem = _run_once(variant, suite, scratch, timeout)
            if problem:
                raise RuntimeError(f"{variant.name} failed in round {round_no + 1}: {problem}")
            variant.wall.append(wall)
            variant.cpu.append(cpu)
        log(
            f"  round {round_no + 1}/{rounds} wall/cpu: "
            + ", ".join(
                f"{v.name.split(' (')[0]} {v.wall[-1]:.2f}/{v.cpu[-1]:.2f}s" for v in variants
            )
        )


def _dry_written(scratch: Path) -> str | None:
    """A dry run must have written its first slice (removed again, so each run writes it)."""
    first = scratch / "dry" / "slice-0001.xml"
    if not first.is_file():
        return f"the dry run wrote no {first.name}"
    first.unlink()
    return None


def _upload_variant(sim: object, scratch_root: Path) -> Variant:
    from pytest_octane.simulator import Simulator

    assert isinstance(sim, Simulator)
    counter = iter(range(1_000_000))

    def args(scratch: Path) -> list[str]:
        run = scratch_root / f"upload-{next(counter)}"
        return [
            f"--octane-space={sim.space_id}",
            f"--octane-url={sim.url}",
            f"--octane-workspace={sim.workspace_id}",
            f"--octane-task-store={run / 'store'}",
            f"--octane-spool-dir={run / 'spool'}",
            "--octane-strict",
        ]

    return Variant(
        "pytest-octane upload to the simulator",
        args,
        # --octane-strict turns a failed upload into a failed exit code; the simulator's
        # stored-run count is checked after the last round
        env={"OCTANE_CLIENT_ID": sim.client_id, "OCTANE_CLIENT_SECRET": sim.client_secret},
    )


@dataclass(slots=True)
class OverheadResult:
    rows: list[Row]
    detail: list[str]


BARE = "bare pytest (plugin installed, inactive)"
OFF = "plugin not loaded (-p no:octane)"
JUNIT = "--junitxml"
ALLURE = "allure-pytest --alluredir"
DRY = "pytest-octane --octane-dry-run=DIR"
UPLOAD = "pytest-octane upload to the simulator"


def _variants(scratch: Path, detail: list[str]) -> list[Variant]:
    variants = [
        Variant(BARE, lambda s: []),
        Variant(OFF, lambda s: ["-p", "no:octane"]),
        Variant(JUNIT, lambda s: [f"--junitxml={s / 'junit.xml'}"]),
    ]
    if importlib.util.find_spec("allure_pytest") is not None:
        variants.append(Variant(ALLURE, lambda s: [f"--alluredir={s / 'allure'}"]))
    else:
        detail.append("allure-pytest is not installed: its variant was not run")
    variants.append(Variant(DRY, lambda s: [f"--octane-dry-run={s / 'dry'}"], check=_dry_written))
    return variants


def run_overhead(
    *, tests: int, rounds: int, upload: bool, log: Callable[[str], None]
) -> OverheadResult:
    """Run every variant ``rounds`` times, alternating; return the table rows."""
    from pytest_octane.simulator import Simulator

    detail: list[str] = []
    checks: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="octane-bench-overhead-") as tmp:
        root = Path(tmp)
        suite = make_suite(root, tests)
        scratch = root / "scratch"
        scratch.mkdir()
        variants = _variants(scratch, detail)
        sim: Simulator | None = None
        if upload:
            keys = [f"BENCH-{i}" for i in range(1, module_count(tests) + 1)]
            # processing_ms=0: the server's own processing time is not the plugin's cost
            sim = Simulator(stories=keys, processing_ms=0).start()
            variants.append(_upload_variant(sim, scratch))
        try:
            timeout = max(120.0, tests / 20)
            # one warm-up run per variant (bytecode cache, page cache); not counted
            for variant in list(variants):
                _, _, problem = _run_once(variant, suite, scratch, timeout)
                if problem:
                    if variant.name == BARE:
                        raise RuntimeError(f"bare pytest failed: {problem}")
                    log(f"  {variant.name}: warm-up failed, variant dropped: {problem}")
                    detail.append(f"{variant.name}: not measured ({problem})")
                    variants.remove(variant)
            alternate_rounds(variants, suite, scratch, rounds=rounds, timeout=timeout, log=log)
            if sim is not None and any(v.name == UPLOAD for v in variants):
                stored = sim.counters["runs_stored"]
                expected = tests * (rounds + 1)
                checks.append(
                    Row(
                        "overhead: runs the simulator stored from all upload runs",
                        f"{stored}",
                        f"== {expected}",
                        stored == expected,
                    )
                )
        finally:
            if sim is not None:
                sim.stop()
                if sim.internal_errors:
                    detail.append(f"simulator internal error: {sim.internal_errors[0]}")
    rows = _rows(tests, {v.name: v for v in variants})
    detail.append(
        "overhead raw wall/CPU (s): "
        + "; ".join(
            f"{v.name}: "
            + ", ".join(f"{w:.2f}/{c:.2f}" for w, c in zip(v.wall, v.cpu, strict=True))
            for v in variants
        )
    )
    return OverheadResult(rows + checks, detail)


def _ratios(variant: Variant, base: Variant) -> tuple[float, float]:
    """Medians of the paired wall and CPU ratios ``variant / base``."""
    return (
        median(paired_ratios(variant.wall, base.wall)),
        median(paired_ratios(variant.cpu, base.cpu)),
    )


def _rows(tests: int, by_name: dict[str, Variant]) -> list[Row]:
    bare = by_name[BARE]
    rows = [
        Row(
            f"overhead {tests} tests: {BARE}, median wall / CPU",
            f"{fmt_s(median(bare.wall))} / {fmt_s(median(bare.cpu))}",
        )
    ]
    for name, variant in by_name.items():
        if variant is bare:
            continue
        wall, cpu = _ratios(variant, bare)
        measured = (
            f"wall {fmt_s(median(variant.wall))}, {fmt_ratio(wall)}; CPU {fmt_ratio(cpu)} bare"
        )
        label = f"overhead {tests} tests: {name}"
        if name == OFF:
            rows.append(Row(label, measured))
            inactive_wall, inactive_cpu = _ratios(bare, variant)
            rows.append(
                Row(
                    "overhead: inactive plugin (bare) vs -p no:octane, paired CPU (wall)",
                    f"{fmt_ratio(inactive_cpu)} ({fmt_ratio(inactive_wall)})",
                    "<= 1.02x (nothing, within noise)",
                    inactive_cpu <= 1.02,
                )
            )
        elif name == DRY:
            rows.append(Row(label, measured, "CPU <= 1.03x bare", cpu <= 1.03))
            junit = by_name.get(JUNIT)
            if junit is not None:
                vs_wall, vs_cpu = _ratios(variant, junit)
                rows.append(
                    Row(
                        "overhead: dry run vs --junitxml, paired CPU (wall)",
                        f"{fmt_ratio(vs_cpu)} ({fmt_ratio(vs_wall)})",
                        "< 1.000x",
                        vs_cpu < 1.0,
                    )
                )
        elif name == UPLOAD:
            rows.append(Row(label, measured, "wall <= 1.10x bare", wall <= 1.10))
        else:
            rows.append(Row(label, measured))
    return rows


def run_startup(*, pairs: int, log: Callable[[str], None]) -> list[Row]:
    """The fixed cost of the installed-but-inactive plugin: a one-test suite, bare pytest
    against ``-p no:octane``, alternating; the median of the paired differences is the
    plugin's start-up cost (imports, option registration, hooks that run once)."""
    with tempfile.TemporaryDirectory(prefix="octane-bench-startup-") as tmp:
        root = Path(tmp)
        suite = make_suite(root, 1)
        scratch = root / "scratch"
        scratch.mkdir()
        bare = Variant("bare", lambda s: [])
        off = Variant("off", lambda s: ["-p", "no:octane"])
        for variant in (bare, off):  # warm-up: fills the bytecode cache
            _, _, problem = _run_once(variant, suite, scratch, 60)
            if problem:
                raise RuntimeError(f"start-up run failed: {problem}")
        for index in range(pairs):
            for variant in (bare, off) if index % 2 == 0 else (off, bare):
                wall, cpu, problem = _run_once(variant, suite, scratch, 60)
                if problem:
                    raise RuntimeError(f"start-up run failed: {problem}")
                variant.wall.append(wall)
                variant.cpu.append(cpu)
    wall_ms = median([(b - o) * 1000 for b, o in zip(bare.wall, off.wall, strict=True)])
    cpu_ms = median([(b - o) * 1000 for b, o in zip(bare.cpu, off.cpu, strict=True)])
    log(f"  start-up: bare {median(bare.cpu):.3f}s CPU, -p no:octane {median(off.cpu):.3f}s CPU")
    return [
        Row(
            f"start-up, 1-test suite: inactive plugin vs -p no:octane ({pairs} pairs)",
            f"CPU {cpu_ms:+.0f} ms ({fmt_ratio(median(paired_ratios(bare.cpu, off.cpu)))}); "
            f"wall {wall_ms:+.0f} ms",
        )
    ]
