"""The plugin's own cost in instructions: bare pytest, a dry run and an upload, counted by
``valgrind --tool=callgrind`` in pytest's own process (not the uploader, not the simulator).

Wall clocks on a shared VM drift by more than the few per cent issue 28 is about; an
instruction count does not depend on what else the machine does.  A 1-test and an N-test run
of each variant separate the fixed part (imports, start, end) from the per-test part.  Two
runs of one configuration still differ by up to about 60 M instructions (hash seeds, the
uploader's timing), so a difference is real only well above that.

    python benchmarks/bench_callgrind.py --tests 1000

Needs ``valgrind``; each N-test run takes about as long as 50 plain ones.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_common import clean_env
from bench_overhead import make_suite, module_count

from pytest_octane.simulator import Simulator

_REFS = re.compile(rb"Collected : (\d+)")


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
    options = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed")
    with tempfile.TemporaryDirectory(prefix="octane-bench-callgrind-") as tmp:
        root = Path(tmp)
        keys = [f"BENCH-{i}" for i in range(1, module_count(options.tests) + 1)]
        with Simulator(stories=keys, processing_ms=0) as sim:
            creds = {"OCTANE_CLIENT_ID": sim.client_id, "OCTANE_CLIENT_SECRET": sim.client_secret}
            env = clean_env(root / "pycache", **creds)
            variants: dict[str, list[str]] = {
                "bare": [],
                "dry run": [f"--octane-dry-run={root / 'dry'}"],
                "upload": _upload_args(sim, root),
            }
            counts: dict[tuple[str, int], int] = {}
            for size in (1, options.tests):
                suite = make_suite(root / f"suite-{size}", size)
                for name, args in variants.items():
                    _instructions(suite, root, args, env, counted=False)
                    counts[name, size] = _instructions(suite, root, args, env)
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
