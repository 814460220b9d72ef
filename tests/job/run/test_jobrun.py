"""job/run/jobrun.py: JobRun sends, polls, links and settles one job; a failure is noted once."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from pytest_octane.errors import ConfigError, ConnectionFailed, UploadInterrupted
from pytest_octane.job.events import UploadState
from pytest_octane.job.interrupt import StopFlag
from pytest_octane.job.run.context import RequestLog, make_client
from pytest_octane.job.run.jobrun import JobRun, fail_unfinished
from pytest_octane.job.run.journaled import prepare_job
from pytest_octane.model import JobRecord, SliceStatus
from pytest_octane.octane.credentials import Credentials
from pytest_octane.settings import Settings
from pytest_octane.simulator import Simulator
from pytest_octane.store import TaskStore

OpenRun = Callable[..., tuple[JobRun, JobRecord]]


@pytest.fixture
def open_run(
    settings: Settings, store: TaskStore, credentials: Credentials, make_run: Any
) -> OpenRun:
    """A JobRun on a recorded job of ``n`` runs (3 slices of at most 2 by default)."""

    def make(
        n: int = 5, *, stop: StopFlag | None = None, job: JobRecord | None = None
    ) -> tuple[JobRun, JobRecord]:
        if job is None:
            job = prepare_job(settings, [make_run(i) for i in range(1, n + 1)], store)
        log = RequestLog()
        client = make_client(settings, credentials=credentials, on_request=log)
        run = JobRun(
            settings,
            store,
            job,
            client,
            request_log=log,
            progress=lambda line: None,
            state=UploadState(),
            stop=stop or StopFlag(),
            sleep=time.sleep,
        )
        return run, job

    return make


def test_a_job_run_sends_every_slice_and_settles_the_job_finished(
    open_run: OpenRun, store: TaskStore, sim: Simulator
) -> None:
    run, job = open_run()
    with run:
        run.send([s.index for s in job.slices])
        run.finish()
    outcome = run.settle()
    assert outcome.job.status is SliceStatus.SUCCESS and outcome.job.finished_at is not None
    assert all(s.task_id is not None for s in outcome.job.slices)
    assert len(sim.runs()) == 5
    assert outcome.elapsed_s > 0
    assert store.read_requests(job.job_id)  # the request log was written at the end


def test_a_job_run_polls_a_slice_sent_earlier_instead_of_sending_it_again(
    open_run: OpenRun, store: TaskStore, sim: Simulator
) -> None:
    run, job = open_run(2)
    with run:
        run.send([1])
        run.finish()
    run.settle()
    task_id = store.get_job(job.job_id).slice(1).task_id
    store.update_slice(job.job_id, 1, status=SliceStatus.RUNNING)  # as if its process died
    posts = sum(1 for r in sim.request_log if r.method == "POST" and "test-results" in r.path)
    again, _ = open_run(job=store.get_job(job.job_id))
    with again:
        again.poll([1])
        again.finish()
    assert (
        sum(1 for r in sim.request_log if r.method == "POST" and "test-results" in r.path) == posts
    )
    assert store.get_job(job.job_id).slice(1).status is SliceStatus.SUCCESS
    assert store.get_job(job.job_id).slice(1).task_id == task_id


def test_after_a_stop_nothing_more_is_sent_and_the_slices_stay_resumable(
    open_run: OpenRun, sim: Simulator
) -> None:
    stop = StopFlag()
    run, job = open_run(stop=stop)
    stop.set()
    with run:
        assert not run.sending
        run.send([s.index for s in job.slices])
        with pytest.raises(UploadInterrupted) as caught:
            run.finish()
    run.note(caught.value, lambda: [s.index for s in job.slices])
    outcome = run.settle()
    assert outcome.interrupted
    assert all(s.status is SliceStatus.RUNNING for s in outcome.job.slices)
    assert not any("test-results" in r.path for r in sim.request_log)


def test_a_connection_failure_keeps_the_job_resumable(open_run: OpenRun) -> None:
    run, job = open_run()
    run.note(
        ConnectionFailed("no route to host", url="http://127.0.0.1:9"),
        lambda: [s.index for s in job.slices],
    )
    outcome = run.settle()
    assert outcome.error and not outcome.interrupted and outcome.fix is None
    assert all(s.status is SliceStatus.RUNNING for s in outcome.job.slices)


def test_a_permanent_error_fails_the_unfinished_slices_and_says_what_to_fix(
    open_run: OpenRun, store: TaskStore
) -> None:
    run, job = open_run()
    store.update_slice(job.job_id, 1, status=SliceStatus.SUCCESS, task_id=1)
    run.note(ConfigError("bad setting"), lambda: [s.index for s in job.slices])
    outcome = run.settle()
    assert [s.status for s in outcome.job.slices] == [
        SliceStatus.SUCCESS,
        SliceStatus.FAILED,
        SliceStatus.FAILED,
    ]
    assert outcome.fix and outcome.job.finished_at is not None


def test_fail_unfinished_leaves_slices_outside_the_run_alone(
    settings: Settings, store: TaskStore, make_run: Any
) -> None:
    from pytest_octane.job.outcome import JobOutcome

    job = prepare_job(settings, [make_run(i) for i in range(1, 6)], store)
    outcome = JobOutcome(job=job, store_location=store.location)
    fail_unfinished(store, outcome, settings, ConfigError("bad"), [2])
    assert [s.status for s in outcome.job.slices] == [
        SliceStatus.RUNNING,
        SliceStatus.FAILED,
        SliceStatus.RUNNING,
    ]
    assert outcome.job.slice(2).last_error == "bad"
