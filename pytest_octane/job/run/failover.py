"""The task store of a session's upload, kept going when the store fails mid-session.

The uploader records every slice, task id and outcome of its job in the task store.  When the
store fails (a full disk, PostgreSQL restarted), nothing the job knows is lost: this wrapper
keeps a copy of the job's record as it changes, and at the first store error it moves the
job to a private folder (a JSON task store under the temporary folder) seeded with that copy,
and carries on there.  The line :attr:`FailoverStore.moved` names that folder; at the end,
:meth:`FailoverStore.write_back` gives the job back to the original store if it works again.
The leases of a shared queue budget stay in the original store while it can lease.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from pytest_octane.errors import LockBusy, StoreError
from pytest_octane.model import JobRecord, RequestLogEntry, SliceRecord
from pytest_octane.store import JobListing, TaskStore, open_store

__all__ = ["MOVED_EVENT", "FailoverStore"]

#: history event of a job the store failed in mid-session: where it was kept meanwhile
MOVED_EVENT = "moved"

log = logging.getLogger(__name__)

T = TypeVar("T")


class FailoverStore:
    """A :class:`TaskStore` for one job: the original store until it fails, then a private one."""

    def __init__(self, primary: TaskStore, job: JobRecord) -> None:
        self.primary = primary
        self._current = primary
        self._job = job  # the job as this process recorded it, every change included
        self._lock = threading.RLock()
        #: one line naming where the job went after a store error (None while all is well)
        self.moved: str | None = None
        self.folder: Path | None = None
        self._fallback: TaskStore | None = None  # the private store, once the job moved
        self._private_leases: set[str] = set()  # taken there: the original could not lease
        self._private_budget = False

    @property
    def location(self) -> str:
        return self._current.location

    @location.setter
    def location(self, value: str) -> None:
        self._current.location = value

    @property
    def failed_over(self) -> bool:
        return self._current is not self.primary

    # -- the job's record (kept here too)

    def create_job(self, job: JobRecord) -> None:
        with self._lock:
            self._job = job
            self._call(lambda store: store.create_job(job))

    def get_job(self, job_id: str) -> JobRecord:
        if job_id != self._job.job_id:
            return self._call(lambda store: store.get_job(job_id))
        with self._lock:
            if not self.failed_over:
                try:
                    self._job = self.primary.get_job(job_id)
                except StoreError as exc:
                    self._fail_over(exc)
            return self._job

    def add_slices(self, job_id: str, slices: Sequence[SliceRecord]) -> None:
        with self._lock:
            self._job = replace(self._job, slices=(*self._job.slices, *slices))
            self._call(lambda store: store.add_slices(job_id, slices), mirrored=True)

    def update_slice(self, job_id: str, index: int, **changes: Any) -> SliceRecord:
        with self._lock:
            now = time.time()
            slices = tuple(
                replace(s, **changes, updated_at=now) if s.index == index else s
                for s in self._job.slices
            )
            self._job = replace(self._job, slices=slices)
            self._call(lambda store: store.update_slice(job_id, index, **changes), mirrored=True)
            return self._job.slice(index)

    def finish_job(self, job_id: str, finished_at: float) -> None:
        with self._lock:
            self._job = replace(self._job, finished_at=finished_at)
            self._call(lambda store: store.finish_job(job_id, finished_at), mirrored=True)

    def add_history(self, job_id: str, event: dict[str, Any]) -> None:
        with self._lock:
            self._job = replace(self._job, history=(*self._job.history, dict(event)))
            self._call(lambda store: store.add_history(job_id, event), mirrored=True)

    # -- the rest goes to whichever store is in use

    def list_jobs(self) -> list[JobRecord]:
        return self._call(lambda store: store.list_jobs())

    def scan_jobs(self) -> JobListing:
        return self._call(lambda store: store.scan_jobs())

    def append_requests(self, job_id: str, entries: Sequence[RequestLogEntry]) -> None:
        self._call(lambda store: store.append_requests(job_id, entries))

    def read_requests(
        self, job_id: str, *, on_damaged: Callable[[str], None] | None = None
    ) -> list[RequestLogEntry]:
        return self._call(lambda store: store.read_requests(job_id, on_damaged=on_damaged))

    @contextlib.contextmanager
    def lock(self, name: str, *, timeout: float) -> Iterator[None]:
        """The named lock in the store in use; a store that cannot even take it (a lock
        folder that cannot be made) moves the job, and the lock is taken there."""
        held: AbstractContextManager[None] = self._current.lock(name, timeout=timeout)
        try:
            held.__enter__()
        except LockBusy:
            raise  # held by another process: nothing failed
        except StoreError as exc:
            with self._lock:
                if self._current is not self.primary:
                    raise
                self._fail_over(exc)
            held = self._current.lock(name, timeout=timeout)
            held.__enter__()
        try:
            yield
        finally:
            try:
                held.__exit__(None, None, None)
            except StoreError as exc:  # a store that failed meanwhile frees it at our exit
                log.warning("giving back the lock %s: %s", name, exc)

    # -- the shared queue budget: its leases stay in the original store

    def take_slot(self, pool: str, limit: int, ttl: float) -> str | None:
        """A slot of the budget that every runner of the original store shares.  A job that
        moved still asks there (SQLite's lease files and PostgreSQL's lease rows often work
        while a write failed): a lease taken in the private store would count this job's
        uploads alone and overrun Octane's queue.  Only when the original cannot lease at all
        does the job count its own slots (the failure is said once)."""
        try:
            lease = self.primary.take_slot(pool, limit, ttl)
        except StoreError as exc:
            if not self.failed_over:
                raise  # a slice that cannot wait for a slot is not sent: 'resume' sends it
            if not self._private_budget:
                self._private_budget = True
                log.warning(
                    "the shared queue budget in %s cannot be reached (%s): this job counts "
                    "only its own uploads against it",
                    self.primary.location,
                    exc,
                )
            assert self._fallback is not None  # failed over
            lease = self._fallback.take_slot(pool, limit, ttl)
            if lease is not None:
                self._private_leases.add(lease)
        return lease

    def renew_slots(self, pool: str, lease_ids: Sequence[str], ttl: float) -> None:
        private = [lease for lease in lease_ids if lease in self._private_leases]
        shared = [lease for lease in lease_ids if lease not in self._private_leases]
        if private and self._fallback is not None:
            self._fallback.renew_slots(pool, private, ttl)
        if shared:
            self.primary.renew_slots(pool, shared, ttl)

    def release_slot(self, pool: str, lease_id: str) -> None:
        if lease_id in self._private_leases and self._fallback is not None:
            self._private_leases.discard(lease_id)
            self._fallback.release_slot(pool, lease_id)
        else:
            self.primary.release_slot(pool, lease_id)

    def close(self) -> None:
        stores = (self._current, self._fallback, self.primary)
        for store in {id(s): s for s in stores if s is not None}.values():
            try:
                store.close()
            except StoreError as exc:
                log.warning("closing the task store %s: %s", store.location, exc)

    # -- failing over, and back

    def _call(self, action: Callable[[TaskStore], T], *, mirrored: bool = False) -> T:
        """``action`` on the store in use; on the original store's error, move the job (a
        change already kept in the copy is not applied twice)."""
        with self._lock:
            store = self._current
            try:
                return action(store)
            except StoreError as exc:
                if store is not self.primary:
                    raise
                self._fail_over(exc)
                if mirrored:
                    return None  # type: ignore[return-value]  # the copy holds the change
                return action(self._current)

    def _fail_over(self, exc: StoreError) -> None:
        folder = Path(tempfile.mkdtemp(prefix=f"pytest-octane-{self._job.job_id}-"))
        fallback = open_store(str(folder / "store"))
        event = {"time": time.time(), "event": MOVED_EVENT, "from": self.primary.location}
        event["error"] = str(exc)
        self._job = replace(self._job, history=(*self._job.history, event))
        fallback.create_job(self._job)
        self._current, self._fallback, self.folder = fallback, fallback, folder
        self.moved = (
            f"the task store {self.primary.location} failed in mid-session ({exc}); "
            f"this job is kept in {folder / 'store'} instead"
        )
        log.warning("%s", self.moved)

    def write_back(self) -> bool:
        """At the end: give the job back to the original store if it works again (then the
        private copy is only a copy); False when it still fails."""
        with self._lock:
            if not self.failed_over:
                return True
            job = self._job
            try:
                there = {s.index: s for s in self.primary.get_job(job.job_id).slices}
                missing = [s for s in job.slices if s.index not in there]
                if missing:
                    self.primary.add_slices(job.job_id, missing)
                for record in job.slices:
                    old = there.get(record.index)
                    if old is not None and old != record:
                        fields = ("status", "task_id", "attempts", "last_error")
                        more = ("server_status", "error_details")
                        self.primary.update_slice(
                            job.job_id,
                            record.index,
                            **{name: getattr(record, name) for name in (*fields, *more)},
                        )
                self.primary.add_history(
                    job.job_id,
                    {"time": time.time(), "event": MOVED_EVENT, "to": str(self.folder)},
                )
                if job.finished_at is not None:
                    self.primary.finish_job(job.job_id, job.finished_at)
            except StoreError as exc:
                log.warning(
                    "the task store still fails (%s); the job stays in %s", exc, self.folder
                )
                return False
            self.moved = (
                f"the task store {self.primary.location} failed in mid-session; the job was "
                f"kept in {self.folder} meanwhile and written back at the end"
            )
            self._current = self.primary
            return True
