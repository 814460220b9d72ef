"""The jobs page tests' world: a simulator, a task store with a job, and a served page.

Kept out of ``conftest.py`` so test modules can import it by a name no other folder uses.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pytest_octane import cli
from pytest_octane.cli.common import open_task_store
from pytest_octane.model import JobRecord, SliceStatus
from pytest_octane.store import TaskStore, open_store
from pytest_octane.web.server import JobsServer
from tests.octane_env import OctaneEnv

__all__ = ["CSRF_FIELD", "JUNIT", "UPLOAD_FAST", "World", "csrf_of", "in_ci", "slice_statuses"]

#: Four test cases: with --slice-size=2 a job of two slices.
JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="4" failures="1" errors="0" skipped="0">
<testcase classname="test_shop.TestBasket" name="test_empty" time="0.010"/>
<testcase classname="test_shop.TestBasket" name="test_total" time="0.020"/>
<testcase classname="test_shop.TestBasket" name="test_discount" time="0.030">
<failure message="discount must never be negative">assert 2 == 3</failure></testcase>
<testcase classname="test_shop" name="test_ping" time="0.001"/>
</testsuite></testsuites>
"""
#: Short waits so a queue-full or transient retry costs tenths of a second, not minutes.
UPLOAD_FAST = ("--queue-full-retry=0.1", "--poll-timeout=30", "--backoff=0.05")
CSRF_FIELD = re.compile(r'<input type="hidden" name="csrf" value="([^"]+)">')


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@dataclass(slots=True)
class World(OctaneEnv):
    """``octane_env`` with a task store holding jobs, and the jobs page over it."""

    def open_store(self) -> TaskStore:
        return open_store(self.store)

    def job(self, job_id: str) -> JobRecord:
        store = self.open_store()
        try:
            return store.get_job(job_id)
        finally:
            store.close()

    def job_count(self) -> int:
        store = self.open_store()
        try:
            return len(store.scan_jobs().jobs)
        finally:
            store.close()

    def results_posts(self) -> int:
        """Test-result uploads the simulator has answered so far."""
        return sum(
            1
            for r in self.sim.request_log
            if r.method == "POST" and r.path.endswith("/test-results")
        )

    def upload_with_a_failed_slice(self, error_details: str | None = None) -> JobRecord:
        """``pytest-octane upload`` of four runs in two slices; the first task fails."""
        junit = self.root / "junit.xml"
        junit.write_text(JUNIT, encoding="utf-8")
        self.sim.faults.fail_next_tasks(1, error_details=error_details)
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            code = cli.main(
                [
                    "upload",
                    str(junit),
                    *self.cli_args("--slice-size=2", "--max-parallel=1", *UPLOAD_FAST),
                ]
            )
        assert code == 1, out.getvalue()
        store = self.open_store()
        try:
            (job,) = store.list_jobs()
        finally:
            store.close()
        states = sorted(s.status for s in job.slices)
        assert states == [SliceStatus.FAILED, SliceStatus.SUCCESS], out.getvalue()
        return job

    @contextlib.contextmanager
    def serve(
        self, *options: str, token: str | None = None, quiet: bool = True
    ) -> Iterator[JobsServer]:
        """``pytest-octane serve OPTIONS`` on a free loopback port, in a thread."""
        args = cli.build_parser().parse_args(
            [
                "serve",
                f"--task-store={self.store}",
                "--port=0",
                "--read-timeout=30",
                *options,
            ]
        )
        store: TaskStore = open_task_store(args)
        try:
            with JobsServer(args, store, port=0, token=token, quiet=quiet) as server:
                yield server
        finally:
            store.close()


def csrf_of(page: str) -> str:
    """The CSRF token of the page's re-upload form."""
    found: list[str] = CSRF_FIELD.findall(page)
    assert len(found) == 1, "the job page has no (or several) re-upload forms"
    return found[0]


def slice_statuses(job: JobRecord) -> Sequence[SliceStatus]:
    return [s.status for s in sorted(job.slices, key=lambda s: s.index)]
