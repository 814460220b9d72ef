"""The upload job: spool, sign in, map JIRA keys, ensure modules, send slices, poll, record.

With a suite (``--octane-suite``/``--octane-suite-id``) every slice joins one suite run, and
once all slices succeeded the job's runs are linked to their stories (see ``suites``).

Results are on disk and the job is recorded before the first request.  Slices are sent through
a pool of ``maxParallelUploads`` workers; a worker keeps its slot until its task is processed,
so this job never has more tasks in Octane's queue than that.  Every task id is recorded the
moment Octane returns it, so ``pytest-octane resume`` can finish a job whose process died.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence

from pytest_octane.errors import ConfigError, CredentialsError, JobBusy, OctaneError
from pytest_octane.job import coord
from pytest_octane.job.events import Progress, UploadState
from pytest_octane.job.evidence.attachments import pending_slices
from pytest_octane.job.interrupt import StopFlag, ctrl_c, while_spooling
from pytest_octane.job.journal import new_job_id
from pytest_octane.job.outcome import JobOutcome
from pytest_octane.job.recorded import coverage_pending, settings_for_job
from pytest_octane.job.run.context import (
    CredentialsHook,
    RequestLog,
    make_client,
)
from pytest_octane.job.run.jobrun import JobRun, fail_unfinished
from pytest_octane.job.run.journaled import catch_up, open_job, prepare_job
from pytest_octane.job.run.links import map_jira_keys
from pytest_octane.model import JobRecord, SliceStatus, TestRun
from pytest_octane.settings import Settings
from pytest_octane.store import TaskStore

__all__ = [
    "JobOutcome",
    "execute_job",
    "make_client",
    "map_jira_keys",
    "new_job_id",
    "open_job",
    "prepare_job",
    "settings_for_job",
    "upload_session",
]

log = logging.getLogger(__name__)


def execute_job(
    settings: Settings,
    store: TaskStore,
    job: JobRecord,
    *,
    mode: str = "upload",
    only_slice: int | None = None,
    hook: CredentialsHook | None = None,
    progress: Progress | None = None,
    state: UploadState | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> JobOutcome:
    """Upload (``upload``), finish (``resume``) or re-upload failed slices (``retry``).

    ``progress`` gets free-form lines; ``state`` (optional) is updated as slices move.
    One process at a time per job: under the job's store lock the job is read again, so
    what another process finished meanwhile is not sent twice; a second process stops
    with "job J is being uploaded by pid N on HOST".
    """
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(coord.job_lock(store, job.job_id))
        except JobBusy as exc:
            outcome = JobOutcome(job=store.get_job(job.job_id), store_location=store.location)
            outcome.error = exc
            return outcome
        # read again under the lock: what another process finished meanwhile is not sent twice
        job = store.get_job(job.job_id)
        started = time.monotonic()
        outcome = JobOutcome(job=job, store_location=store.location)
        progress = progress or (lambda line: log.info("%s", line))
        if mode == "resume":  # slices the job's journal holds but its dead uploader never cut
            added, note = catch_up(store, job)
            if note:
                progress(f"job {job.job_id}: {note}")
            if added:
                job = store.get_job(job.job_id)
        send: list[int] = []
        poll: list[int] = []
        for record in job.slices:
            if only_slice is not None and record.index != only_slice:
                continue
            if record.status is SliceStatus.SUCCESS:
                continue
            if mode == "retry":
                if record.status is SliceStatus.FAILED:
                    send.append(record.index)
            elif record.status is SliceStatus.RUNNING:
                (poll if record.task_id is not None else send).append(record.index)
        files_pending = [] if only_slice is not None else pending_slices(job)  # issue 23
        if not (send or poll or files_pending or coverage_pending(job, settings.update_auto_runs)):
            outcome.job = store.get_job(job.job_id)
            return outcome
        request_log = RequestLog()
        state = state or UploadState()
        if not state.has_listeners:
            state.listen(lambda _state, event, notable: progress(event) if notable else None)
        stop = StopFlag()
        try:
            client = make_client(
                settings,
                hook=hook,
                on_request=request_log,
                on_wait=state.waited,
                sleep=stop.sleeper(time.sleep),
            )
        except (ConfigError, CredentialsError) as exc:
            fail_unfinished(store, outcome, settings, exc, send + poll)
            outcome.elapsed_s = time.monotonic() - started
            return outcome
        if mode != "upload":
            store.add_history(
                job.job_id, {"time": time.time(), "event": mode, "slices": send + poll}
            )
        run = JobRun(
            settings,
            store,
            job,
            client,
            request_log=request_log,
            progress=progress,
            state=state,
            stop=stop,
            sleep=stop.sleeper(sleep),
        )
        try:
            with ctrl_c(stop, lambda: exit_line(run.outcome)), run:
                state.started(len(send) + len(poll))
                run.send(send, total=len(send) + len(poll))
                run.poll(poll)
                run.finish(link_hint=True, files=files_pending)  # issue 23: files resumed
        except OctaneError as exc:
            run.note(exc, lambda: send + poll)
        return run.settle()


def exit_line(outcome: JobOutcome) -> str:
    """What a second Ctrl-C says before the process ends."""
    return (
        "pytest-octane: Ctrl-C again: stopped at once; to finish the upload later run: "
        f"{outcome.resume_command()} (and {outcome.retry_command()} for slices that failed)"
    )


def upload_session(
    settings: Settings,
    runs: Sequence[TestRun],
    *,
    hook: CredentialsHook | None = None,
    progress: Progress | None = None,
    state: UploadState | None = None,
    job_id: str | None = None,  # the plugin's, chosen before the tests (issue 23)
) -> JobOutcome:
    """The plugin's entry point: spool, record, upload and report one pytest session."""
    spooled, stopped = while_spooling(lambda: open_job(settings, runs, job_id or new_job_id()))
    settings, store, job, warning = spooled
    try:
        if stopped or not job.slices:
            outcome = JobOutcome(job=job, store_location=store.location)
            outcome.interrupted, outcome.error = stopped is not None, stopped
        else:
            outcome = execute_job(settings, store, job, hook=hook, progress=progress, state=state)
    finally:
        store.close()
    if warning:
        outcome.warnings.insert(0, warning)
    return outcome
