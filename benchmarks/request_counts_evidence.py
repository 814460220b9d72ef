"""Requests per simulator endpoint of one 3,000-test job with 30 attached files (issue 23).

The job has a build context whose CI server Octane does not know (so it is looked up once and
left out), a link to the build on every run, and 30 failed runs with one PNG each, in three
slices of 1,000.  Once with a suite (runs found through the suite run) and once without.

Run: ``python benchmarks/request_counts_evidence.py`` (from the repo, any checkout of it).
"""

from __future__ import annotations

import collections
import os
import sys
import tempfile
import time
from pathlib import Path

from pytest_octane.job.engine import upload_session
from pytest_octane.model import Attachment, RunError, RunStatus, TestRun
from pytest_octane.settings import resolve_settings
from pytest_octane.simulator import Simulator

TESTS = 3000
FILES = 30
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 2048


def _runs(folder: Path) -> list[TestRun]:
    now = int(time.time() * 1000)
    every = TESTS // FILES
    runs = []
    for i in range(TESTS):
        files: tuple[Attachment, ...] = ()
        error = None
        if i % every == 0:
            path = folder / f"shot-{i}.png"
            path.write_bytes(PNG)
            files = (Attachment(path=str(path), name="failure.png", size=len(PNG)),)
            error = RunError(type="AssertionError", message="boom", trace="trace")
        runs.append(
            TestRun(
                nodeid=f"tests/test_m{i % 6}.py::test_{i}", module="", package="tests",
                klass=f"test_m{i % 6}", name=f"test_{i}",
                status=RunStatus.FAILED if error else RunStatus.PASSED,
                duration_ms=1, started_ms=now + i, error=error, attachments=files,
            )
        )  # fmt: skip
    return runs


def _job(suite: bool) -> int:
    with Simulator(processing_ms=0) as sim, tempfile.TemporaryDirectory() as tmp:
        os.environ["OCTANE_CLIENT_ID"] = sim.client_id
        os.environ["OCTANE_CLIENT_SECRET"] = sim.client_secret
        cli = {
            "space": str(sim.space_id), "url": sim.url, "workspace": str(sim.workspace_id),
            "task_store": str(Path(tmp) / "store"), "spool_dir": str(Path(tmp) / "spool"),
            "root_module": "Automated", "slice_size": "1000",
            "build_server_id": "https://github.com/org/repo", "build_job_id": "ci/test",
            "build_id": "1", "build_url": "https://github.com/org/repo/actions/runs/1",
        }  # fmt: skip
        if suite:
            cli["suite"] = "Team/Nightly"
        outcome = upload_session(resolve_settings(cli=cli, environ={}, ini={}), _runs(Path(tmp)))
        counts = collections.Counter(sim.counters["requests_per_endpoint"])
        sent = len(sim.attachments())
        print(f"\n{'with' if suite else 'without'} a suite: ", end="")
        print("ok" if outcome.ok and sent == FILES else "FAILED", f"({sent} files on runs)")
        for endpoint, count in sorted(counts.items()):
            print(f"{count:5d}  {endpoint}")
        print(f"{sum(counts.values()):5d}  total")
        return 0 if outcome.ok and sent == FILES else 1


def main() -> int:
    return _job(suite=True) | _job(suite=False)


if __name__ == "__main__":
    sys.exit(main())
