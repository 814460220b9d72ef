"""Opening a job: its slices spooled and the job recorded, before any request.

Light on purpose: no HTTP client is imported here, so the uploader process records its job
(and tells pytest it is ready) before it loads what the sending needs.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from pytest_octane.errors import StoreError
from pytest_octane.job.journal import new_job_id
from pytest_octane.job.recorded import external_run_id_for
from pytest_octane.job.spool import JOURNAL_KEY, spool_records
from pytest_octane.model import JobRecord, TestRun
from pytest_octane.octane.results_xml import header_from_settings
from pytest_octane.settings import Settings, require_connection
from pytest_octane.settings.ci import ci_run_url
from pytest_octane.store import TaskStore, open_store

__all__ = ["Opened", "open_job", "prepare_job"]

#: what open_job returns: the settings (naming a fallback folder, if one was needed), the
#: store, the job as recorded, and a warning naming the fallback folder
Opened = tuple[Settings, TaskStore, JobRecord, str | None]


def _now() -> float:
    return time.time()


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
