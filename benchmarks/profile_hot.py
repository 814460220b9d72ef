"""cProfile of the per-test hook path (a dry run in-process) and of the XML writer.

    /work/venv/bin/python benchmarks/profile_hot.py [--tests 5000] [--runs 100000] [--top 15]

Prints, for the dry run, the time spent in each pytest-octane hook (per test and at session
end) against the whole run, then the top functions by own time; for the writer, the top
functions by own time.  cProfile slows Python code down several times, so read shares and
call counts here, and take wall-clock ratios from ``run.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import pstats
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench_overhead import make_suite

#: The plugin's hook methods: (file suffix, function name) -> label.
HOOKS = {
    (
        "pytest_octane/plugin/reporter.py",
        "pytest_runtest_logreport",
    ): "per phase: OctaneReporter.logreport",
    (
        "pytest_octane/plugin/reporter.py",
        "pytest_collectreport",
    ): "per module: OctaneReporter.collectreport",
    (
        "pytest_octane/plugin/__init__.py",
        "pytest_collection_modifyitems",
    ): "once: JiraKeys.modifyitems",
    (
        "pytest_octane/plugin/reporter.py",
        "pytest_sessionfinish",
    ): "once: OctaneReporter.sessionfinish",
}


def _stats_text(stats: pstats.Stats, restriction: str | None, top: int) -> str:
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    args: list[Any] = [restriction, top] if restriction else [top]
    stats.sort_stats("tottime").print_stats(*args)
    lines = out.getvalue().splitlines()
    # keep the table only (drop pstats' preamble up to the header line)
    for index, line in enumerate(lines):
        if line.strip().startswith("ncalls"):
            return "\n".join(lines[index:]).rstrip()
    return "\n".join(lines).rstrip()


def _total(stats: pstats.Stats) -> float:
    return float(stats.total_tt)  # type: ignore[attr-defined]


def profile_hooks(tests: int, top: int) -> str:
    import pytest

    with tempfile.TemporaryDirectory(prefix="octane-profile-") as tmp:
        root = Path(tmp)
        suite = make_suite(root, tests)
        args = [str(suite), "-p", "no:cacheprovider", "-q", f"--octane-dry-run={root / 'dry'}"]
        profiler = cProfile.Profile()
        sink = io.StringIO()
        with contextlib.redirect_stdout(sink):
            profiler.enable()
            code = pytest.main(args)
            profiler.disable()
        if code != 0:
            raise RuntimeError(f"profiled dry run failed ({code}): {sink.getvalue()[-500:]}")
    stats = pstats.Stats(profiler)
    total = _total(stats)
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    lines = [f"dry run of {tests} trivial tests in-process: {total:.2f} s under cProfile"]
    per_test = 0.0
    for (filename, _line, func), (_cc, calls, _tt, cumulative, _callers) in sorted(raw.items()):
        for (suffix, name), label in HOOKS.items():
            if filename.endswith(suffix) and func == name:
                share = cumulative / total * 100
                lines.append(
                    f"  {label:<45} {calls:>7} calls {cumulative * 1000:8.1f} ms "
                    f"({share:4.1f} %, {cumulative / tests * 1e6:6.1f} us/test)"
                )
                if label.startswith("per phase"):
                    per_test += cumulative
    lines.append(
        f"  per-test hooks together: {per_test * 1000:.1f} ms = {per_test / total * 100:.1f} % "
        f"of the run, {per_test / tests * 1e6:.1f} us per test (under cProfile)"
    )
    lines += ["", "pytest-octane functions by own time:", _stats_text(stats, "pytest_octane", top)]
    lines += ["", "whole run by own time:", _stats_text(stats, None, top)]
    return "\n".join(lines)


def profile_writer(runs: int, top: int) -> str:
    from bench_xml import HEADER, SLICE_SIZE, make_runs, story_refs

    from pytest_octane.octane.results_xml import write_slices

    data = make_runs(runs)
    refs = story_refs()
    with tempfile.TemporaryDirectory(prefix="octane-profile-xml-") as tmp:
        profiler = cProfile.Profile()
        profiler.enable()
        write_slices(Path(tmp), HEADER, data, slice_size=SLICE_SIZE, refs=refs)
        profiler.disable()
    stats = pstats.Stats(profiler)
    head = f"write_slices of {runs} runs (with story refs): {_total(stats):.2f} s under cProfile"
    return head + "\n" + _stats_text(stats, None, top)


def profile_report(*, tests: int, top: int, runs: int | None = None) -> str:
    return (
        profile_hooks(tests, top)
        + "\n\n"
        + profile_writer(runs if runs is not None else tests * 20, top)
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tests", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)
    print(profile_report(tests=args.tests, top=args.top, runs=args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
