"""The collector's time per report inside a real pytest run: a dry run against an upload
(issue 28).

A conftest times ``ResultCollector.pytest_runtest_logreport`` (the plugin's whole per-report
path: the merge, and for an upload the journal line and its store) with ``perf_counter_ns``
around each call, in the pytest process, between pytest's own work.  A tight loop of the same
calls runs several times faster (warm caches); this is what a test suite pays.  Sums are less
noisy than wall clock: a busy host stretches them less than the whole run.  The variants
alternate; medians in ms (sum of 15,000 reports at 5,000 tests) and µs (per call).

    python benchmarks/bench_report_path.py [--tests 5000] [--rounds 5]
"""

from __future__ import annotations

import ast
import subprocess
import sys

from bench_common import clean_env, median, tests_and_rounds
from bench_overhead import suite_with_stories, upload_options

_TIMING_CONFTEST = """
import functools, os, statistics
from time import perf_counter_ns
from pytest_octane.plugin.collect import ResultCollector

TIMES = []
_hook = ResultCollector.pytest_runtest_logreport

@functools.wraps(_hook)
def _timed(self, report):
    began = perf_counter_ns()
    _hook(self, report)
    TIMES.append(perf_counter_ns() - began)

ResultCollector.pytest_runtest_logreport = _timed

def pytest_unconfigure(config):
    with open(os.environ["REPORT_PATH_OUT"], "w") as out:
        out.write(repr((len(TIMES), sum(TIMES), statistics.median(TIMES) if TIMES else 0)))
"""


def main() -> None:
    options = tests_and_rounds(__doc__)
    stories = suite_with_stories(options.tests, _TIMING_CONFTEST, "octane-bench-report-path-")
    with stories as (root, suite, sim):
        out = root / "times.txt"
        credentials = {"OCTANE_CLIENT_ID": sim.client_id, "OCTANE_CLIENT_SECRET": sim.client_secret}
        env = clean_env(root / "pycache", REPORT_PATH_OUT=str(out), **credentials)
        variants = {
            "dry run": lambda n: [f"--octane-dry-run={root / 'dry'}"],
            "upload": lambda n: upload_options(sim, root / f"upload-{n}"),
        }
        seen: dict[str, list[tuple[int, int, float]]] = {name: [] for name in variants}
        for round_no in range(options.rounds + 1):  # the first round warms up
            for name, args in variants.items():
                done = subprocess.run(
                    [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                     *args(round_no)],
                    cwd=suite, env=env, capture_output=True, timeout=600, check=False,
                )  # fmt: skip
                if done.returncode != 0:
                    tail = done.stdout[-2000:]
                    raise RuntimeError(f"{name}: exit {done.returncode}\n{tail!r}")
                if round_no:
                    seen[name].append(ast.literal_eval(out.read_text(encoding="utf-8")))
    print(f"\n{options.tests} tests, median of {options.rounds} rounds")
    print("| variant | reports | sum, ms | per call, µs (median) |")
    print("|---|---|---|---|")
    for name, rows in seen.items():
        total = median([row[1] for row in rows]) / 1e6
        per_call = median([row[2] for row in rows]) / 1e3
        print(f"| {name} | {rows[0][0]} | {total:.1f} | {per_call:.2f} |")


if __name__ == "__main__":
    main()
