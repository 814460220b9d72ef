"""One pytest session's upload, in the uploader process: it follows the job's journal.

The pytest process journals each final result (``job/journal.py``) and tells the uploader,
through its :class:`Inbox`, where collection ended (the look-ahead: sign in, look up the
collected tests' stories, make their modules and the job's suite), when the journal's end
mark is written, and about Ctrl-C.  Once the job is recorded (``open_job``: from then on
``resume`` finds it), :class:`SessionUpload` reads the journal as it grows, cuts each
slice (``job/run/journaled.py``), spools and records it before any request and queues it on
the pool of ``maxParallelUploads`` workers.  With ``--octane-stream=off`` it cuts nothing
before the end mark.  When the pipe closes without the end mark, pytest died: every
journaled result is still cut, recorded and sent, and the job's history says so.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from pytest_octane.errors import CredentialsError, OctaneError, StoreError
from pytest_octane.job import coord
from pytest_octane.job.events import Progress, UploadState
from pytest_octane.job.journal import JournalReader
from pytest_octane.job.outcome import JobOutcome
from pytest_octane.job.run.context import RequestLog, make_client
from pytest_octane.job.run.failover import FailoverStore
from pytest_octane.job.run.jobrun import JobRun, fail_unfinished
from pytest_octane.job.run.journaled import INTERRUPTED_EVENT, Opened, record_journal_slices
from pytest_octane.job.run.pipe import Inbox
from pytest_octane.octane.client import OctaneClient
from pytest_octane.octane.credentials import Credentials
from pytest_octane.settings import Settings

__all__ = ["Inbox", "SessionUpload"]  # Inbox lives in pipe.py, light for the uploader

log = logging.getLogger(__name__)

#: how often the journal is read again while nothing else happens
FOLLOW_S = 0.1


class SessionUpload:
    """The upload of one journaled pytest session; :meth:`run` returns its outcome."""

    def __init__(
        self,
        settings: Settings,
        job_id: str,
        journal: Path,
        inbox: Inbox,
        *,
        credentials: Credentials | None,
        credentials_error: CredentialsError | None = None,
        progress: Progress | None = None,
        state: UploadState | None = None,
    ) -> None:
        self.settings = settings
        self.job_id = job_id
        self.journal = journal
        self.inbox = inbox
        self.stop = inbox.stop
        self.credentials = credentials
        self.credentials_error = credentials_error
        self.progress: Progress = progress or (lambda line: log.info("%s", line))
        self.state = state or UploadState()
        self._reader = JournalReader(journal)
        self._interrupted = False  # the pipe closed before the end mark

    def run(self, opened: Opened) -> JobOutcome:
        """Upload the session; ``opened``: the job as ``open_job`` recorded it (before
        anything else: from then on ``resume`` finds it)."""
        settings, primary, job, warning = opened
        self.settings = settings
        store = FailoverStore(primary, job)
        outcome: JobOutcome | None = None
        try:
            with coord.job_lock(store, job.job_id):
                outcome = self._upload(store)
        except StoreError as exc:
            if outcome is None:
                raise
            # the job is done and recorded (maybe elsewhere): a store that failed cannot
            # give its lock back, and frees it when this process ends
            log.warning("the job's lock in %s: %s", store.primary.location, exc)
        finally:
            store.close()
        if warning:
            outcome.warnings.insert(0, warning)
        return outcome

    def _upload(self, store: FailoverStore) -> JobOutcome:
        job = store.get_job(self.job_id)
        state = self.state
        if not state.has_listeners:
            state.listen(lambda _s, event, notable: self.progress(event) if notable else None)
        request_log = RequestLog()
        client: OctaneClient | None = None
        error: OctaneError
        if self.credentials is not None:
            try:
                client = make_client(
                    self.settings,
                    credentials=self.credentials,
                    on_request=request_log,
                    on_wait=state.waited,
                    sleep=self.stop.sleeper(time.sleep),
                )
            except OctaneError as exc:
                error = exc
        else:
            error = self.credentials_error or CredentialsError("no credentials were given")
        if client is None:
            # record every slice all the same: the summary says how to send them later
            started = time.monotonic()
            outcome = JobOutcome(job=job, store_location=store.location)
            self._follow(store, None)
            indexes = [s.index for s in store.get_job(self.job_id).slices]
            fail_unfinished(store, outcome, self.settings, error, indexes)
            outcome.elapsed_s = time.monotonic() - started
            return self._settled(store, outcome)
        run = JobRun(
            self.settings,
            store,
            job,
            client,
            request_log=request_log,
            progress=self.progress,
            state=state,
            stop=self.stop,
            sleep=self.stop.sleeper(time.sleep),
        )
        try:
            with run:
                self._follow(store, run)
                run.finish()
        except OctaneError as exc:
            run.note(exc, lambda: [s.index for s in store.get_job(self.job_id).slices])
        return self._settled(store, run.settle())

    @property
    def _journaled(self) -> int:
        journal = self._reader.journal
        return len(journal.runs) if journal is not None else 0

    def _settled(self, store: FailoverStore, outcome: JobOutcome) -> JobOutcome:
        if self._interrupted:
            outcome.warnings.append(
                f"pytest ended before the end of its session: the {self._journaled} results "
                "it journaled were uploaded"
            )
        if store.failed_over:
            store.write_back()
        outcome.job = store.get_job(self.job_id)
        outcome.store_location = store.location
        outcome.moved = store.moved
        return outcome

    def _follow(self, store: FailoverStore, run: JobRun | None) -> None:
        """Read the journal until its end (or pytest's), recording every slice it holds and,
        while nothing stopped the sending, queueing them on ``run`` (the first error stops
        the sending; later slices are still recorded, for ``resume``)."""
        # before the end only full slices are cut: the journal is cut again only once it
        # holds a full slice more than at the last cut (not at each look, issue 28)
        full_at, streamed = -1, 0
        looked_ahead = False
        inbox = self.inbox
        while True:
            closed, told_ended = inbox.closed, inbox.ended
            if run is not None and not looked_ahead and inbox.collected is not None:
                looked_ahead = True
                # before the first slice (its references are ready then); with streaming
                # off nothing reaches Octane before the end of the session, as before
                if not streamed and self.settings.stream:
                    run.look_ahead(inbox.collected)
            self._reader.read()
            journal = self._reader.journal
            # the end is pytest's word through the pipe (or its death), not the end mark
            # alone: a Ctrl-C pressed as the session ended is told first ("stop", then "end")
            final = closed or told_ended
            if final and not (journal is not None and journal.ended):
                self._reader.finish()  # pytest is gone: a line it was writing is left out
                self._interrupted = not told_ended
                if self._interrupted:
                    store.add_history(
                        self.job_id,
                        {
                            "time": time.time(),
                            "event": INTERRUPTED_EVENT,
                            "runs": self._journaled,
                            "why": "pytest ended without the journal's end mark",
                        },
                    )
            full = len(journal.slice_ends()) if journal is not None else 0
            if journal is not None and (final or (self.settings.stream and full != full_at)):
                full_at = full
                job = store.get_job(self.job_id)
                folder = self.journal.parent
                indexes = record_journal_slices(
                    store, job, journal, ended=final, folder=folder, skip=streamed
                )
                if not final:
                    streamed += len(indexes)  # full slices: their runs are not cut again
                if run is not None:
                    run.ctx.ending = final  # pytest waits from here: its last tasks polled soon
                    run.send(indexes)
            if final:
                return
            inbox.wait(FOLLOW_S)
