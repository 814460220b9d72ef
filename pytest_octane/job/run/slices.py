"""Send, poll and finish the slices of one job run, and adopt tasks recorded earlier."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path

from pytest_octane.errors import InputError, OctaneError, PollTimeout, TaskLost, UploadInterrupted
from pytest_octane.job.events import collect_waits
from pytest_octane.job.evidence import ci_server
from pytest_octane.job.evidence.attachments import send_attachments
from pytest_octane.job.module_tree import with_suite_ref
from pytest_octane.job.run.context import JobContext, flush_log, update_slice
from pytest_octane.job.run.links import references, resolve_job_suite
from pytest_octane.job.spool import SpooledRun, read_spooled_runs, upload_payload
from pytest_octane.model import SliceRecord, SliceStatus, SliceWait
from pytest_octane.octane.results_xml import RunRefs

__all__ = [
    "FIRST_LOOK_SHARE",
    "QUICK_POLL_S",
    "STOPPING",
    "poll_slices",
    "poll_task",
    "submit_slices",
]

#: the shortest wait between polls, and the first look at the last slices' tasks
QUICK_POLL_S = 0.05
#: a task already final at its first look counts as having taken this share of the wait
FIRST_LOOK_SHARE = 0.7

STOPPING = (
    "pytest-octane: Ctrl-C: sending no more slices; waiting for the requests in flight "
    "(at most {:g} s each); press Ctrl-C again to stop at once"
)


def poll_task(
    ctx: JobContext, index: int, task_id: int, *, fresh: bool, posted: float | None = None
) -> tuple[str, str | None]:
    """Poll one task until it is final.

    A worker keeps its upload slot until its task is final, so a late poll delays the next
    upload: a fresh task is first polled after the job's typical processing time (at least
    ``QUICK_POLL_S``), then every 10 % of the time waited so far, never more often than
    P/20 s (Octane asks for at most 20 requests a second) and never less often than every
    10 s.  A task final at its first look was done some time before: it counts as
    ``FIRST_LOOK_SHARE`` of the wait, so that the typical time comes down when Octane gets
    faster (counted as the whole wait, a first look could only ever confirm it, and a slow
    first slice would slow every poll after it).  Once pytest waits (``ctx.ending``), a
    fresh task is looked at ``QUICK_POLL_S`` after its POST began (``posted``,
    ``time.monotonic()``; else after now), then at the typical time, and the floor is shared
    by the tasks polled at that moment.
    """
    started = time.monotonic()
    deadline = started + ctx.settings.poll_timeout
    typical = ctx.typical_task_s()
    ctx.polling.add(task_id)  # set.add and discard are atomic: the workers share it
    try:
        if fresh and ctx.ending:
            quick = QUICK_POLL_S
            if posted is not None:  # the POST's own time counts: 20 requests a second at most
                quick -= time.monotonic() - posted
            if quick > 0:
                ctx.sleep(quick)
        elif fresh:
            ctx.sleep(max(typical, QUICK_POLL_S))
        first_look = True
        while True:
            state = ctx.client.get_task(task_id)
            if state.is_final:
                if fresh:
                    took = time.monotonic() - started
                    ctx.task_took(took * FIRST_LOOK_SHARE if first_look else took)
                return state.status.strip().lower(), state.error_details
            first_look = False
            waited = time.monotonic() - started
            pollers = len(ctx.polling) if ctx.ending else ctx.settings.max_parallel
            quick_too_early = typical - waited if ctx.ending and fresh else 0.0
            interval = min(max(pollers / 20.0, QUICK_POLL_S, 0.1 * waited, quick_too_early), 10)
            if time.monotonic() + interval > deadline:
                raise PollTimeout(
                    f"task {task_id} of slice {index} is still {state.status.strip()!r} after "
                    f"{ctx.settings.poll_timeout:.0f} s; run 'pytest-octane resume' later",
                    task_id=task_id,
                )
            ctx.sleep(interval)
    finally:
        ctx.polling.discard(task_id)


def _payload(ctx: JobContext, path: Path, refs: list[RunRefs], attempt: int) -> bytes:
    payload = upload_payload(path, refs, attempt=attempt)
    payload = ci_server.fit_build_context(ctx, payload)  # issue 23: <build> only if Octane knows it
    if ctx.suite_ref is not None:
        payload = with_suite_ref(payload, *ctx.suite_ref)
    return payload


def _next_attempt(record: SliceRecord) -> int:
    """Which payload to send: the bytes sent last time, unless their task is known to have failed.

    Re-sending the last bytes is safe (Octane answers with the task it already has) and is
    the only way to learn of a slice whose answer was lost; after a known failure, Octane
    would hand back that failed task, so the attempt number changes the bytes.
    """
    if record.attempts == 0:
        return 1
    if (record.server_status or "").strip().lower() == "failed":
        return record.attempts + 1
    return record.attempts


def _adopt_recorded_task(ctx: JobContext, record: SliceRecord) -> tuple[bool, str] | None:
    """A Failed slice whose task outcome is unknown: ask Octane before sending it again."""
    if record.task_id is None or record.server_status is not None:
        return None
    try:
        ok, detail = _finish_task(ctx, record.index, record.task_id)
    except UploadInterrupted:
        raise
    except OctaneError:
        return None  # still unknown: re-sending the same bytes finds the task if it exists
    return (ok, detail) if ok else None


def _send_slice(ctx: JobContext, index: int, refs: list[RunRefs], attempt: int) -> None:
    job = ctx.outcome.job
    record = job.slice(index)
    ctx.state.slice_begins()
    ok, detail = False, "not sent"
    try:
        ctx.stop.check()
        adopted = _adopt_recorded_task(ctx, record) if record.status is SliceStatus.FAILED else None
        if adopted is not None:
            ok, detail = adopted
            return
        if record.status is SliceStatus.FAILED:
            attempt = _next_attempt(ctx.store.get_job(job.job_id).slice(index))
        ctx.stop.check()
        payload = _payload(ctx, Path(record.path), refs, attempt)
        waits: list[SliceWait] = []  # for the slice's timeline on the jobs page
        with _queue_slot(ctx, index, waits):
            for last_try in (False, True):
                sent_at, posted = time.time(), time.monotonic()
                with collect_waits(waits):
                    accepted = ctx.client.post_test_results(
                        payload, skip_errors=ctx.settings.skip_errors, label=f"slice {index}"
                    )
                    if accepted.from_older_push and accepted.status.strip().lower() == "failed":
                        # Octane returned an earlier failed task for identical bytes: new bytes
                        payload = _payload(ctx, Path(record.path), refs, attempt + 1)
                        attempt += 1
                        posted = time.monotonic()
                        accepted = ctx.client.post_test_results(
                            payload, skip_errors=ctx.settings.skip_errors, label=f"slice {index}"
                        )
                update_slice(
                    ctx,
                    index,
                    task_id=accepted.id,
                    attempts=attempt,
                    status=SliceStatus.RUNNING,
                    sent_at=sent_at,
                    waits=tuple(waits),
                )
                ctx.state.slice_sent(index, accepted.id)
                try:
                    ok, detail = _finish_task(ctx, index, accepted.id, fresh=True, posted=posted)
                    break
                except TaskLost as exc:
                    if last_try:
                        raise
                    # the same bytes once more: Octane forgot the task, not the slice
                    ctx.progress(f"pytest-octane: slice {index}: {exc}")
            # issue 23: a task that failed on its build context is sent once more without it
            if not ok and ci_server.build_failed(ctx, detail, payload):
                attempt += 1
                payload = _payload(ctx, Path(record.path), refs, attempt)
                accepted = ctx.client.post_test_results(
                    payload, skip_errors=ctx.settings.skip_errors, label=f"slice {index}"
                )
                update_slice(
                    ctx, index, task_id=accepted.id, attempts=attempt, status=SliceStatus.RUNNING
                )
                ok, detail = _finish_task(ctx, index, accepted.id, fresh=True)
    except TaskLost as exc:
        # forgotten twice: no task id to poll; 'resume' sends the same bytes again
        update_slice(ctx, index, task_id=None, last_error=str(exc), attempts=attempt)
        detail = f"not finished: {exc}"
    except UploadInterrupted:
        # Nothing is decided: a task id (if any) is recorded, 'resume' polls or sends it.
        detail = "interrupted (Ctrl-C)"
    except PollTimeout as exc:
        # Octane has the slice; it is only slow. Keep it Running with its task id so that
        # 'resume' polls it instead of sending it again.
        update_slice(ctx, index, last_error=str(exc))
        detail = str(exc)
    except OctaneError as exc:
        if not exc.transient:
            update_slice(
                ctx, index, status=SliceStatus.FAILED, last_error=str(exc), attempts=attempt
            )
            detail = f"failed: {exc}"
            if ctx.outcome.fix is None:
                ctx.outcome.fix = ctx.outcome.hint(exc, ctx.settings)
        else:
            # transient: leave the slice as it was (unsent slices stay Running), so that
            # 'resume' (or 'retry' for a Failed one) sends it again
            update_slice(ctx, index, last_error=str(exc), attempts=attempt)
            detail = f"not sent: {exc}"
    finally:
        flush_log(ctx)
        ctx.state.slice_ends(index, ok, detail)


def _queue_slot(
    ctx: JobContext, index: int, waits: list[SliceWait]
) -> AbstractContextManager[None]:
    """One slot of the shared queue budget from before the POST until the task ends; a wait
    for it is added to ``waits``."""
    budget = ctx.budget
    if budget is None:
        return contextlib.nullcontext()
    began: list[float] = []

    def on_wait(waiting: bool) -> None:
        if waiting:
            began.append(time.time())
        elif began:
            start = began.pop()
            waits.append(SliceWait(kind="budget", start=start, seconds=time.time() - start))
        ctx.state.slot_wait(index, budget.limit, waiting)

    return budget.slot(on_wait)


def _finish_task(
    ctx: JobContext, index: int, task_id: int, *, fresh: bool = False, posted: float | None = None
) -> tuple[bool, str]:
    """Poll the task to its end and record it; return (succeeded, what happened)."""
    status, details = poll_task(ctx, index, task_id, fresh=fresh, posted=posted)
    if status in ("success", "warning"):
        update_slice(
            ctx,
            index,
            status=SliceStatus.SUCCESS,
            server_status=status,
            error_details=details,
            last_error=None,
        )
        if status == "warning" and details:
            ctx.outcome.warnings.append(f"slice {index}: Octane warned: {details}")
        send_attachments(ctx, [index])  # issue 23: the runs exist now; send their files
    else:
        update_slice(
            ctx,
            index,
            status=SliceStatus.FAILED,
            server_status=status,
            error_details=details,
            last_error=f"Octane task {task_id} ended {status!r}",
        )
    ok = status in ("success", "warning")
    return ok, f"task {task_id} {status}" + (f": {details}" if details and not ok else "")


def poll_slices(
    ctx: JobContext, pool: ThreadPoolExecutor, indexes: Sequence[int]
) -> list[Future[bool]]:
    """Queue the tasks of slices ``indexes`` (which have task ids) to be polled to their end;
    each future says whether Octane had forgotten the task (then its slice is sent again, the
    same bytes)."""
    job = ctx.store.get_job(ctx.outcome.job.job_id)
    futures = []
    for index in indexes:
        task_id = job.slice(index).task_id
        assert task_id is not None
        futures.append(pool.submit(_guarded_finish, ctx, index, task_id))
    return futures


def submit_slices(
    ctx: JobContext,
    pool: ThreadPoolExecutor,
    send: Sequence[int],
    *,
    first: bool,
    total: int | None = None,
) -> list[Future[None]]:
    """Look up the references of slices ``send`` (spooled and recorded) and queue them on
    ``pool``, whose ``maxParallelUploads`` workers keep their slot until the task is final;
    the ``first`` slices of a run find or make the job's suite first."""
    job = ctx.store.get_job(ctx.outcome.job.job_id)
    ctx.outcome.job = job
    ctx.state.started(len(job.slices) if total is None else total)
    runs_by_slice = _readable_slices(ctx, send)
    if not runs_by_slice:
        return []
    if first:
        resolve_job_suite(ctx)
    refs = references(ctx, runs_by_slice)
    return [
        pool.submit(_send_slice, ctx, i, refs[i], _next_attempt(job.slice(i)))
        for i in runs_by_slice
    ]


