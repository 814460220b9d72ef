"""What ``--octane-capture=all`` costs against ``--octane-capture=no`` (issue 23).

5,000 trivial tests that each print a line and log a record, one in ten failing, run as a
dry run (so only the plugin's own work is measured, no network): with ``--octane-capture=no``,
with ``all`` (the default: the captured sections follow the traces of the 500 failures) and
with ``all --octane-capture-passed`` (every run carries its output).  The variants alternate
within each round and each is compared with the ``no`` run of its own round (paired CPU and
wall ratios, as bench_overhead.py does), so machine load cancels out.

Run: ``python benchmarks/bench_capture.py [--tests 5000] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args(argv)
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
