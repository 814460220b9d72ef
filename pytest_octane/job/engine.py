"""The upload job: spool, sign in, map JIRA keys, ensure modules, send slices, poll, record.

With a suite (``--octane-suite``/``--octane-suite-id``) every slice joins one suite run, and
once all slices succeeded the job's runs are linked to their stories (see ``suites``).

Results are on disk and the job is recorded before the first request.  Slices are sent through
a pool of ``maxParallelUploads`` workers; a worker keeps its slot until its task is processed,
so this job never has more tasks in Octane's queue than that.  Every task id is recorded the
moment Octane returns it, so ``pytest-octane resume`` can finish a job whose process died.
"""

from __future__ import annotations

import logging
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from pytest_octane.errors import (
    ConfigError,
    ConnectionFailed,
    CredentialsError,
    OctaneError,
    StoreError,
)
from pytest_octane.job import coord
from pytest_octane.job.budget import QueueBudget, pool_name
from pytest_octane.job.events import Progress, UploadState
from pytest_octane.job.evidence.attachments import pending_slices, send_attachments
from pytest_octane.job.interrupt import StopFlag, UploadInterrupted, ctrl_c, while_spooling
from pytest_octane.job.outcome import JobOutcome
from pytest_octane.job.recorded import coverage_pending, external_run_id_for, settings_for_job
from pytest_octane.job.run.context import (
    CredentialsHook,
    JobContext,
    RequestLog,
    flush_log,
    make_client,
)
from pytest_octane.job.run.links import link_runs
from pytest_octane.job.run.slices import run_slices
from pytest_octane.job.run.stories import map_jira_keys
from pytest_octane.job.spool import slice_records, write_spool
from pytest_octane.model import JobRecord, SliceRecord, SliceStatus, TestRun
from pytest_octane.octane.failures import is_permanent, what_to_fix
from pytest_octane.octane.results_xml import header_from_settings
from pytest_octane.settings import Settings, require_connection
from pytest_octane.settings.ci import ci_run_url
from pytest_octane.store import TaskStore, open_store

__all__ = [
    "JobOutcome",
    "execute_job",
    "make_client",
    "map_jira_keys",
    "new_job_id",
    "prepare_job",
    "settings_for_job",
    "upload_session",
]

log = logging.getLogger("pytest_octane.job.engine")


def new_job_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:8]


def _now() -> float:
    return time.time()


def prepare_job(
    settings: Settings,
    runs: Sequence[TestRun],
    store: TaskStore,
    *,
    spool_root: Path | None = None,
    job_id: str | None = None,
) -> JobRecord:
    """Write the spool and record the job, before any network request."""
    server, space, workspace = require_connection(settings)
    job_id = job_id or new_job_id()
    folder = (spool_root or Path(settings.spool_dir)) / job_id
    recorded = settings.summary()
    header_settings = settings
    if settings.suite or settings.suite_id is not None:
        # one suite run per job: every slice (and any later retry) carries the same run id
        run_id = external_run_id_for(settings, job_id)
        recorded["external_run_id"] = run_id
        header_settings = replace(header_settings, external_run_id=run_id)
    slices = spool_records(settings, folder, runs, header_settings)
    now = _now()
    job = JobRecord(
        job_id=job_id,
        space_id=space,
        workspace_id=workspace,
        server=server,
        created_at=now,
        build={k: v for k, v in _build_dict(settings).items() if v},
        settings=recorded,
        slices=tuple(slices),
    )
    store.create_job(job)
    return job


def spool_records(
    settings: Settings,
    folder: Path,
    runs: Sequence[TestRun],
    header_settings: Settings,
    *,
    first_index: int = 1,
) -> list[SliceRecord]:
    """Write ``runs`` as slices under ``folder`` (before any request) and their store records."""
    try:
        files = write_spool(
            folder,
            header_from_settings(header_settings),
            runs,
            slice_size=settings.slice_size,
            max_trace=settings.max_trace,
            first_index=first_index,
        )
    except OSError as exc:
        raise StoreError(
            f"cannot write the spool folder {str(folder)!r} ({exc.strerror or exc}); "
            "set --octane-spool-dir to a writable folder"
        ) from None
    return slice_records(files, runs, settings.slice_size, _now())


def _build_dict(settings: Settings) -> dict[str, str | None]:
    return {
        "server_id": settings.build_server_id,
        "job_id": settings.build_job_id,
        "build_id": settings.build_id,
        "job_name": settings.build_job_name,
        "build_name": settings.build_name,
        "url": ci_run_url(settings.build_id),  # the jobs page links the build
    }


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
    try:
        with coord.job_lock(store, job.job_id):
            return _execute_job(
                settings,
                store,
                store.get_job(job.job_id),
                mode=mode,
                only_slice=only_slice,
                hook=hook,
                progress=progress,
                state=state,
                sleep=sleep,
            )
    except coord.JobBusy as exc:
        outcome = JobOutcome(job=store.get_job(job.job_id), store_location=store.location)
        outcome.error = str(exc)
        return outcome


