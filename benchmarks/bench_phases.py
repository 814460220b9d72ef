"""Where the plugin's time goes in one session: the phases of bare pytest, a dry run and an
upload, side by side (issue 28).

A conftest writes down wall-clock marks inside pytest (configure, end of collection, first
test's start, last test's end, session finish, unconfigure) and pytest's own CPU time; the
bench adds the process's start and exit, the CPU of every process pytest waited for (the
uploader) and this process's CPU (the simulator's threads).  The variants alternate, the
order rotating each round; medians in ms.  Bare pytest pays the same phases, so each
column's difference to bare is the plugin's share of that phase:

* ``start``: spawn to ``pytest_configure`` (imports before the plugin is on);
* ``collect``: the plugin's configure (its imports), collection, the JIRA keys;
* ``wait``: the end of collection to the first test (an upload waits for its uploader);
* ``tests``: the first test's start to the last one's end (the per-test path, and whatever
  the uploader and the simulator take from the CPUs meanwhile);
* ``end``: ``pytest_sessionfinish`` to ``pytest_unconfigure`` (the dry run's XML, the
  upload's last slice);
* ``exit``: unconfigure to the process's exit;
* ``uploader cpu``: the CPU of pytest's children less pytest's own, less bare's exit share;
* ``simulator cpu``: this process's CPU during the run (the simulator, and the bench).

The upload runs twice: streaming (the default: slices leave while the tests run) and with
``--octane-stream=off`` (everything leaves at the end).  Both do the same work in pytest's
process; the difference of their test loops is what the uploader and the simulator working
beside the tests cost pytest.

    python benchmarks/bench_phases.py [--tests 5000] [--rounds 5]
"""

from __future__ import annotations

import ast
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench_common import clean_env, median, tests_and_rounds
from bench_overhead import suite_with_stories, upload_options

_MARKS_CONFTEST = """
import os, resource, time
T = {}
def pytest_configure(config): T["configure"] = time.time()
def pytest_collection_finish(session): T["collected"] = time.time()
def pytest_runtest_logstart(nodeid, location): T.setdefault("first", time.time())
def pytest_runtest_logfinish(nodeid, location): T["last"] = time.time()
def pytest_sessionfinish(session): T["finish"] = time.time()
def pytest_unconfigure(config):
    T["unconfigure"] = time.time()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    T["pytest_cpu"] = usage.ru_utime + usage.ru_stime
    with open(os.environ["PHASES_OUT"], "w") as out:
        out.write(repr(T))
"""

_COLUMNS = ("start", "collect", "wait", "tests", "end", "exit", "wall", "pytest cpu")


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _run(suite: Path, args: list[str], env: dict[str, str], marks: Path) -> dict[str, float]:
    own, children = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
    began = time.time()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=suite, env=env, capture_output=True, timeout=600, check=False,
    )  # fmt: skip
    ended = time.time()
    if done.returncode != 0:
        raise RuntimeError(f"{args}: exit {done.returncode}\n{done.stdout[-2000:]!r}")
    t = ast.literal_eval(marks.read_text(encoding="utf-8"))
    return {
        "start": t["configure"] - began,
        "collect": t["collected"] - t["configure"],
        "wait": t["first"] - t["collected"],
        "tests": t["last"] - t["first"],
        "end": t["unconfigure"] - t["finish"],
        "exit": ended - t["unconfigure"],
        "wall": ended - began,
        "pytest cpu": t["pytest_cpu"],
        "children cpu": _cpu(resource.RUSAGE_CHILDREN) - children,
        "simulator cpu": _cpu(resource.RUSAGE_SELF) - own,
    }


def main() -> None:
    options = tests_and_rounds(__doc__)
    stories = suite_with_stories(options.tests, _MARKS_CONFTEST, "octane-bench-phases-")
    with stories as (root, suite, sim):
        marks = root / "marks.txt"
        env = clean_env(root / "pycache", PHASES_OUT=str(marks))
        creds = {"OCTANE_CLIENT_ID": sim.client_id, "OCTANE_CLIENT_SECRET": sim.client_secret}
        counter = iter(range(1_000_000))

        def upload() -> list[str]:
            return upload_options(sim, root / f"upload-{next(counter)}")

        variants: dict[str, tuple[Callable[[], list[str]], dict[str, str]]] = {
            "bare": (list, env),
            "dry run": (lambda: [f"--octane-dry-run={root / 'dry'}"], env),
            "upload": (upload, {**env, **creds}),
            # the uploader idles while the tests run and sends everything at the end
            "upload, stream off": (
                lambda: [*upload(), "--octane-stream=off"],
                {**env, **creds},
            ),
        }
        seen: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
        names = list(variants)
        for round_no in range(options.rounds + 1):  # the first round warms up
            shift = round_no % len(names)
            for name in names[shift:] + names[:shift]:
                args, run_env = variants[name]
                row = _run(suite, args(), run_env, marks)
                if round_no:
                    seen[name].append(row)
    bare_exit_cpu = median([r["children cpu"] - r["pytest cpu"] for r in seen["bare"]])
    print(f"\n{options.tests} tests, median of {options.rounds} rounds, ms (difference to bare)")
    print("| phase | " + " | ".join(seen) + " |")
    print("|---|" + "---|" * len(seen))
    for column in (*_COLUMNS, "uploader cpu", "simulator cpu"):
        cells = []
        for name, rows in seen.items():
            if column == "uploader cpu":
                values = [r["children cpu"] - r["pytest cpu"] - bare_exit_cpu for r in rows]
            else:
                values = [r[column] for r in rows]
            value = median(values) * 1e3
            bare = (
                None
                if name == "bare" or column in ("uploader cpu", "simulator cpu")
                else median([r[column] for r in seen["bare"]]) * 1e3
            )
            cells.append(f"{value:.0f}" + ("" if bare is None else f" ({value - bare:+.0f})"))
        print(f"| {column} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
