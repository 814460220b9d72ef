"""job/run/slices.py: each slice sent, its task id recorded, polled to its end and recorded."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pytest_octane.job.outcome import JobOutcome
from pytest_octane.job.run.context import JobContext, RequestLog, make_client
from pytest_octane.job.run.journaled import prepare_job
from pytest_octane.job.run.slices import poll_slices, submit_slices
from pytest_octane.model import SliceStatus
from pytest_octane.octane.credentials import Credentials
from pytest_octane.settings import Settings
from pytest_octane.simulator import Simulator
from pytest_octane.store import TaskStore


def _send(
    settings: Settings, store: TaskStore, credentials: Credentials, runs: list[Any], **kw: Any
) -> JobContext:
    """Send every slice of a job of ``runs`` and wait for them; the job run's context."""
    job = prepare_job(settings, runs, store)
    lines: list[str] = []
    with make_client(settings, credentials=credentials) as client:
        outcome = JobOutcome(job=job, store_location=store.location)
        ctx = JobContext(settings, store, client, RequestLog(), outcome, lines.append, **kw)
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = submit_slices(ctx, pool, [s.index for s in job.slices], first=True)
            for future in futures:
                future.result(timeout=60)
    return ctx


def _posts(sim: Simulator) -> int:
    return sum(1 for r in sim.request_log if r.method == "POST" and "test-results" in r.path)


def test_each_slice_is_recorded_with_its_task_and_final_state(
    settings: Settings, store: TaskStore, credentials: Credentials, sim: Simulator, make_run: Any
) -> None:
    ctx = _send(settings, store, credentials, [make_run(i) for i in range(1, 4)])
    job = store.get_job(ctx.outcome.job.job_id)
    assert [(s.status, s.server_status, s.attempts) for s in job.slices] == [
        (SliceStatus.SUCCESS, "success", 1),
        (SliceStatus.SUCCESS, "success", 1),
    ]
    assert {s.task_id for s in job.slices} == {t["id"] for t in sim.tasks()}
    assert all(s.sent_at is not None for s in job.slices)
    assert ctx.state.done == 2 and ctx.task_times  # the progress and the task times
    assert _posts(sim) == 2


def test_a_task_octane_fails_fails_its_slice_with_octanes_words(
    settings: Settings, store: TaskStore, credentials: Credentials, sim: Simulator, make_run: Any
) -> None:
    sim.faults.fail_next_tasks(1, error_details="bad run in line 3")
    ctx = _send(settings, store, credentials, [make_run(1)])
    [record] = store.get_job(ctx.outcome.job.job_id).slices
    assert (record.status, record.server_status) == (SliceStatus.FAILED, "failed")
    assert record.error_details == "bad run in line 3"
    assert record.last_error == f"Octane task {record.task_id} ended 'failed'"


def test_a_payload_octane_rejects_fails_its_slice_and_says_what_to_fix(
    settings: Settings, store: TaskStore, credentials: Credentials, sim: Simulator, make_run: Any
) -> None:
    sim.faults.fail_next("POST */test-results", 403, error_code="platform.forbidden")
    ctx = _send(settings, store, credentials, [make_run(1)])
    [record] = store.get_job(ctx.outcome.job.job_id).slices
    assert record.status is SliceStatus.FAILED and record.task_id is None
    assert record.last_error and "403" in record.last_error
    assert ctx.outcome.fix is not None and "no access" in ctx.outcome.fix


def test_a_transient_failure_leaves_the_slice_to_send_again(
    settings_for: Any, store: TaskStore, credentials: Credentials, sim: Simulator, make_run: Any
) -> None:
    settings = settings_for(backoff="0")
    sim.faults.fail_next("POST */test-results", 503, count=100)
    ctx = _send(settings, store, credentials, [make_run(1)], sleep=lambda s: None)
    [record] = store.get_job(ctx.outcome.job.job_id).slices
    assert record.status is SliceStatus.RUNNING and record.task_id is None
    assert record.last_error and "503" in record.last_error
    assert ctx.outcome.fix is None


def test_polling_a_recorded_task_finishes_its_slice_without_sending_it(
    settings: Settings, store: TaskStore, credentials: Credentials, sim: Simulator, make_run: Any
) -> None:
    ctx = _send(settings, store, credentials, [make_run(1)])
    job_id = ctx.outcome.job.job_id
    store.update_slice(job_id, 1, status=SliceStatus.RUNNING, server_status=None)
    posts = _posts(sim)
    with make_client(settings, credentials=credentials) as client:
        job = store.get_job(job_id)
        outcome = JobOutcome(job=job, store_location=store.location)
        again = JobContext(settings, store, client, RequestLog(), outcome, print)
        with ThreadPoolExecutor(max_workers=1) as pool:
            [future] = poll_slices(again, pool, [1])
            assert future.result(timeout=60) is False  # not lost: nothing to send again
    assert _posts(sim) == posts
    assert store.get_job(job_id).slice(1).status is SliceStatus.SUCCESS


def test_a_job_with_a_suite_sends_every_slice_into_its_one_suite_run(
    settings_for: Any, store: TaskStore, credentials: Credentials, sim: Simulator, make_run: Any
) -> None:
    suite = sim.add_test_suite("Nightly")
    settings = settings_for(suite_id=str(suite), external_run_id="run 1")
    _send(
        settings, store, credentials, [make_run(i) for i in range(1, 6)], suite_ref=(suite, "run 1")
    )
    [suite_run] = sim.suite_runs()
    assert (suite_run["suite_id"], suite_run["name"]) == (suite, "run 1")
    assert len(suite_run["run_ids"]) == 5
