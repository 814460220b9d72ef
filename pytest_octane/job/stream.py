"""Streaming uploads (``--octane-stream=on``): slices are sent while the tests still run.

The plugin hands each full slice of final results to :meth:`SliceStream.put` (a queue
append, nothing else). One background thread spools it and records it in the job (the
first slice creates the job) before any request, so a crash leaves every spooled slice
resumable, then queues it on a pool of ``maxParallelUploads`` workers that keep their slot
until the task is final, as a session-end upload does. :meth:`SliceStream.finish` hands over
the rest, waits for the thread (Ctrl-C stops sending, as in ``execute_job``) and returns the
job's outcome.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from pytest_octane.errors import (
    ConfigError,
    CredentialsError,
    OctaneError,
)
from pytest_octane.job import coord
from pytest_octane.job.engine import (
    _exit_line,
    _fail_unfinished,
    attach_budget,
    close_run,
    new_job_id,
    note_failure,
    open_job,
    settle,
    spool_records,
)
from pytest_octane.job.events import Progress, UploadState
from pytest_octane.job.interrupt import StopFlag, ctrl_c, wait_all
from pytest_octane.job.outcome import JobOutcome
from pytest_octane.job.run.context import (
    CredentialsHook,
    JobContext,
    RequestLog,
    make_client,
)
from pytest_octane.job.run.links import link_runs
from pytest_octane.job.run.slices import STOPPING, submit_slices
from pytest_octane.model import JobRecord, TestRun
from pytest_octane.settings import Settings
from pytest_octane.store import TaskStore

__all__ = ["SliceStream"]

log = logging.getLogger("pytest_octane.job.stream")

#: how often the main thread looks for Ctrl-C while it waits for the uploader
_TICK_S = 0.2


class SliceStream:
    """One session's streaming upload; ``put`` from the hooks, ``finish`` at session end."""

    def __init__(
        self,
        settings: Settings,
        *,
        hook: CredentialsHook | None = None,
        progress: Progress | None = None,
        state: UploadState | None = None,
    ) -> None:
        self.settings = settings
        self.hook = hook
        self.progress: Progress = progress or (lambda line: log.info("%s", line))
        self.state = state or UploadState()
        self.job_id = new_job_id()
        self.stop = StopFlag()
        self._queue: queue.SimpleQueue[list[TestRun] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._main, name="octane-stream", daemon=True)
        self._outcome: JobOutcome | None = None
        self._crash: BaseException | None = None
        self._warning: str | None = None
        self._ended = False  # the uploader took finish()'s end marker
        self.finishing = False
        self._job: JobRecord | None = None  # for the exit line of a second Ctrl-C
        self._store_location = ""

    def start(self) -> None:
        self._thread.start()

    def put(self, runs: Sequence[TestRun]) -> None:
        """Hand over one full slice of final results (never blocks)."""
        self._queue.put(list(runs))

    def finish(self, rest: Sequence[TestRun]) -> JobOutcome:
        """Hand over the last results, wait for every slice to end, return the outcome."""
        self.finishing = True
        self._queue.put(list(rest))
        self._queue.put(None)

        def exit_line() -> str:
            if self._job is None:
                return "pytest-octane: Ctrl-C again: stopped at once"
            return _exit_line(JobOutcome(job=self._job, store_location=self._store_location))

        with ctrl_c(self.stop, exit_line):
            while self._thread.is_alive():  # bounded: the uploader's requests have deadlines
                self._thread.join(_TICK_S)
        if self._crash is not None:
            raise self._crash
        assert self._outcome is not None
        if self._warning:
            self._outcome.warnings.insert(0, self._warning)
        return self._outcome

    # -- the uploader thread

    def _main(self) -> None:
        try:
            self._outcome = self._run()
        except BaseException as exc:  # re-raised in the main thread by finish()
            self._crash = exc
            self._drain()

    def _take(self) -> list[TestRun] | None:
        runs = self._queue.get()
        self._ended = runs is None
        return runs

    def _drain(self) -> None:
        while not self._ended:
            self._take()

    def _run(self) -> JobOutcome:
        first = self._take()
        if first is None:  # pragma: no cover - finish() always hands over a list first
            first = []
        settings, store, job, self._warning = open_job(self.settings, first, self.job_id)
        self.settings = settings
        self._job, self._store_location = job, store.location
        try:
            with coord.job_lock(store, job.job_id):
                return self._upload(store, job)
        finally:
            store.close()

    def _spool(self, store: TaskStore, job: JobRecord, runs: Sequence[TestRun]) -> list[int]:
        """Spool ``runs`` as the job's next slice(s) and record them; return their indexes."""
        if not runs:
            return []
        first_index = max((s.index for s in job.slices), default=0) + 1
        run_id = job.settings.get("external_run_id")
        header_settings = replace(self.settings, external_run_id=run_id) if run_id else None
        folder = Path(self.settings.spool_dir) / job.job_id
        records = spool_records(
            self.settings,
            folder,
            runs,
            header_settings or self.settings,
            first_index=first_index,
        )
        store.add_slices(job.job_id, records)
        return [r.index for r in records]

    def _upload(self, store: TaskStore, job: JobRecord) -> JobOutcome:
        started = time.monotonic()
        settings = self.settings
        outcome = JobOutcome(job=job, store_location=store.location)
        state = self.state
        if not state.has_listeners:
            state.listen(lambda _s, event, notable: self.progress(event) if notable else None)
        request_log = RequestLog()
        error: OctaneError | None = None
        try:
            client = make_client(
                settings,
                hook=self.hook,
                on_request=request_log,
                on_wait=state.waited,
                sleep=self.stop.sleeper(time.sleep),
            )
        except (ConfigError, CredentialsError) as exc:
            # spool every slice all the same: the summary says how to send them later
            while (runs := self._take()) is not None:
                self._spool(store, store.get_job(job.job_id), runs)
            indexes = [s.index for s in store.get_job(job.job_id).slices]
            _fail_unfinished(store, outcome, settings, exc, indexes)
            outcome.elapsed_s = time.monotonic() - started
            return outcome
        ctx = JobContext(
            settings,
            store,
            client,
            request_log,
            outcome,
            self.progress,
            self.stop.sleeper(time.sleep),
            state,
            self.stop,
        )
        attach_budget(ctx, job)
        futures: list[Future[None]] = []
        try:
            with (
                client,
                ThreadPoolExecutor(
                    max_workers=settings.max_parallel, thread_name_prefix="octane-upload"
                ) as pool,
            ):
                error = self._send_all(ctx, store, pool, futures)
                wait_all(
                    futures, self.stop, lambda: ctx.progress(STOPPING.format(client.deadline_s))
                )
                if error is not None:
                    raise error
                self.stop.check()
                link_runs(ctx)
        except OctaneError as exc:
            note_failure(ctx, exc, lambda: [s.index for s in store.get_job(job.job_id).slices])
        finally:
            close_run(ctx)
        return settle(ctx, job.job_id, started)

    def _send_all(
        self,
        ctx: JobContext,
        store: TaskStore,
        pool: ThreadPoolExecutor,
        futures: list[Future[None]],
    ) -> OctaneError | None:
        """Spool and queue every slice handed over until ``finish``; the first error stops
        the sending (every later slice is still spooled and recorded, for ``resume``)."""
        job_id = ctx.outcome.job.job_id
        indexes = [s.index for s in ctx.outcome.job.slices]
        first = True
        error: OctaneError | None = None
        while True:
            if indexes and error is None and not self.stop.is_set:
                try:
                    futures.extend(submit_slices(ctx, pool, indexes, first=first))
                    first = False
                except OctaneError as exc:
                    error = exc
            runs = self._take()
            if runs is None:
                return error
            indexes = self._spool(store, store.get_job(job_id), runs)
