"""The plugin's own cost in instructions: bare pytest, a dry run and an upload, counted by
``valgrind --tool=callgrind`` in pytest's own process (not the uploader, not the simulator).

Wall clocks on a shared VM drift by more than the few per cent issue 28 is about; an
instruction count does not depend on what else the machine does.  A 1-test and an N-test run
of each variant separate the fixed part (imports, start, end) from the per-test part.  Every
run has ``PYTHONHASHSEED=0``: with random hash seeds two runs of one configuration differed
by up to 60 M instructions, with a fixed one bare pytest repeats its count to a few
instructions (an upload still varies a little with the uploader's timing).  ``--baseline REF``
adds REF's dry run and upload (its ``pytest_octane`` exported and put first on
``PYTHONPATH``), so before and after are counted in one run.

``--uploader`` counts the uploader process instead: each upload runs with valgrind's
``--trace-children=yes``, so the ``python -m pytest_octane.uploader`` that pytest starts is
counted in a file of its own (the simulator, in this process, is not counted).  The uploader
works beside pytest on the other core; what it does there slows pytest on a VM whose cores
share caches.

``--at`` counts only the N-test runs, ``--junitxml`` among them, each as a ratio to bare
pytest's (with ``--tests 5000``, the issue's own measure; each run takes a few minutes).

    python benchmarks/bench_callgrind.py --tests 1000 [--baseline REF] [--uploader | --at]

Needs ``valgrind``; each N-test run takes about as long as 50 plain ones.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bench_common import clean_env
from bench_overhead import make_suite, module_count
from bench_uploader import export

from pytest_octane.simulator import Simulator

_REFS = re.compile(rb"Collected : (\d+)")
_TOTALS = re.compile(rb"^(?:totals|summary): (\d+)", re.MULTILINE)
_UPLOADER_CMD = re.compile(rb"^cmd: .*-m pytest_octane\.uploader$", re.MULTILINE)


def _instructions(
    suite: Path, scratch: Path, args: list[str], env: dict[str, str], *, counted: bool = True
) -> int:
    """pytest's instructions for one run of ``suite`` (0 for a run not ``counted``: the one
    that compiles the bytecode, without valgrind)."""
    out = scratch / "callgrind.out"
    pytest_command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args]
    valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
    command = [*valgrind, *pytest_command] if counted else pytest_command
    done = subprocess.run(
        command, check=False, cwd=suite, env=env, capture_output=True, timeout=3600
    )
    if done.returncode != 0:
        raise RuntimeError(f"{args}: exit {done.returncode}\n{done.stdout[-2000:]!r}")
    if not counted:
        return 0
    match = _REFS.search(done.stderr)
    if match is None:
        raise RuntimeError(f"no instruction count in valgrind's output: {done.stderr[-500:]!r}")
    out.unlink(missing_ok=True)
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", type=int, default=1000, help="tests of the large run")
    parser.add_argument("--baseline", metavar="REF", help="also count REF's dry run and upload")
    parser.add_argument(
        "--uploader", action="store_true", help="count the uploader process of each upload"
    )
    parser.add_argument(
        "--at",
        action="store_true",
        help="count only the N-test runs, junitxml too, and print each as a ratio to bare",
    )
    options = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed")
    if options.uploader:
        _count_uploaders(options.tests, options.baseline)
        return
    if options.at:
        _count_at(options.tests, options.baseline)
        return
    with _scratch(options.tests) as (root, sim, env):
        dry, upload = [f"--octane-dry-run={root / 'dry'}"], _upload_args(sim, root)
        variants: dict[str, tuple[list[str], dict[str, str]]] = {
            "bare": ([], env),
            "dry run": (dry, env),
            "upload": (upload, env),
        }
        if options.baseline:
            old = {**env, "PYTHONPATH": str(export(options.baseline, root / "baseline"))}
            variants[f"dry run ({options.baseline})"] = (dry, old)
            variants[f"upload ({options.baseline})"] = (upload, old)
        counts: dict[tuple[str, int], int] = {}
        for size in (1, options.tests):
            suite = make_suite(root / f"suite-{size}", size)
            for name, (args, run_env) in variants.items():
                _instructions(suite, root, args, run_env, counted=False)
                counts[name, size] = _instructions(suite, root, args, run_env)
                print(f"{name}, {size} tests: {counts[name, size] / 1e9:.3f} G", flush=True)
    bare_fixed, bare_per = _split(counts, "bare", options.tests)
    print(f"\n| callgrind, pytest's process | 1 test | {options.tests} tests | per test |")
    print("|---|---|---|---|")
    for name in variants:
        fixed, per = _split(counts, name, options.tests)
        extra = "" if name == "bare" else f" (+{(per - bare_per) / 1e3:.0f} k)"
        print(
            f"| {name} | {counts[name, 1] / 1e9:.3f} G | {counts[name, options.tests] / 1e9:.3f} G"
            f" | {per / 1e6:.3f} M{extra} |"
        )
    for name in variants:
        fixed, per = _split(counts, name, options.tests)
        at = 5000
        ratio = (fixed + at * per) / (bare_fixed + at * bare_per)
        print(f"{name}: fixed {fixed / 1e9:.3f} G; at {at} tests {ratio:.3f}x bare in instructions")


@contextlib.contextmanager
def _scratch(tests: int) -> Iterator[tuple[Path, Simulator, dict[str, str]]]:
    """A scratch folder, a simulator that knows the suite's JIRA keys, and the environment
    that signs in to it (bytecode cached in the scratch folder, fixed hash seed)."""
    with tempfile.TemporaryDirectory(prefix="octane-bench-callgrind-") as tmp:
        root = Path(tmp)
        keys = [f"BENCH-{i}" for i in range(1, module_count(tests) + 1)]
        with Simulator(stories=keys, processing_ms=0) as sim:
            creds = {"OCTANE_CLIENT_ID": sim.client_id, "OCTANE_CLIENT_SECRET": sim.client_secret}
            yield root, sim, clean_env(root / "pycache", PYTHONHASHSEED="0", **creds)


def _count_at(tests: int, baseline: str | None) -> None:
    """Each variant's instructions at ``tests`` tests, as a ratio to bare pytest's: the
    issue's measure (5,000 trivial tests) without extrapolating from a 1-test run."""
    with _scratch(tests) as (root, sim, env):
        dry, upload = [f"--octane-dry-run={root / 'dry'}"], _upload_args(sim, root)
        variants: dict[str, tuple[list[str], dict[str, str]]] = {
            "bare": ([], env),
            "--junitxml": ([f"--junitxml={root / 'junit.xml'}"], env),
            "dry run": (dry, env),
            "upload": (upload, env),
        }
        if baseline:
            old = {**env, "PYTHONPATH": str(export(baseline, root / "baseline"))}
            variants[f"dry run ({baseline})"] = (dry, old)
            variants[f"upload ({baseline})"] = (upload, old)
        suite = make_suite(root / "suite", tests)
        print(f"| callgrind, pytest's process, {tests} tests | instructions | vs bare |")
        print("|---|---|---|")
        bare = 0
        for name, (args, run_env) in variants.items():
            _instructions(suite, root, args, run_env, counted=False)
            count = _instructions(suite, root, args, run_env)
            bare = bare or count
            print(f"| {name} | {count / 1e9:.3f} G | {count / bare:.4f}x |", flush=True)


