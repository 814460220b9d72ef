"""JobRun: one run of one job, the object every front end drives.

The uploader process (slices queued as the journal grows), ``resume``, ``retry``, ``upload``
and the jobs page's button (the slices the job already has) all do the same thing through it:
open it on a job with a client, queue slices to send and tasks to poll on its pool of
``maxParallelUploads`` workers, wait, link coverage, and settle the outcome.  What it carries
between those steps (store, client, stories looked up, the queue budget...) is its
:class:`JobContext`; a failure is noted once, as the outcome says it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any

from pytest_octane.errors import OctaneError, UploadInterrupted
from pytest_octane.job.coord import QueueBudget, pool_name
from pytest_octane.job.events import Progress, UploadState
from pytest_octane.job.evidence.attachments import send_attachments
from pytest_octane.job.interrupt import StopFlag, wait_all
from pytest_octane.job.outcome import JobOutcome
from pytest_octane.job.run.context import JobContext, RequestLog, flush_log
from pytest_octane.job.run.links import link_runs, look_ahead
from pytest_octane.job.run.slices import STOPPING, poll_slices, submit_slices
from pytest_octane.job.spool import SpooledRun
from pytest_octane.model import JobRecord, SliceStatus
from pytest_octane.octane.client import OctaneClient
from pytest_octane.settings import Settings
from pytest_octane.store import TaskStore

__all__ = ["JobRun", "fail_unfinished"]


class JobRun:
    """Send, poll, link and settle one job; use it as a context manager around the sending."""

    def __init__(
        self,
        settings: Settings,
        store: TaskStore,
        job: JobRecord,
        client: OctaneClient,
        *,
        request_log: RequestLog,
        progress: Progress,
        state: UploadState,
        stop: StopFlag,
        sleep: Callable[[float], None],
    ) -> None:
        self.started = time.monotonic()
        self.outcome = JobOutcome(job=job, store_location=store.location)
        self.ctx = JobContext(
            settings, store, client, request_log, self.outcome, progress, sleep, state, stop
        )
        if settings.queue_budget is not None:
            self.ctx.budget = QueueBudget(
                store,
                pool_name(job.server, job.space_id),
                settings.queue_budget,
                deadline_s=settings.queue_full_deadline,
            )
        self.stop = stop
        #: what stopped the sending (the slices after it are still recorded, for ``resume``)
        self.error: OctaneError | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._futures: list[Future[None]] = []
        self._polled: list[tuple[int, Future[bool]]] = []
        self._first = True

    def __enter__(self) -> JobRun:
        self.ctx.client.__enter__()
        self._pool = ThreadPoolExecutor(
            max_workers=self.ctx.settings.max_parallel, thread_name_prefix="octane-upload"
        )
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
        finally:
            self.ctx.client.__exit__(kind, exc, tb)

    @property
    def sending(self) -> bool:
        return self.error is None and not self.stop.is_set

    def look_ahead(self, tests: Sequence[SpooledRun]) -> None:
        """Sign in, look up the stories and make the modules and suite of tests to come."""
        if self.sending:
            self._guarded(lambda: look_ahead(self.ctx, tests))

    def send(self, indexes: Sequence[int], *, total: int | None = None) -> None:
        """Queue slices ``indexes`` (spooled and recorded) to be sent and polled; ``total``:
        how many slices the progress counts (default: every slice the job has)."""
        if indexes and self.sending:
            pool = self._pool
            assert pool is not None, "send() inside 'with JobRun(...)'"
            first, self._first = self._first, False

            def submit() -> None:
                queued = submit_slices(self.ctx, pool, indexes, first=first, total=total)
                self._futures.extend(queued)

            self._guarded(submit)

    def poll(self, indexes: Sequence[int]) -> None:
        """Queue the tasks of slices ``indexes`` (sent earlier) to be polled to their end."""
        if indexes:
            assert self._pool is not None, "poll() inside 'with JobRun(...)'"
            polled = poll_slices(self.ctx, self._pool, indexes)
            self._polled.extend(zip(indexes, polled, strict=True))

    def finish(self, *, link_hint: bool = False, files: Sequence[int] = ()) -> None:
        """Wait for every queued slice, then link the runs to their stories (raises what
        stopped the sending).  ``link_hint``: a linking error says how to link later;
        ``files``: slices that succeeded earlier whose attached files are still to send."""
        self._wait()
        # a polled task Octane has forgotten: its slice is sent again (the same bytes), the
        # progress total unchanged
        lost = [index for index, future in self._polled if future.result()]
        self._polled.clear()
        if lost:
            self.stop.check()
            self.send(lost, total=self.ctx.state.total)
            self._wait()
        if self.error is not None:
            raise self.error
        send_attachments(self.ctx, files, resumed=True)  # issue 23
        self.stop.check()
        try:
            link_runs(self.ctx)
        except OctaneError as exc:
            if not link_hint:
                raise
            raise OctaneError(
                f"the runs were uploaded but not linked to their stories: {exc}; "
                f"run '{self.outcome.resume_command()}' to link them"
            ) from exc

    def _wait(self) -> None:
        client = self.ctx.client
        futures: list[Future[Any]] = [*self._futures, *(f for _, f in self._polled)]
        self._futures = []
        wait_all(futures, self.stop, lambda: self.ctx.progress(STOPPING.format(client.deadline_s)))

    def note(self, exc: OctaneError, unfinished: Callable[[], Sequence[int]]) -> None:
        """What stopped the run, in its outcome: a permanent error fails the ``unfinished``
        slices (with what to fix); Ctrl-C and transient trouble leave them resumable."""
        outcome = self.outcome
        if isinstance(exc, UploadInterrupted):
            outcome.interrupted = True
            outcome.error = UploadInterrupted(
                "interrupted (Ctrl-C): no more slices were sent; every slice's state is recorded"
            )
        elif exc.transient:
            outcome.error = exc
        else:
            fail_unfinished(self.ctx.store, outcome, self.ctx.settings, exc, unfinished())

    def settle(self) -> JobOutcome:
        """Write the request log, give back the queue slots; the outcome with the job as
        stored (a job with nothing left Running is finished)."""
        ctx, outcome = self.ctx, self.outcome
        flush_log(ctx)
        if ctx.budget is not None:
            ctx.budget.close()
        job = ctx.store.get_job(outcome.job.job_id)
        if job.status is not SliceStatus.RUNNING:
            ctx.store.finish_job(job.job_id, time.time())
            job = ctx.store.get_job(job.job_id)
        outcome.job = job
        outcome.elapsed_s = time.monotonic() - self.started
        return outcome

    def _guarded(self, step: Callable[[], None]) -> None:
        try:
            step()
        except OctaneError as exc:
            self.error = exc


def fail_unfinished(
    store: TaskStore,
    outcome: JobOutcome,
    settings: Settings,
    exc: OctaneError,
    indexes: Sequence[int],
) -> None:
    """A permanent error: mark this run's unfinished slices Failed and say what to fix.

    A resume would only repeat the error; marked ``Failed``, the slices are re-uploaded by
    ``retry`` once the cause is fixed (a recorded task id is looked up first, never lost).
    """
    job_id = outcome.job.job_id
    outcome.error = exc
    outcome.fix = outcome.hint(exc, settings)
    job = store.get_job(job_id)
    for index in indexes:
        if job.slice(index).status is not SliceStatus.SUCCESS:
            store.update_slice(job_id, index, status=SliceStatus.FAILED, last_error=str(exc))
    job = store.get_job(job_id)
    if job.status is not SliceStatus.RUNNING:
        store.finish_job(job_id, time.time())
    outcome.job = store.get_job(job_id)
