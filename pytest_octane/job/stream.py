"""Streaming uploads (``--octane-stream=on``): slices are sent while the tests still run.

At the end of collection the plugin hands over where the collected tests sit and the JIRA
keys they carry (:meth:`SliceStream.expect`): the background thread signs in, looks up their
stories and makes their modules and the job's suite while the first tests run. Then it hands
each full slice of final results to :meth:`SliceStream.put` (a queue append, nothing else).
The thread spools it and records it in the job (the
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
import warnings
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
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
from pytest_octane.job.run.links import link_runs, look_ahead
from pytest_octane.job.run.slices import STOPPING, submit_slices
from pytest_octane.job.spool import SpooledRun
from pytest_octane.model import JobRecord, TestRun
from pytest_octane.octane.client import OctaneClient, ignore_unverified_request_warnings
from pytest_octane.settings import Settings
from pytest_octane.store import TaskStore

__all__ = ["Collected", "SliceStream"]

log = logging.getLogger("pytest_octane.job.stream")

#: how often the main thread looks for Ctrl-C while it waits for the uploader
_TICK_S = 0.2
#: said when the tests are over and the uploader still works (a Ctrl-C from now on stops it)
FINISHING = "the tests are done; finishing the upload (Ctrl-C stops sending)"
#: how long an abandoned session waits for the uploader to record what it was given
_ABANDON_S = 30.0


@dataclass(frozen=True)
class Collected:
    """The end of collection: where the tests to run sit and which JIRA keys they carry
    (none under pytest-xdist, whose controller collects nothing: then only the sign-in is
    done early)."""

    tests: tuple[SpooledRun, ...]


_Message = Collected | list[TestRun] | None


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
        self._queue: queue.SimpleQueue[_Message] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._main, name="octane-stream", daemon=True)
        self._outcome: JobOutcome | None = None
        self._crash: BaseException | None = None
        self._warning: str | None = None
        self._ended = False  # the uploader took finish()'s end marker
        self._handed_over = False  # put() was called: slices may still be on their way
        self.finishing = False
        self._job: JobRecord | None = None  # for the exit line of a second Ctrl-C
        self._store_location = ""
        self._request_log = RequestLog()
        self._client: OctaneClient | None = None
        self._client_error: ConfigError | CredentialsError | None = None
        self._warnings: list[warnings.WarningMessage] = []

    def start(self) -> None:
        """Make the client here, in the main thread, then start the uploader.

        Credential hooks are pytest hooks, called from the main thread as at session end;
        a warning the client gives is kept and shown by ``finish``, instead of being pinned
        on whichever test was running when the uploader made it.
        """
        with warnings.catch_warnings(record=True) as caught:
            try:
                self._client = make_client(
                    self.settings,
                    hook=self.hook,
                    on_request=self._request_log,
                    on_wait=self.state.waited,
                    sleep=self.stop.sleeper(time.sleep),
                )
            except (ConfigError, CredentialsError) as exc:
                self._client_error = exc
        self._warnings = list(caught)
        if self._client is not None and self.settings.verify_ssl is False:
            ignore_unverified_request_warnings(self._client.server)
        self._thread.start()

    def expect(self, collected: Collected) -> None:
        """At the end of collection, before the first ``put``: start the look-ahead."""
        self._queue.put(collected)

    def put(self, runs: Sequence[TestRun]) -> None:
        """Hand over one full slice of final results (never blocks)."""
        self._handed_over = True
        self._queue.put(list(runs))

    def abandon(self) -> None:
        """The session never reached its end (a usage or internal error): send nothing more;
        what was handed over is still spooled and recorded, for ``resume``."""
        self.stop.set()
        self.finishing = True
        self._queue.put(None)
        self._thread.join(_ABANDON_S)

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
            if self._thread.is_alive() and (rest or self._handed_over):
                self.progress(FINISHING)
            while self._thread.is_alive():  # bounded: the uploader's requests have deadlines
                self._thread.join(_TICK_S)
        for caught in self._warnings:  # inside pytest's capture: shown in its summary
            warnings.warn_explicit(caught.message, caught.category, caught.filename, caught.lineno)
        if self._crash is not None:
            raise self._crash
        assert self._outcome is not None
        if self._warning:
            self._outcome.warnings.insert(0, self._warning)
        return self._outcome

    # -- the uploader thread

    def _main(self) -> None:
        try:
            first = self._take()
            if first is not None:  # None: abandoned before anything was handed over
                self._outcome = self._run(first)
        except BaseException as exc:  # re-raised in the main thread by finish()
            self._crash = exc
            self._drain()
        finally:
            if self._client is not None:
                self._client.close()  # signs out; closing twice is harmless

    def _take(self) -> _Message:
        message = self._queue.get()
        self._ended = message is None
        return message

    def _take_runs(self) -> list[TestRun] | None:
        """The next slice (a late ``Collected`` has nothing to add: the sending began)."""
        while isinstance(message := self._take(), Collected):
            pass
        return message

    def _drain(self) -> None:
        while not self._ended:
            self._take()

    def _run(self, first: Collected | list[TestRun]) -> JobOutcome:
        collected = first if isinstance(first, Collected) else None
        runs = first if isinstance(first, list) else []
        settings, store, job, self._warning = open_job(self.settings, runs, self.job_id)
        self.settings = settings
        self._job, self._store_location = job, store.location
        try:
            with coord.job_lock(store, job.job_id):
                return self._upload(store, job, collected)
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

    def _upload(self, store: TaskStore, job: JobRecord, collected: Collected | None) -> JobOutcome:
        started = time.monotonic()
        settings = self.settings
        outcome = JobOutcome(job=job, store_location=store.location)
        state = self.state
        if not state.has_listeners:
            state.listen(lambda _s, event, notable: self.progress(event) if notable else None)
        error: OctaneError | None = None
        client = self._client
        if client is None:
            assert self._client_error is not None
            # spool every slice all the same: the summary says how to send them later
            while (runs := self._take_runs()) is not None:
                self._spool(store, store.get_job(job.job_id), runs)
            indexes = [s.index for s in store.get_job(job.job_id).slices]
            _fail_unfinished(store, outcome, settings, self._client_error, indexes)
            outcome.elapsed_s = time.monotonic() - started
            return outcome
        ctx = JobContext(
            settings,
            store,
            client,
            self._request_log,
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
                error = self._send_all(ctx, store, pool, futures, collected)
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
        collected: Collected | None,
    ) -> OctaneError | None:
        """Spool and queue every slice handed over until ``finish``; the first error stops
        the sending (every later slice is still spooled and recorded, for ``resume``)."""
        job_id = ctx.outcome.job.job_id
        indexes = [s.index for s in ctx.outcome.job.slices]
        first = True
        error: OctaneError | None = None
        if collected is not None:
            try:
                look_ahead(ctx, collected.tests)
            except OctaneError as exc:
                error = exc
        while True:
            if indexes and error is None and not self.stop.is_set:
                try:
                    futures.extend(submit_slices(ctx, pool, indexes, first=first))
                    first = False
                except OctaneError as exc:
                    error = exc
            runs = self._take_runs()
            if runs is None:
                return error
            indexes = self._spool(store, store.get_job(job_id), runs)