def _count_uploaders(tests: int, baseline: str | None) -> None:
    """The uploader's instructions for a 1-test and a ``tests``-test upload, this tree (and
    ``baseline``), each counted after a run that compiles the bytecode."""
    with _scratch(tests) as (root, sim, env):
        trees = {"this tree": env}
        if baseline:
            old = {**env, "PYTHONPATH": str(export(baseline, root / "baseline"))}
            trees[baseline] = old
        print(f"| uploader process, callgrind | 1 test | {tests} tests | per test |")
        print("|---|---|---|---|")
        for name, run_env in trees.items():
            counts = []
            for size in (1, tests):
                suite = make_suite(root / f"suite-{size}", size)
                _uploader_instructions(suite, root, sim, run_env)  # compiles the bytecode
                counts.append(_uploader_instructions(suite, root, sim, run_env))
            per = (counts[1] - counts[0]) / (tests - 1)
            print(
                f"| {name} | {counts[0] / 1e9:.3f} G | {counts[1] / 1e9:.3f} G "
                f"| {per / 1e3:.0f} k |",
                flush=True,
            )


def _uploader_instructions(suite: Path, root: Path, sim: Simulator, env: dict[str, str]) -> int:
    """The instructions of the uploader process of one upload of ``suite``."""
    out = root / "callgrind-traced"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    command = [
        "valgrind",
        "--tool=callgrind",
        "--trace-children=yes",
        f"--callgrind-out-file={out}/callgrind.out.%p",
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        *_upload_args(sim, out),
    ]
    done = subprocess.run(command, check=False, cwd=suite, env=env, capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(f"upload: exit {done.returncode}\n{done.stdout[-2000:]!r}")
    for path in out.glob("callgrind.out.*"):
        data = path.read_bytes()
        match = _TOTALS.search(data)
        if _UPLOADER_CMD.search(data[:4000]) and match:
            return int(match.group(1))
    raise RuntimeError(f"no callgrind output of the uploader in {out}")


def _upload_args(sim: Simulator, root: Path) -> list[str]:
    return [
        f"--octane-space={sim.space_id}",
        f"--octane-url={sim.url}",
        f"--octane-workspace={sim.workspace_id}",
        f"--octane-task-store={root / 'store'}",
        f"--octane-spool-dir={root / 'spool'}",
    ]


def _split(counts: dict[tuple[str, int], int], name: str, tests: int) -> tuple[float, float]:
    """(fixed, per test) from the 1-test and the ``tests``-test counts."""
    per = (counts[name, tests] - counts[name, 1]) / (tests - 1)
    return counts[name, 1] - per, per


if __name__ == "__main__":
    main()
