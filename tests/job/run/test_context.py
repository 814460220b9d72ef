"""job/run/context.py: the job's client, its request log, and what a job run carries."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from pytest_octane.errors import CredentialsError
from pytest_octane.job.events import UploadState
from pytest_octane.job.outcome import JobOutcome
from pytest_octane.job.run.context import (
    TYPICAL_OF_LAST,
    JobContext,
    RequestLog,
    flush_log,
    make_client,
    module_resolver,
    update_slice,
)
from pytest_octane.job.run.journaled import prepare_job
from pytest_octane.model import RequestLogEntry, SliceStatus
from pytest_octane.octane.credentials import Credentials
from pytest_octane.settings import Settings
from pytest_octane.simulator import Simulator
from pytest_octane.store import TaskStore


def _entry(n: int) -> RequestLogEntry:
    return RequestLogEntry(
        time=float(n), method="GET", url=f"/x/{n}", status=200, duration_ms=1, correlation_id="c"
    )


def test_the_request_log_hands_out_each_entry_once_whatever_thread_wrote_it() -> None:
    log = RequestLog()
    threads = [threading.Thread(target=log, args=(_entry(n),)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(e.url for e in log.drain()) == sorted(f"/x/{n}" for n in range(20))
    assert log.drain() == []


def test_make_client_signs_in_with_the_credentials_it_is_given(
    settings: Settings, sim: Simulator, credentials: Credentials
) -> None:
    log = RequestLog()
    with make_client(settings, credentials=credentials, on_request=log) as client:
        client.sign_in()
        assert client.signed_in
    assert any("sign_in" in entry.url for entry in log.drain())


def test_make_client_without_credentials_anywhere_says_so(settings: Settings) -> None:
    with pytest.raises(CredentialsError):
        make_client(settings, environ={}, hook=lambda: None)


def _context(settings: Settings, store: TaskStore, client: Any) -> JobContext:
    job = prepare_job(settings, [], store)
    outcome = JobOutcome(job=job, store_location=store.location)
    return JobContext(settings, store, client, RequestLog(), outcome, lambda line: None)


def test_a_job_context_keeps_the_median_task_time_and_starts_from_a_quick_guess(
    settings: Settings, store: TaskStore
) -> None:
    ctx = _context(settings, store, object())
    assert ctx.typical_task_s() == 0.05
    for seconds in (3.0, 1.0, 2.0):
        ctx.task_took(seconds)
    assert ctx.typical_task_s() == 2.0
    assert isinstance(ctx.state, UploadState) and not ctx.stop.is_set


def test_the_typical_task_time_follows_the_last_tasks_not_a_slow_start(
    settings: Settings, store: TaskStore
) -> None:
    ctx = _context(settings, store, object())
    for seconds in (30.0,) * 5 + (2.0,) * TYPICAL_OF_LAST:
        ctx.task_took(seconds)
    assert ctx.typical_task_s() == 2.0


def test_flush_log_writes_the_request_log_to_the_store_and_empties_it(
    settings: Settings, store: TaskStore
) -> None:
    ctx = _context(settings, store, object())
    ctx.request_log(_entry(1))
    ctx.request_log(_entry(2))
    flush_log(ctx)
    flush_log(ctx)  # nothing left: nothing written twice
    entries = store.read_requests(ctx.outcome.job.job_id)
    assert [e.url for e in entries] == ["/x/1", "/x/2"]


def test_update_slice_changes_the_slice_of_this_job(
    settings: Settings, store: TaskStore, make_run: Any
) -> None:
    job = prepare_job(settings, [make_run(1), make_run(2), make_run(4)], store)
    outcome = JobOutcome(job=job, store_location=store.location)
    ctx = JobContext(settings, store, Any, RequestLog(), outcome, print)
    update_slice(ctx, 2, status=SliceStatus.FAILED, last_error="no")
    slices = store.get_job(job.job_id).slices
    assert [(s.index, s.status) for s in slices] == [
        (1, SliceStatus.RUNNING),
        (2, SliceStatus.FAILED),
    ]


def test_module_resolver_is_made_once_per_job_run(
    settings: Settings, store: TaskStore, sim: Simulator, credentials: Credentials
) -> None:
    with make_client(settings, credentials=credentials) as client:
        ctx = _context(settings, store, client)
        resolver = module_resolver(ctx)
        assert module_resolver(ctx) is resolver
        first = resolver.ensure("Area", None)
        assert resolver.ensure("Area", None) == first
    names = [m["name"] for m in sim.application_modules()]
    assert names.count("Area") == 1
