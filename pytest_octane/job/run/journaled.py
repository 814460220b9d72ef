"""From a job's journal to its recorded slices: the same cut whoever makes it.

The uploader process and ``pytest-octane resume`` both turn the journal's results into slices
with :func:`record_journal_slices`: the slices are cut from journal order (``spool.cut_slices``),
each one written as ``slice-NNNN.xml`` next to the journal and then recorded in the store.  A
slice the store already has is left alone; one it lacks is written again (the same runs and
header give the same bytes, so a file left by a kill between the write and the record is
simply replaced, and Octane de-duplicates a re-sent slice).
"""

from __future__ import annotations

import os
import socket
from dataclasses import replace
from pathlib import Path

from pytest_octane.errors import InputError
from pytest_octane.job.journal import Journal, read_journal
from pytest_octane.job.spool import JOURNAL_KEY, cut_slices, spool_records
from pytest_octane.model import JobRecord
from pytest_octane.store import TaskStore

__all__ = ["INTERRUPTED_EVENT", "catch_up", "journal_of", "record_journal_slices"]

#: history event of a job whose pytest ended without the journal's end mark
INTERRUPTED_EVENT = "interrupted"


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
    planned = cut_slices(journal.runs, journal.slice_size, ended=ended, skip=skip)
    have = {record.index for record in job.slices}
    missing = [(index, chunk) for index, chunk in enumerate(planned, 1) if index not in have]
    if not missing:
        return []
    header = journal.header
    run_id = job.settings.get("external_run_id")
    if run_id:  # the job's suite run (see engine.prepare_job)
        header = replace(header, external_run_id=str(run_id))
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
    try:
        os.kill(journal.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
