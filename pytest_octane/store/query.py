"""One page of the jobs list, filtered: what the jobs page shows (and ``/api/jobs`` returns).

The SQL store answers with one query for the page (``SqlStore.query_jobs``); the JSON folder
store reads every job and filters here, which is fine for the few hundred jobs a folder holds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from pytest_octane.model import JobRecord, SliceStatus
from pytest_octane.store.base import DamagedJob, JobListing, TaskStore

__all__ = ["JobPage", "JobQuery", "build_text", "matches", "page_of", "query_jobs"]


@dataclass(frozen=True, slots=True)
class JobQuery:
    """Filters (all optional) and the page: ``status`` is a job status (Success, Failed,
    Running), ``text`` is found in the job id, the build or a failed run's name."""

    status: SliceStatus | None = None
    space: int | None = None
    text: str = ""
    offset: int = 0
    limit: int = 50


@dataclass(frozen=True, slots=True)
class JobPage:
    """The jobs of one page (newest first), how many match in all, the damaged jobs (on the
    first page) and every shared space the store has jobs of (for the filter's choices)."""

    jobs: list[JobRecord]
    total: int
    damaged: list[DamagedJob] = field(default_factory=list)
    spaces: list[int] = field(default_factory=list)


def build_text(build: dict[str, str]) -> str:
    """The build as the text search sees it (the SQL store keeps exactly this text)."""
    return json.dumps(build, ensure_ascii=False, separators=(",", ":"))


def matches(job: JobRecord, query: JobQuery) -> bool:
    if query.status is not None and job.status is not query.status:
        return False
    if query.space is not None and job.space_id != query.space:
        return False
    text = query.text.strip().lower()
    if not text:
        return True
    if text in job.job_id.lower() or text in build_text(job.build).lower():
        return True
    return any(text in f.name.lower() for s in job.slices for f in s.failures)


def page_of(listing: JobListing, query: JobQuery) -> JobPage:
    """The page ``query`` asks for, out of every job of the store."""
    found = [job for job in listing.jobs if matches(job, query)]
    return JobPage(
        jobs=found[query.offset : query.offset + query.limit],
        total=len(found),
        damaged=list(listing.damaged) if query.offset == 0 else [],
        spaces=sorted({job.space_id for job in listing.jobs}),
    )


def query_jobs(store: TaskStore, query: JobQuery) -> JobPage:
    """The page from the store's own query when it has one, else from all its jobs."""
    own = getattr(store, "query_jobs", None)
    if own is not None:
        page: JobPage = own(query)
        return page
    return page_of(store.scan_jobs(), query)
