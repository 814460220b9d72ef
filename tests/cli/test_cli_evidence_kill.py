"""Attached files survive a kill of the pytest process and ``resume`` sends them (issue 23).

The simulator delays the run lookup that comes right after a slice's task succeeded, so the
process is surely between "slice Success in the store" and "files sent" when it is killed.
Every wait is bounded.
"""

from __future__ import annotations

import os
import signal

import pytest
from cli_harness import SUBPROCESS_TIMEOUT, Octane, wait_until

from pytest_octane.model import SliceStatus
from pytest_octane.octane.client import OctaneClient
from pytest_octane.octane.credentials import Credentials, Secret

SUITE = """
import pytest_octane

def test_one():
    pytest_octane.attach(b"first", name="one.txt")

def test_two(octane_attach):
    octane_attach(b"second", name="two.log", description="kept")
"""


@pytest.mark.parametrize("backend", ["json", "sqlite", "postgresql"], indirect=True)
def test_files_of_a_killed_upload_are_sent_by_resume(octane: Octane) -> None:
    folder = octane.root / "suite"
    folder.mkdir()
    (folder / "test_files.py").write_text(SUITE)
    octane.sim.faults.add_latency("GET */tests", 60_000)
    process = octane.start_pytest(folder, "--octane-poll-timeout=30")
    try:
        wait_until(
            lambda: _succeeded(octane) or process.poll() is not None,
            timeout=SUBPROCESS_TIMEOUT,
            what="the slice's task to succeed",
        )
        assert process.poll() is None, "pytest ended before the files were sent"
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=SUBPROCESS_TIMEOUT)
    assert octane.sim.attachments() == []
    octane.sim.faults.clear()
    # one file reached Octane, but its answer was lost with the process: resume must see it
    run_id = next(r["id"] for r in octane.sim.runs() if r["name"] == "test_one")
    with OctaneClient(
        server=octane.sim.url,
        space_id=octane.sim.space_id,
        workspace_id=octane.sim.workspace_id,
        credentials=Credentials(
            source="test",
            client_id=octane.sim.client_id,
            client_secret=Secret(octane.sim.client_secret),
        ),
        timeout=(5.0, 30.0),
    ) as client:
        client.create_run_attachment(run_id, "one.txt", b"first")
    (job,) = octane.jobs()
    status = octane.cli("status", job.job_id, f"--task-store={octane.store}")
    assert "attachments: 2 pending" in status.out
    before = len(octane.sim.attachments())
    done = octane.cli("resume", job.job_id, f"--task-store={octane.store}")
    assert done.code == 0, done.text
    assert before == 1
    assert sorted(a["name"] for a in octane.sim.attachments()) == ["one.txt", "two.log"]
    status = octane.cli("status", job.job_id, f"--task-store={octane.store}")
    assert "attachments: 2 sent" in status.out
    assert octane.cli("resume", job.job_id, f"--task-store={octane.store}").code == 0
    assert len(octane.sim.attachments()) == 2  # nothing is sent twice


def _succeeded(octane: Octane) -> bool:
    jobs = octane.jobs()
    return (
        bool(jobs)
        and all(s.status is SliceStatus.SUCCESS for s in jobs[0].slices)
        and bool(jobs[0].slices)
    )