def _execute_job(
    settings: Settings,
    store: TaskStore,
    job: JobRecord,
    *,
    mode: str,
    only_slice: int | None,
    hook: CredentialsHook | None,
    progress: Progress | None,
    state: UploadState | None,
    sleep: Callable[[float], None],
) -> JobOutcome:
    started = time.monotonic()
    outcome = JobOutcome(job=job, store_location=store.location)
    progress = progress or (lambda line: log.info("%s", line))
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
        _fail_unfinished(store, outcome, settings, exc, send + poll)
        outcome.elapsed_s = time.monotonic() - started
        return outcome
    ctx = JobContext(
        settings, store, client, request_log, outcome, progress, stop.sleeper(sleep), state, stop
    )
    attach_budget(ctx, job)
    if mode != "upload":
        store.add_history(job.job_id, {"time": _now(), "event": mode, "slices": send + poll})
    try:
        with ctrl_c(stop, lambda: _exit_line(outcome)), client:
            run_slices(ctx, send, poll)
            send_attachments(ctx, files_pending, resumed=True)  # issue 23
            stop.check()
            try:
                link_runs(ctx)
            except OctaneError as exc:
                raise OctaneError(
                    f"the runs were uploaded but not linked to their stories: {exc}; "
                    f"run '{outcome.resume_command()}' to link them"
                ) from exc
    except OctaneError as exc:
        note_failure(ctx, exc, lambda: send + poll)
    finally:
        close_run(ctx)
    return settle(ctx, job.job_id, started)


def attach_budget(ctx: JobContext, job: JobRecord) -> None:
    """Give the run its slots of the shared queue budget, when one is set."""
    settings = ctx.settings
    if settings.queue_budget is not None:
        ctx.budget = QueueBudget(
            ctx.store,
            pool_name(job.server, job.space_id),
            settings.queue_budget,
            deadline_s=settings.queue_full_deadline,
        )


def note_failure(
    ctx: JobContext, exc: OctaneError, unfinished: Callable[[], Sequence[int]]
) -> None:
    """What stopped a run, in its outcome: a permanent error fails the ``unfinished`` slices
    (with what to fix); Ctrl-C and transient trouble leave them resumable."""
    outcome = ctx.outcome
    if isinstance(exc, UploadInterrupted):
        outcome.interrupted = True
        outcome.error = (
            "interrupted (Ctrl-C): no more slices were sent; every slice's state is recorded"
        )
    elif isinstance(exc, ConnectionFailed):
        outcome.error = f"{exc} — the results are kept on disk"
    elif is_permanent(exc):
        _fail_unfinished(ctx.store, outcome, ctx.settings, exc, unfinished())
    else:
        outcome.error = str(exc)


def close_run(ctx: JobContext) -> None:
    """Write the request log and give back the run's queue slots."""
    flush_log(ctx)
    if ctx.budget is not None:
        ctx.budget.close()


def settle(ctx: JobContext, job_id: str, started: float) -> JobOutcome:
    """The outcome with the job as stored; a job with nothing left Running is finished."""
    store, outcome = ctx.store, ctx.outcome
    job = store.get_job(job_id)
    if job.status is not SliceStatus.RUNNING:
        store.finish_job(job_id, _now())
        job = store.get_job(job_id)
    outcome.job = job
    outcome.elapsed_s = time.monotonic() - started
    return outcome


def _exit_line(outcome: JobOutcome) -> str:
    return (
        "pytest-octane: Ctrl-C again: stopped at once; to finish the upload later run: "
        f"{outcome.resume_command()} (and {outcome.retry_command()} for slices that failed)"
    )


def _fail_unfinished(
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
    outcome.error = str(exc)
    outcome.fix = what_to_fix(
        exc,
        space=settings.space or outcome.job.space_id,
        workspace=settings.workspace or outcome.job.workspace_id,
        server=settings.url or outcome.job.server,
    )
    job = store.get_job(job_id)
    for index in indexes:
        if job.slice(index).status is not SliceStatus.SUCCESS:
            store.update_slice(job_id, index, status=SliceStatus.FAILED, last_error=str(exc))
    job = store.get_job(job_id)
    if job.status is not SliceStatus.RUNNING:
        store.finish_job(job_id, _now())
    outcome.job = store.get_job(job_id)


def open_job(
    settings: Settings, runs: Sequence[TestRun], job_id: str
) -> tuple[Settings, TaskStore, JobRecord, str | None]:
    """Open the task store, spool ``runs`` and record the job; on a store error, fall back to
    a private temporary folder (returned settings name it) with a warning saying where."""
    try:
        store = open_store(settings.task_store)
        try:
            return settings, store, prepare_job(settings, runs, store, job_id=job_id), None
        except BaseException:
            store.close()
            raise
    except StoreError as exc:
        # Never lose results because our own bookkeeping folder is unusable: keep going in
        # a private temporary folder and say where, so the job can still be finished.
        fallback = Path(tempfile.mkdtemp(prefix=f"pytest-octane-{job_id}-"))
        settings = replace(
            settings, task_store=str(fallback / "store"), spool_dir=str(fallback / "spool")
        )
        warning = f"{exc} — this job is kept in {fallback} instead"
        store = open_store(settings.task_store)
        return settings, store, prepare_job(settings, runs, store, job_id=job_id), warning


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
