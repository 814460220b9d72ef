"""A task Octane forgot (issue 24 point 4): a restart drops its queue, and ``GET
test-results/{id}`` answers 404 for a task id Octane gave us.

That is a lost task, not a missing shared space or workspace: transient, the slice is sent
again with the same bytes (Octane made no runs of it), and ``resume`` finishes what is left.
Only a 404 on the workspace itself stays the permanent "does not exist" error.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from cli_harness import Octane, lines_without_traceback, printed

from pytest_octane.errors import OctaneHTTPError, TaskLost
from pytest_octane.model import SliceStatus
from pytest_octane.octane.client import OctaneClient
from pytest_octane.octane.credentials import Credentials, Secret

RUNS = 10  # the junit_xml fixture
WRONG_CAUSE = "does not exist"


def test_a_task_forgotten_after_its_upload_is_sent_again_at_once(
    octane: Octane, junit_xml: Path
) -> None:
    octane.sim.faults.restart_after_next("POST */test-results")
    done = octane.upload(junit_xml, args=["--slice-size=5", "--max-parallel=1"])
    lines = lines_without_traceback(done.text)
    assert done.code == 0, done.text
    assert not any(WRONG_CAUSE in line for line in lines), done.text
    assert any("Octane no longer has task" in line for line in lines), done.text
    job = octane.only_job()
    assert [s.status for s in job.slices] == [SliceStatus.SUCCESS] * 2
    assert octane.sim.snapshot()["counters"]["forgotten_tasks"] == 1
    assert octane.posts() == 3  # the lost slice twice, the other once
    octane.assert_every_run_once(RUNS)


def test_a_task_forgotten_twice_leaves_the_slice_for_resume(
    octane: Octane, junit_xml: Path
) -> None:
    octane.sim.faults.restart_after_next("POST */test-results", count=2)
    done = octane.upload(junit_xml, args=["--slice-size=10"])
    lines = lines_without_traceback(done.text)
    assert done.code == 1, done.text
    assert not any(WRONG_CAUSE in line or "retry" in line for line in lines), done.text
    record = octane.only_job().slices[0]
    assert (record.status, record.task_id) == (SliceStatus.RUNNING, None)
    assert "Octane no longer has task" in (record.last_error or "")
    again = octane.cli(*printed(done.text, "resume"))
    assert again.code == 0, again.text
    assert octane.only_job().status is SliceStatus.SUCCESS
    octane.assert_every_run_once(RUNS)


@pytest.mark.octane_simulator(processing_ms=60_000)
def test_resume_sends_again_a_recorded_task_that_octane_forgot(
    octane: Octane, junit_xml: Path
) -> None:
    """The upload ends at its poll deadline with the task recorded; Octane restarts; the
    printed ``resume`` polls the task, gets 404, and sends the slice again in the same run."""
    done = octane.upload(junit_xml, args=["--slice-size=10", "--poll-timeout=1"])
    assert done.code == 1, done.text
    recorded = octane.only_job().slices[0].task_id
    assert recorded is not None
    assert octane.sim.faults.restart() == 1
    state = octane.sim._state  # no public knob: the re-sent task is processed at once
    state.config = dataclasses.replace(state.config, processing_ms=0)
    again = octane.cli(*printed(done.text, "resume"))
    lines = lines_without_traceback(again.text)
    assert again.code == 0, again.text
    assert not any(WRONG_CAUSE in line for line in lines), again.text
    record = octane.only_job().slices[0]
    assert record.status is SliceStatus.SUCCESS and record.task_id != recorded
    octane.assert_every_run_once(RUNS)


def test_only_a_missing_workspace_is_the_permanent_404(octane: Octane) -> None:
    """Same request, two causes: an unknown task at the right workspace is lost (transient);
    any task at a workspace that does not exist is the workspace's own 404 (permanent)."""
    sim = octane.sim
    credentials = Credentials(
        source="test", client_id=sim.client_id, client_secret=Secret(sim.client_secret)
    )
    with client(octane, sim.workspace_id, credentials) as right:
        with pytest.raises(TaskLost) as lost:
            right.get_task(424242)
    assert lost.value.transient
    with client(octane, 9999, credentials) as wrong:
        with pytest.raises(OctaneHTTPError) as missing:
            wrong.get_task(424242)
    assert not isinstance(missing.value, TaskLost)
    assert missing.value.status == 404 and "workspace 9999 does not exist" in str(missing.value)
    assert not missing.value.transient


def client(octane: Octane, workspace: int, credentials: Credentials) -> OctaneClient:
    return OctaneClient(
        server=octane.sim.url,
        space_id=octane.sim.space_id,
        workspace_id=workspace,
        credentials=credentials,
        timeout=(5.0, 10.0),
    )
