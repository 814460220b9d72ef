"""``pytest-octane resume`` after pytest and its uploader process were SIGKILLed mid-upload.

The kill lands while some slices have a task id and some have none (the store is polled for
that moment); ``resume`` must poll the first kind, send the second kind, and leave every run
in Octane exactly once.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from cli_harness import Octane, lines_without_traceback, wait_until

from pytest_octane.job.journal import read_journal
from pytest_octane.job.run.journaled import journal_of
from pytest_octane.model import JobRecord, RequestLogEntry, SliceStatus

BACKENDS = ["json", "sqlite", "postgresql"]
TESTS = 3000  # write_suite(params=2997): 2997 + 3 items
SLICE = 200
LOST_ANSWER_MS = 400
# Every POST of results waits this long in the simulator while pytest runs, so that slices
# queue behind the two parallel uploads: unpaced, a streaming uploader keeps up with the
# tests and the half-sent moment can pass between two reads of the store on a busy machine.
PACING_MS = 100


def half_sent(octane: Octane) -> JobRecord | None:
    jobs = octane.jobs()
    if not jobs:
        return None
    ids = [s.task_id for s in jobs[0].slices]
    if any(i is not None for i in ids) and any(i is None for i in ids):
        return jobs[0]
    return None


def posted_results(octane: Octane, job_id: str, *, since: float) -> list[RequestLogEntry]:
    """The test-results POSTs the job's request log holds from ``since`` on."""
    opened = octane.open_store()
    try:
        log = opened.read_requests(job_id)
    finally:
        opened.close()
    return [e for e in log if e.time >= since and e.method == "POST" and "test-results" in e.url]


@pytest.mark.octane_simulator(processing_ms=60)
@pytest.mark.parametrize(
    ("backend", "stream"),
    [*((backend, "on") for backend in BACKENDS), ("json", "off")],
    indirect=["backend"],
)
def test_resume_finishes_a_killed_upload_with_every_run_once(octane: Octane, stream: str) -> None:
    suite = octane.write_suite(params=TESTS - 3)
    octane.sim.faults.add_latency("POST */test-results", PACING_MS)
    process = octane.start_pytest(
        suite,
        f"--octane-stream={stream}",
        f"--octane-slice-size={SLICE}",
        "--octane-max-parallel=2",
        "--octane-root-module=Shop",
        "-p",
        "no:xdist",
    )
    try:
        wait_until(lambda: half_sent(octane) is not None, timeout=60, what="half-sent slices")
        # hold the next POST in the simulator, then kill the client while it waits for the
        # answer: Octane gets a task whose id the killed process never records
        octane.sim.faults.add_latency("POST */test-results", LOST_ANSWER_MS, count=1)
        wait_until(
            lambda: len(octane.sim.faults.pending()["rules"]) == 1,  # the pacing is left
            timeout=60,
            what="a held POST",
        )
        os.killpg(process.pid, signal.SIGKILL)  # pytest and its uploader process alike
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        octane.sim.faults.clear()  # a POST held already keeps its delay
    posts_at_kill = octane.posts()
    wait_until(lambda: octane.posts() > posts_at_kill, timeout=30, what="the held POST")
    octane.sim.wait_for_tasks()
    job = octane.only_job()
    assert job.finished_at is None
    assert all(s.status is not SliceStatus.FAILED for s in job.slices)
    sent = {s.index for s in job.slices if s.task_id is not None}
    unsent = {s.index for s in job.slices if s.task_id is None}
    assert sent and unsent, "the kill did not land in the middle of the upload"
    if stream == "off":  # everything was spooled before the first POST
        expected = TESTS
        assert len(job.slices) == -(-TESTS // SLICE)
        assert len(octane.sim.runs()) < expected
    else:  # the kill may land while tests still run: every journaled result must arrive
        path = journal_of(job)
        assert path is not None
        expected = len(read_journal(path).runs)
        spooled = sum(s.run_count for s in job.slices)
        assert all(s.run_count == SLICE for s in job.slices[:-1])
        assert spooled == TESTS or job.slices[-1].run_count == SLICE
        assert spooled <= expected
    assert len(octane.sim.tasks()) > len(sent), "no task was lost with the killed process"
    store = f"--task-store={octane.store}"

    status = octane.cli("status", job.job_id, store)
    assert status.code == 1, status.text
    assert status.out.startswith(f"job {job.job_id}: Running")
    running = sum(1 for s in job.slices if s.status is SliceStatus.RUNNING)
    listed = octane.cli("jobs", store)
    assert listed.out.splitlines()[1].split()[-3:] == [
        str(len(job.slices) - running),
        "0",
        str(running),
    ]

    retry_started = time.time()
    retried = octane.cli("retry", job.job_id, store)  # nothing Failed: retry sends nothing
    assert retried.code == 1, retried.text
    assert "to finish the upload later run: pytest-octane resume" in retried.out
    # the retry's own request log: a POST the killed process sent may still reach the server
    assert not posted_results(octane, job.job_id, since=retry_started)

    started = time.time()
    resumed = octane.cli("resume", job.job_id, store, "--max-parallel=4")  # beats the job's 2
    assert resumed.code == 0, resumed.text
    lines_without_traceback(resumed.err)
    after = octane.only_job()
    cut = {s.index for s in after.slices} - {s.index for s in job.slices}  # from the journal
    assert after.status is SliceStatus.SUCCESS
    assert after.finished_at is not None
    for index in sent:
        assert after.slice(index).task_id == job.slice(index).task_id, "a sent slice was resent"
    # the resuming process POSTed each unsent slice once (an identical re-POST of a slice
    # whose answer the killed process never recorded gets its original task back), and each
    # slice it cut from the journal's results that no slice held yet
    assert len(posted_results(octane, job.job_id, since=started)) == len(unsent) + len(cut)
    assert octane.sim.counters["from_older_push"] >= 1, "the lost task was not found again"
    tasks = octane.sim.tasks()
    assert len(tasks) == len(after.slices), "some slice became two Octane tasks"
    assert sorted(t["id"] for t in tasks) == sorted(s.task_id for s in after.slices)  # type: ignore[type-var]
    octane.assert_every_run_once(expected)
    assert len({tuple(r["product_areas"]) for r in octane.sim.runs()}) == 1  # all linked alike
    assert [e["event"] for e in after.history] == ["resume"]
    assert sorted(after.history[0]["slices"]) == sorted(
        {s.index for s in job.slices if s.status is SliceStatus.RUNNING} | cut
    )

    again = octane.cli("resume", job.job_id, store)
    assert again.code == 0, again.text
    assert len(octane.sim.tasks()) == len(after.slices)
    octane.assert_every_run_once(expected)
    octane.assert_no_secret(status.text, retried.text, resumed.text, again.text)
