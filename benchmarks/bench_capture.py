"""What ``--octane-capture=all`` costs against ``--octane-capture=no`` (issue 23).

5,000 trivial tests that each print a line and log a record, one in ten failing, run as a
dry run (so only the plugin's own work is measured, no network): with ``--octane-capture=no``,
with ``all`` (the default: the captured sections follow the traces of the 500 failures) and
with ``all --octane-capture-passed`` (every run carries its output).  The variants alternate
within each round and each is compared with the ``no`` run of its own round (paired CPU and
wall ratios, as bench_overhead.py does), so machine load cancels out.

A second, in-process part times only the plugin's own work: 5,000 reports (setup, call and
teardown, each carrying the captured sections, one test in ten failing) fed to the result
collector with each mode, alternating, CPU time per variant (``time.process_time``).

Run: ``python benchmarks/bench_capture.py [--tests 5000] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pytest
from bench_common import fmt_ratio, fmt_s, median, paired_ratios
from bench_overhead import Variant, _run_once

TEST_FILE = """\
import logging
import pytest

log = logging.getLogger("bench")


@pytest.mark.parametrize("i", range({count}))
def test_trivial(i):
    print("output of test", i)
    log.warning("record of test %d", i)
    assert i % 10 != 9
"""


def make_suite(folder: Path, tests: int, per_file: int = 1000) -> Path:
    suite = folder / "suite"
    suite.mkdir(parents=True, exist_ok=True)
    (suite / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    for index, start in enumerate(range(0, tests, per_file), start=1):
        count = min(per_file, tests - start)
        (suite / f"test_capture_{index}.py").write_text(
            TEST_FILE.format(count=count), encoding="utf-8"
        )
    return suite


def _dry(mode: str, *extra: str) -> Variant:
    def args(scratch: Path) -> list[str]:
        return [f"--octane-dry-run={scratch / mode}", f"--octane-capture={mode}", *extra]

    return Variant(f"--octane-capture={mode} {' '.join(extra)}".strip(), args)


def _reports(tests: int) -> list[pytest.TestReport]:
    """Setup/call/teardown reports of ``tests`` trivial tests with captured output."""
    reports = []
    for i in range(tests):
        nodeid = f"test_capture_1.py::test_trivial[{i}]"
        failed = i % 10 == 9
        sections = [
            ("Captured stdout call", f"output of test {i}\n"),
            ("Captured log call", f"WARNING  bench:test_capture_1.py:9 record of test {i}\n"),
        ]
        for when in ("setup", "call", "teardown"):
            bad = failed and when == "call"
            outcome = "failed" if bad else "passed"
            reports.append(
                pytest.TestReport(
                    nodeid, ("test_capture_1.py", 7, "test_trivial"), {}, outcome,
                    "E   assert 9 % 10 != 9\ntest_capture_1.py:11: AssertionError" if bad else None,
                    when, sections=sections if when != "setup" else [], duration=0.0001,
                    start=1.0, stop=1.0001,
                )
            )  # fmt: skip
    return reports


def collector_cost(tests: int, rounds: int) -> dict[str, float]:
    """Median CPU seconds the collector spends on ``tests`` tests' reports, per mode."""
    from pytest_octane.plugin.collect import ResultCollector

    reports = _reports(tests)
    modes = {"no": ("no", False), "all": ("all", False), "all + passed": ("all", True)}
    times: dict[str, list[float]] = {name: [] for name in modes}
    for round_no in range(rounds + 1):  # the first round warms up and is not counted
        names = list(modes)
        names = names[round_no % 3 :] + names[: round_no % 3]
        for name in names:
            capture, passed = modes[name]
            collector = ResultCollector(capture=capture, capture_passed=passed)
            started = time.process_time()
            for report in reports:
                collector.add_report(report)
            if round_no:
                times[name].append(time.process_time() - started)
            assert len(collector.runs) == tests
    return {name: median(values) for name, values in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--collector-only", action="store_true")
    options = parser.parse_args(argv)
    cost = collector_cost(options.tests, max(options.rounds, 5))
    print(f"collector CPU for {options.tests} tests' reports (median):")
    for name, seconds in cost.items():
        per_test = seconds / options.tests * 1e6
        print(f"  --octane-capture={name:<14} {seconds * 1000:8.1f} ms  ({per_test:.1f} us/test)")
    print(f"  all - no: {(cost['all'] - cost['no']) * 1000:+.1f} ms")
    if options.collector_only:
        return 0
    none = _dry("no")
    variants = [none, _dry("all"), _dry("all", "--octane-capture-passed")]
    with tempfile.TemporaryDirectory(prefix="octane-bench-capture-") as tmp:
        root = Path(tmp)
        suite = make_suite(root, options.tests)
        scratch = root / "scratch"
        scratch.mkdir()
        timeout = max(120.0, options.tests / 20)
        for variant in variants:  # warm-up, not counted
            _run_once(variant, suite, scratch, timeout)
        for round_no in range(options.rounds):
            shift = round_no % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                # the suite fails on purpose (one test in ten): exit code 1 is expected
                wall, cpu, problem = _run_once(variant, suite, scratch, timeout)
                if problem and not problem.startswith("exit code 1:"):
                    raise RuntimeError(f"{variant.name}: {problem}")
                variant.wall.append(wall)
                variant.cpu.append(cpu)
            print(
                f"round {round_no + 1}/{options.rounds}: "
                + ", ".join(f"{v.name} {v.wall[-1]:.2f}/{v.cpu[-1]:.2f}s" for v in variants)
            )
    print(f"\n{options.tests} tests (10% failing), dry run, median wall / CPU:")
    for variant in variants:
        line = f"  {variant.name:<45} {fmt_s(median(variant.wall))} / {fmt_s(median(variant.cpu))}"
        if variant is not none:
            wall = median(paired_ratios(variant.wall, none.wall))
            cpu = median(paired_ratios(variant.cpu, none.cpu))
            line += f"   paired vs no: wall {fmt_ratio(wall)}, CPU {fmt_ratio(cpu)}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
