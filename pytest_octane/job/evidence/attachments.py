"""Send the files attached to a slice's runs, once its task ended ``success`` or ``warning``.

Runs exist only then (API-FACTS 1e).  For the slice's runs that have files, the uploader
finds the tests by name (``GET tests``, as the coverage step) and then their runs:

* with a suite: ``GET automated_runs?query="test EQ {id IN ...};parent_suite EQ {id IN
  <the job's suite run>}"`` -- exactly this job's runs;
* without one: ``GET automated_runs?query="test EQ {id IN ...}"&order_by=-id`` -- the newest
  run of each test (a concurrent upload of the same tests without a suite could be newer).

Then one ``POST .../attachments`` per file (OctaneClient.create_run_attachment).  Each outcome is
recorded at once in the job's history (files.py); a file Octane refuses is recorded with the
reason and said once, and never fails the runs' upload; transient trouble leaves the file
pending for ``pytest-octane resume``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

from pytest_octane.errors import OctaneError, OctaneHTTPError, UploadInterrupted
from pytest_octane.job.coverage import find_suite_runs, find_test_ids
from pytest_octane.job.evidence.files import (
    ATTACHMENT_EVENT,
    AttachedFile,
    attachment_states,
    read_slice_files,
)
from pytest_octane.job.recorded import JobSuite, recorded_suite_id
from pytest_octane.job.run.context import JobContext
from pytest_octane.model import JobRecord, SliceStatus

__all__ = ["pending_slices", "send_attachments"]

Identity = tuple[str, str, str, str]
#: Test ids per ``IN`` list: keeps query URLs short.
_IDS_PER_QUERY = 100
_suite_lock = threading.Lock()  # slices finish in parallel: look the suite run up once


def pending_slices(job: JobRecord) -> list[int]:
    """Successful slices with files not yet sent nor refused (what ``resume`` finishes)."""
    states = attachment_states(job.history)
    return [
        record.index
        for record in job.slices
        if record.status is SliceStatus.SUCCESS
        and any(f.path not in states for f in read_slice_files(Path(record.path)))
    ]


def send_attachments(ctx: JobContext, indexes: Sequence[int], *, resumed: bool = False) -> None:
    """Send the pending files of slices ``indexes`` (their tasks ended success or warning).

    ``resumed``: the slices succeeded in an earlier run, whose answer to a POST may have been
    lost (a kill, a dropped connection): a file Octane already has on its run is recorded as
    sent, not sent twice.
    """
    if not ctx.settings.attachments:
        return
    for index in indexes:
        job = ctx.store.get_job(ctx.outcome.job.job_id)
        states = attachment_states(job.history)
        files = [f for f in read_slice_files(Path(job.slice(index).path)) if f.path not in states]
        if not files:
            continue
        try:
            runs = _run_ids(ctx, job, {f.identity for f in files})
        except UploadInterrupted:
            raise
        except OctaneError as exc:
            _say(ctx, "lookup", f"attachments of slice {index} are still pending: {exc}")
            continue
        there = _already_there(ctx, sorted(set(runs.values()))) if resumed else {}
        for item in files:
            ctx.stop.check()
            run_id = runs.get(item.identity)
            found = there.get((run_id, item.name))
            if found is not None:
                _record(ctx, index, item, state="sent", run_id=run_id, id=found)
            else:
                _send_one(ctx, index, item, run_id)


def _already_there(ctx: JobContext, run_ids: Sequence[int]) -> dict[tuple[int | None, str], int]:
    """(run id, name) -> id of the attachments these runs have.  GUESS: ``owner_run`` can be
    queried; a server that refuses the query (400) is taken to have none."""
    found: dict[tuple[int | None, str], int] = {}
    for start in range(0, len(run_ids), _IDS_PER_QUERY):
        query = f"owner_run EQ {{{_in_list(run_ids[start : start + _IDS_PER_QUERY])}}}"
        try:
            for item in ctx.client.iter_entities(
                "attachments", query=query, fields=["id", "name", "owner_run"]
            ):
                owner = item.get("owner_run")
                if isinstance(owner, dict) and str(owner.get("id", "")).isdigit():
                    key = (int(owner["id"]), str(item.get("name")))
                    found.setdefault(key, int(item["id"]))
        except OctaneHTTPError as exc:
            if exc.status != 400:
                raise
            return {}
    return found


def _send_one(ctx: JobContext, index: int, item: AttachedFile, run_id: int | None) -> None:
    if run_id is None:
        _refused(ctx, index, item, f"no run of test {item.identity[3]!r} found in Octane")
        return
    try:
        content = Path(item.path).read_bytes()
    except OSError as exc:
        _refused(ctx, index, item, f"its spooled copy cannot be read ({exc.strerror or exc})")
        return
    try:
        new_id = ctx.client.create_run_attachment(
            run_id, item.name, content, description=item.description
        )
    except UploadInterrupted:
        raise
    except OctaneError as exc:
        if not exc.transient:
            reason = exc.description if isinstance(exc, OctaneHTTPError) else None
            _refused(ctx, index, item, reason or str(exc), code=_code(exc))
        else:
            _say(
                ctx,
                "transient",
                f"attachments left pending ({exc}); 'pytest-octane resume' sends them",
            )
        return
    _record(ctx, index, item, state="sent", run_id=run_id, id=new_id)


def _record(ctx: JobContext, index: int, item: AttachedFile, **outcome: object) -> None:
    """The file's outcome, in the job's history at once (a kill loses nothing)."""
    event = {"time": _now(), "event": ATTACHMENT_EVENT, "slice": index, "file": item.path}
    ctx.store.add_history(ctx.outcome.job.job_id, {**event, "name": item.name, **outcome})


def _code(exc: OctaneError) -> str:
    return (exc.error_code if isinstance(exc, OctaneHTTPError) else None) or type(exc).__name__


def _refused(
    ctx: JobContext, index: int, item: AttachedFile, reason: str, *, code: str = "lookup"
) -> None:
    _record(ctx, index, item, state="refused", reason=reason)
    _say(ctx, code, f"attachment {item.name!r} was refused: {reason} (the runs are uploaded)")


def _say(ctx: JobContext, kind: str, line: str) -> None:
    """One warning per kind of trouble per job run."""
    said = ctx.evidence.setdefault("said", set())
    if kind not in said:
        said.add(kind)
        ctx.outcome.warnings.append(line)


def _suite_runs(ctx: JobContext, job: JobRecord) -> list[int] | None:
    """The job's suite run ids (looked up once per job run), or None without a suite."""
    with _suite_lock:
        return _suite_runs_locked(ctx, job)