def _readable_slices(ctx: JobContext, send: Sequence[int]) -> dict[int, list[SpooledRun]]:
    """The spooled runs of each slice to send. A slice whose files cannot be read is marked
    Failed with the reason (naming the file) and left out, so it does not stop the others."""
    readable: dict[int, list[SpooledRun]] = {}
    for index in send:
        try:
            readable[index] = read_spooled_runs(Path(ctx.outcome.job.slice(index).path))
        except InputError as exc:
            reason = {"last_error": str(exc), "error_details": None}  # this, not the last task
            update_slice(ctx, index, status=SliceStatus.FAILED, **reason)
            ctx.state.slice_begins()
            ctx.state.slice_ends(index, False, f"not sent: {exc}")
    return readable


def _guarded_finish(ctx: JobContext, index: int, task_id: int) -> bool:
    """Poll a recorded task to its end; True when Octane has forgotten it (the slice's task
    id is cleared, so it is sent again)."""
    ctx.state.slice_begins()
    ok, detail = False, "still unfinished"
    try:
        ok, detail = _finish_task(ctx, index, task_id)
    except TaskLost as exc:
        update_slice(ctx, index, task_id=None, last_error=str(exc))
        detail = f"not finished: {exc}"
        return True
    except OctaneError as exc:
        detail = f"still unfinished: {exc}"
        update_slice(ctx, index, last_error=str(exc))
    finally:
        flush_log(ctx)
        ctx.state.slice_ends(index, ok, detail)
    return False
