"""Coordination between jobs that share one task store: who uploads a job, who creates an
entity, how many tasks they have in Octane's queue.

A job is uploaded (or resumed, or retried) by one process at a time: a second one stops at
once with a message naming the first, instead of sending the same slices again. Jobs that
create application modules and suites take one store lock per workspace around each
entity's query-create-query, so two jobs never both create it and nobody needs DELETE.

Octane's queue limit is per shared space, but each job only knows its own uploads. With
``--octane-queue-budget=N`` a slice takes one of N slots (a lease in the task store)
before its POST and gives it back once its task is terminal, so N runners together never
have more than N tasks queued or running. A lease of a process that is gone (this host)
or whose expiry passed (any host) no longer counts; a holder renews its leases while it
holds them. Octane's queue-full answer stays the last defence.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

from pytest_octane.errors import JobBusy, LockBusy, OctaneError
from pytest_octane.octane.client import OctaneClient
from pytest_octane.store import TaskStore

__all__ = [
    "LEASE_TTL_S",
    "CreationGuard",
    "Guard",
    "QueueBudget",
    "creation_guard",
    "creation_lock",
    "job_lock",
    "job_lock_name",
    "pool_name",
    "taking_turns",
]

#: How long a job waits for another job's get-or-create of one module or suite.
CREATION_WAIT_S = 120.0

CreationGuard = Callable[[], AbstractContextManager[None]]
#: Factory of the lock held around one entity's get-or-create (``coord.creation_guard``).
Guard = Callable[[], AbstractContextManager[object]]


def job_lock_name(job_id: str) -> str:
    return f"job:{job_id}"


@contextlib.contextmanager
def job_lock(store: TaskStore, job_id: str) -> Iterator[None]:
    """Hold the job's lock, or raise JobBusy at once ("job J is being uploaded by pid N on H")."""
    stack = contextlib.ExitStack()
    try:
        stack.enter_context(store.lock(job_lock_name(job_id), timeout=0))
    except LockBusy as exc:
        who = exc.holder.describe() if exc.holder else "another process"
        raise JobBusy(f"job {job_id} is being uploaded by {who}") from None
    with stack:
        yield


def creation_guard(
    store: TaskStore, server: str, space_id: int, workspace_id: int
) -> CreationGuard:
    """Context-manager factory: the store lock for get-or-create in one workspace.

    The threads of one process first take turns on an in-process lock, so a job's own
    upload threads never wait on each other's file lock or database connection.
    """
    name = f"create:{server.rstrip('/')}:{space_id}:{workspace_id}"
    local = _local_lock(name)

    @contextlib.contextmanager
    def guard() -> Iterator[None]:
        with local, store.lock(name, timeout=CREATION_WAIT_S):
            yield

    return guard


_LOCAL_LOCKS: dict[str, threading.Lock] = {}
_LOCAL_GUARD = threading.Lock()


def _local_lock(name: str) -> threading.Lock:
    """This process's lock of that name, made on first use."""
    with _LOCAL_GUARD:
        return _LOCAL_LOCKS.setdefault(name, threading.Lock())


def creation_lock(client: OctaneClient) -> threading.Lock:
    """One lock per workspace for get-or-create in this process.

    Uploads in threads of one process then create a module or suite exactly once; uploads
    in different processes still meet in the query-create-query rule.
    """
    return _local_lock(client.base_url)  # a URL: never one of creation_guard's names


def taking_turns(client: OctaneClient, guard: Guard | None) -> AbstractContextManager[object]:
    """The lock around one get-or-create: the store's ``guard`` if given, else this process's."""
    return guard() if guard is not None else creation_lock(client)


# ---------------------------------------------------------------- the queue budget

#: Seconds a lease lives without renewal (a runner on another host that died frees it then).
LEASE_TTL_S = 60.0
#: How often a waiting slice asks for a slot again.
WAIT_POLL_S = 0.1


def pool_name(server: str, space_id: int) -> str:
    """Slots are per Octane shared space, as Octane's queue limit is."""
    return f"queue:{server.rstrip('/').lower()}:{space_id}"


class QueueBudget:
    """The shared slots of one job's upload; ``slot()`` around each slice's POST and poll."""

    def __init__(
        self,
        store: TaskStore,
        pool: str,
        limit: int,
        *,
        deadline_s: float,
        ttl_s: float = LEASE_TTL_S,
        on_wait: Callable[[bool], None] = lambda waiting: None,
    ) -> None:
        self._store = store
        self._pool = pool
        self.limit = limit
        self._deadline_s = deadline_s
        self._ttl_s = ttl_s
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._on_wait = on_wait

    @contextlib.contextmanager
    def slot(self, on_wait: Callable[[bool], None] | None = None) -> Iterator[None]:
        """Hold one slot; wait (saying so through ``on_wait``) while all are taken."""
        lease = self._take(on_wait or self._on_wait)
        try:
            yield
        finally:
            with self._lock:
                self._held.discard(lease)
            self._store.release_slot(self._pool, lease)

    def close(self) -> None:
        """Stop renewing and give back any slot still held."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=self._ttl_s)
        with self._lock:
            held, self._held = list(self._held), set()
        for lease in held:
            with contextlib.suppress(OctaneError):
                self._store.release_slot(self._pool, lease)

    def _take(self, on_wait: Callable[[bool], None]) -> str:
        started = time.monotonic()
        waiting = False
        try:
            while True:
                lease = self._store.take_slot(self._pool, self.limit, self._ttl_s)
                if lease is not None:
                    with self._lock:
                        self._held.add(lease)
                    self._start_renewer()
                    return lease
                if not waiting:
                    waiting = True
                    on_wait(True)
                if time.monotonic() - started > self._deadline_s:
                    raise OctaneError(
                        f"waited {self._deadline_s:.0f} s for one of the {self.limit} slots of "
                        "the shared queue budget (--octane-queue-budget): other jobs sharing "
                        "the task store hold them all; raise the budget or retry later"
                    )
                time.sleep(WAIT_POLL_S)
        finally:
            if waiting:
                on_wait(False)

    def _start_renewer(self) -> None:
        with self._lock:
            if self._renewer is not None:
                return
            self._renewer = threading.Thread(
                target=self._renew, name="octane-queue-budget", daemon=True
            )
            self._renewer.start()

    def _renew(self) -> None:
        while not self._stop.wait(self._ttl_s / 3):
            with self._lock:
                held = list(self._held)
            if held:
                with contextlib.suppress(OctaneError):
                    self._store.renew_slots(self._pool, held, self._ttl_s)
