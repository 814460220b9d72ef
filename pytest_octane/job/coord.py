"""Coordination between jobs that share one task store: who uploads a job, who creates an entity.

A job is uploaded (or resumed, or retried) by one process at a time: a second one stops at
once with a message naming the first, instead of sending the same slices again. Jobs that
create application modules and suites take one store lock per workspace around each
entity's query-create-query, so two jobs never both create it and nobody needs DELETE.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

from pytest_octane.errors import JobBusy, LockBusy
from pytest_octane.octane.client import OctaneClient
from pytest_octane.store import TaskStore

__all__ = [
    "CreationGuard",
    "Guard",
    "creation_guard",
    "creation_lock",
    "job_lock",
    "job_lock_name",
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
