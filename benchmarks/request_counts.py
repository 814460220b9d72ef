"""Requests per simulator endpoint of one 3,000-test job (issue 12's before/after figure).

Run: ``python benchmarks/request_counts.py`` (from the repo, any checkout of it).
"""

from __future__ import annotations

import collections
import os
import sys
import tempfile
import time
from pathlib import Path

from pytest_octane.job.engine import upload_session
from pytest_octane.model import RunStatus, TestRun
from pytest_octane.settings import resolve_settings
from pytest_octane.simulator import Simulator

N_KEYS = 40


def main() -> int:
    stories = [{"id": 9000 + i, "jira_key_udf": f"QZ-{i}"} for i in range(N_KEYS)]
    now = int(time.time() * 1000)
    runs = [
        TestRun(
            nodeid=f"tests/test_m{i % 6}.py::test_{i}", module="", package="tests",
            klass=f"test_m{i % 6}", name=f"test_{i}", status=RunStatus.PASSED,
            duration_ms=1, started_ms=now + i,
            jira_keys=(f"QZ-{i % N_KEYS}", f"QZ-{(i + 1) % N_KEYS}"),
        )
        for i in range(3000)
    ]  # fmt: skip
    with Simulator(stories=stories, processing_ms=0) as sim, tempfile.TemporaryDirectory() as tmp:
        os.environ["OCTANE_CLIENT_ID"] = sim.client_id
        os.environ["OCTANE_CLIENT_SECRET"] = sim.client_secret
        cli = {
            "space": str(sim.space_id), "url": sim.url, "workspace": str(sim.workspace_id),
            "task_store": str(Path(tmp) / "store"), "spool_dir": str(Path(tmp) / "spool"),
            "root_module": "Automated", "slice_size": "1000", "suite": "Team/Nightly",
            "jira": "QZ-1",
        }  # fmt: skip
        outcome = upload_session(resolve_settings(cli=cli, environ={}, ini={}), runs)
        counts = collections.Counter(sim.counters["requests_per_endpoint"])
        print("ok" if outcome.ok else "FAILED", *outcome.summary_lines()[:3], sep="\n")
        for endpoint, count in sorted(counts.items()):
            print(f"{count:5d}  {endpoint}")
        print(f"{sum(counts.values()):5d}  total")
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