def _suite_runs_locked(ctx: JobContext, job: JobRecord) -> list[int] | None:
    if "suite_runs" not in ctx.evidence:
        plan = JobSuite.of(job)
        suite_id = ctx.suite_ref[0] if ctx.suite_ref else recorded_suite_id(job)
        found = None
        if plan is not None and suite_id is not None:
            found = find_suite_runs(ctx.client, suite_id, plan.external_run_id)
        ctx.evidence["suite_runs"] = found
    runs: list[int] | None = ctx.evidence["suite_runs"]
    return runs


def _in_list(ids: Sequence[int]) -> str:
    joined = ",".join(str(i) for i in ids)
    return f"id EQ {joined}" if len(ids) == 1 else f"id IN {joined}"


def _run_ids(ctx: JobContext, job: JobRecord, identities: set[Identity]) -> dict[Identity, int]:
    """The run of each test identity in this job (see the module's docstring)."""
    tests = find_test_ids(ctx.client, identities, ctx.outcome.warnings.append)
    test_ids = sorted({t for ids in tests.values() for t in ids})
    suite_runs = _suite_runs(ctx, job)
    newest: dict[int, int] = {}
    for start in range(0, len(test_ids), _IDS_PER_QUERY):
        query = f"test EQ {{{_in_list(test_ids[start : start + _IDS_PER_QUERY])}}}"
        if suite_runs:
            query += f";parent_suite EQ {{{_in_list(suite_runs)}}}"
        for run in ctx.client.iter_entities(
            "automated_runs", query=query, fields=["id", "test"], order_by="-id"
        ):
            test = run.get("test")
            if isinstance(test, dict) and str(test.get("id", "")).isdigit():
                newest.setdefault(int(test["id"]), int(run["id"]))
    found: dict[Identity, int] = {}
    for identity, ids in tests.items():
        runs = [newest[t] for t in ids if t in newest]
        if runs:
            found[identity] = max(runs)
    return found


def _now() -> float:
    return time.time()
