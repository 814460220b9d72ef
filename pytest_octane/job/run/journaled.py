"""A job and its slices recorded before any request: the same records whoever makes them.

:func:`open_job` (the uploader process, ``upload``) spools a job's runs and records the job;
the uploader tells pytest it is ready as soon as its job is recorded.  The uploader and
``pytest-octane resume`` both turn the journal's results into slices with
:func:`record_journal_slices`: the slices are cut from journal order (``spool.cut_slices``),
each one written as ``slice-NNNN.xml`` next to the journal and then recorded in the store.  A
slice the store already has is left alone; one it lacks is written again (the same runs and
header give the same bytes, so a file left by a kill between the write and the record is
simply replaced, and Octane de-duplicates a re-sent slice).  Light on purpose: no HTTP client
is imported here, so the uploader records its job before it loads what the sending needs.
"""

from __future__ import annotations

import socket
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from pytest_octane.errors import InputError, StoreError
from pytest_octane.job.journal import Journal, new_job_id, read_journal
from pytest_octane.job.recorded import external_run_id_for
from pytest_octane.job.spool import JOURNAL_KEY, cut_slices, spool_records
from pytest_octane.model import JobRecord, TestRun
from pytest_octane.octane.results_xml import header_from_settings
from pytest_octane.settings import Settings, require_connection
from pytest_octane.settings.ci import ci_run_url
from pytest_octane.store import TaskStore, open_store
from pytest_octane.store.locks import pid_alive

__all__ = [
    "INTERRUPTED_EVENT",
    "Opened",
    "catch_up",
    "journal_of",
    "open_job",
    "prepare_job",
    "record_journal_slices",
    "writer_alive",
]

#: history event of a job whose pytest ended without the journal's end mark
INTERRUPTED_EVENT = "interrupted"

#: what open_job returns: the settings (naming a fallback folder, if one was needed), the
#: store, the job as recorded, and a warning naming the fallback folder
Opened = tuple[Settings, TaskStore, JobRecord, str | None]


def prepare_job(
    settings: Settings,
    runs: Sequence[TestRun],
    store: TaskStore,
    *,
    spool_root: Path | None = None,
    job_id: str | None = None,
    journal: Path | None = None,
) -> JobRecord:
    """Write the spool and record the job, before any network request (``journal``: where
    the job's results are journaled, recorded so that ``resume`` finishes from it)."""
    server, space, workspace = require_connection(settings)
    job_id = job_id or new_job_id()
    folder = (spool_root or Path(settings.spool_dir)) / job_id
    recorded = settings.summary()
    if journal is not None:
        recorded[JOURNAL_KEY] = str(journal.resolve())
    header_settings = settings
    if settings.suite or settings.suite_id is not None:
        # one suite run per job: every slice (and any later retry) carries the same run id
        run_id = external_run_id_for(settings, job_id)
        recorded["external_run_id"] = run_id
        header_settings = replace(header_settings, external_run_id=run_id)
    slices = spool_records(
        folder,
        runs,
        header_from_settings(header_settings),
        slice_size=settings.slice_size,
        max_trace=settings.max_trace,
    )
    now = time.time()
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


def _build_dict(settings: Settings) -> dict[str, str | None]:
    return {
        "server_id": settings.build_server_id,
        "job_id": settings.build_job_id,
        "build_id": settings.build_id,
        "job_name": settings.build_job_name,
        "build_name": settings.build_name,
        "url": ci_run_url(settings.build_id),  # the jobs page links the build
    }


def open_job(
    settings: Settings, runs: Sequence[TestRun], job_id: str, *, journal: Path | None = None
) -> tuple[Settings, TaskStore, JobRecord, str | None]:
    """Open the task store, spool ``runs`` and record the job; on a store error, fall back to
    a private temporary folder (returned settings name it) with a warning saying where."""

    def prepare(settings: Settings, store: TaskStore) -> JobRecord:
        return prepare_job(settings, runs, store, job_id=job_id, journal=journal)

    try:
        store = open_store(settings.task_store)
        try:
            return settings, store, prepare(settings, store), None
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
        return settings, store, prepare(settings, store), warning


def journal_of(job: JobRecord) -> Path | None:
    """The job's journal, when it was uploaded from one."""
    path = job.settings.get(JOURNAL_KEY)
    return Path(path) if path else None


def record_journal_slices(
    store: TaskStore,
    job: JobRecord,
    journal: Journal,
    *,
    ended: bool,
    folder: Path,
    skip: int = 0,
) -> list[int]:
    """Write and record the slices of the journal's results the job does not have yet;
    return their indexes.  They are written as the journal's header says (document header,
    slice size, trace limit), whoever writes them.

    ``ended``: the journal is complete (its end mark, or its writer is gone), so the last
    partial slice and the held pytest-bdd runs are cut too.  ``skip``: how many full slices
    were cut before the end already (their runs are not looked at again).
    """
    planned = cut_slices(
        journal.runs, journal.slice_size, ended=ended, skip=skip, expected=journal.expected
    )
    have = {record.index for record in job.slices}
    missing = [(index, chunk) for index, chunk in enumerate(planned, 1) if index not in have]
    if not missing:
        return []
    header = journal.header
    run_id = job.settings.get("external_run_id")
    if run_id:  # the job's suite run (see prepare_job)
        header = header._replace(external_run_id=str(run_id))
    records = [
        record
        for index, chunk in missing
        for record in spool_records(
            folder,
            chunk,
            header,
            slice_size=journal.slice_size,
            max_trace=journal.max_trace,
            first_index=index,
        )
    ]
    store.add_slices(job.job_id, records)
    return [record.index for record in records]


def writer_alive(journal: Journal) -> bool:
    """Whether the pytest process that writes this journal is still running here."""
    if journal.ended or journal.pid is None or journal.host != socket.gethostname():
        return False
    return pid_alive(journal.pid)


def catch_up(store: TaskStore, job: JobRecord) -> tuple[list[int], str | None]:
    """Before ``resume`` finishes a job: record the slices its journal holds that the store
    lacks (its uploader died before it recorded them).  Returns their indexes and a line to
    say (a journal that cannot be read, or that is still being written)."""
    path = journal_of(job)
    if path is None:
        return [], None
    try:
        journal = read_journal(path)
    except InputError as exc:
        if not path.exists():
            return [], f"the job's journal {path} is gone: only its recorded slices are finished"
        raise InputError(f"{exc}; the recorded slices are finished all the same") from None
    if writer_alive(journal):
        raise InputError(
            f"pytest (pid {journal.pid}) is still writing the journal of job {job.job_id}; "
            "resume it after that session ended"
        )
    indexes = record_journal_slices(store, job, journal, ended=True, folder=path.parent)
    note = None
    if indexes:
        runs = sum(store.get_job(job.job_id).slice(i).run_count for i in indexes)
        note = f"{runs} journaled runs were not in a slice yet: slices {indexes[0]}-{indexes[-1]}"
    if journal.torn:
        torn = "the journal's last line was cut short by the kill (a test that did not finish)"
        note = f"{note}; {torn}" if note else torn
    return indexes, note
