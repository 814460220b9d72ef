"""The TaskStore protocol: what the uploader records and the CLI reads back."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pytest_octane.errors import StoreError

if TYPE_CHECKING:  # annotations only: naming a store (pytest's report header) builds no records
    from pytest_octane.records import JobRecord, RequestLogEntry, SliceRecord

__all__ = ["DamagedJob", "JobListing", "TaskStore"]


@dataclass(frozen=True, slots=True)
class DamagedJob:
    """A job the store has but cannot read: its id and one line naming the file or row."""

    job_id: str
    problem: str


@dataclass(frozen=True, slots=True)
class JobListing:
    """Every readable job (newest first) and every damaged one, so one bad file or row
    does not hide the others."""

    jobs: list[JobRecord]
    damaged: list[DamagedJob]

    def has(self, job_id: str) -> bool:
        """Whether the store holds ``job_id``, readable or not."""
        return any(j.job_id == job_id for j in self.jobs) or any(
            d.job_id == job_id for d in self.damaged
        )

    def intact_jobs(self) -> list[JobRecord]:
        """Every job, when none is damaged; else the first damaged one's problem as the error."""
        if self.damaged:
            raise StoreError(self.damaged[0].problem)
        return self.jobs


class TaskStore(Protocol):
    """Durable record of upload jobs, their slices and their request logs.

    Every method is one atomic change; two processes may share one store.
    Unknown job ids raise :class:`pytest_octane.errors.StoreError`.
    """

    #: Human-readable location (folder path or database URL without password).
    location: str

    def create_job(self, job: JobRecord) -> None:
        """Record a new job with its slices (all ``Running`` without task ids)."""

    def get_job(self, job_id: str) -> JobRecord:
        """Return one job with all its slices and history."""

    def list_jobs(self) -> list[JobRecord]:
        """All jobs, newest first; StoreError if any of them cannot be read."""

    def scan_jobs(self) -> JobListing:
        """All readable jobs, newest first, and one entry per job that cannot be read."""

    def add_slices(self, job_id: str, slices: Sequence[SliceRecord]) -> None:
        """Add new slices (``Running``, no task id) to an existing job, in one atomic change.

        Used by streaming uploads: a slice is recorded as soon as it is spooled. An index the
        job already has is refused (StoreError) and nothing is added.
        """

    def update_slice(self, job_id: str, index: int, **changes: Any) -> SliceRecord:
        """Change fields of one slice (``updated_at`` is set to now); return the new record."""

    def finish_job(self, job_id: str, finished_at: float) -> None:
        """Mark the job as finished (its slices may still be Failed)."""

    def add_history(self, job_id: str, event: dict[str, Any]) -> None:
        """Append one event (e.g. a retry, a delink) to the job's history."""

    def append_requests(self, job_id: str, entries: Sequence[RequestLogEntry]) -> None:
        """Append entries to the job's request log."""

    def read_requests(
        self, job_id: str, *, on_damaged: Callable[[str], None] | None = None
    ) -> list[RequestLogEntry]:
        """The job's request log, oldest first.

        A line or row that cannot be read raises StoreError naming it; with ``on_damaged``
        it is skipped instead and ``on_damaged`` gets one line naming it, so the healthy
        entries can still be shown.
        """

    def lock(self, name: str, *, timeout: float) -> AbstractContextManager[None]:
        """Hold the named lock, exclusive across processes and threads sharing this store.

        Waits at most ``timeout`` seconds (0: try once), then raises
        :class:`pytest_octane.errors.LockBusy` naming the holder's pid and host. The
        lock is freed when its holder dies. Not re-entrant.
        """

    def take_slot(self, pool: str, limit: int, ttl: float) -> str | None:
        """Take one of ``limit`` shared slots of ``pool`` for ``ttl`` seconds.

        Returns the lease id, or None when every slot is held by a live lease (a lease
        whose process is gone from this host, or whose expiry passed, does not count).
        """

    def renew_slots(self, pool: str, lease_ids: Sequence[str], ttl: float) -> None:
        """Push the expiry of the given leases ``ttl`` seconds ahead."""

    def release_slot(self, pool: str, lease_id: str) -> None:
        """Give one slot back."""

    def close(self) -> None:
        """Release connections and locks."""
