"""Named locks and slot leases shared by every process that uses one task store.

The folder and SQLite stores lock files in a lock folder (``flock`` on POSIX, ``msvcrt``
on Windows): the kernel drops such a lock when its holder dies, even by SIGKILL. Each lock
file holds its holder's pid and host so the one who waits can say who is in the way.
Slot leases (one queue budget shared by several runners) are small files in the same
folder, changed only under a named lock; a lease whose process is gone (same host) or
whose expiry passed (any host) no longer counts.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from pytest_octane.errors import LockBusy, LockHolder, StoreError

__all__ = [
    "FileLocks",
    "Locks",
    "LocksDelegate",
    "lease_alive",
    "me",
    "pid_alive",
]

#: How often a waiting process tries a busy lock again.
POLL_S = 0.05
_LOCK_OFFSET = 1 << 20  # Windows locks one byte far beyond the holder text


class Locks(Protocol):
    """What a store hands its lock and slot methods to (file locks or PostgreSQL)."""

    def lock(self, name: str, *, timeout: float) -> AbstractContextManager[None]: ...
    def take_slot(self, pool: str, limit: int, ttl: float) -> str | None: ...
    def renew_slots(self, pool: str, lease_ids: Sequence[str], ttl: float) -> None: ...
    def release_slot(self, pool: str, lease_id: str) -> None: ...


class LocksDelegate:
    """The TaskStore lock and slot methods, passed on to ``self._locks``."""

    _locks: Locks

    def lock(self, name: str, *, timeout: float) -> AbstractContextManager[None]:
        return self._locks.lock(name, timeout=timeout)

    def take_slot(self, pool: str, limit: int, ttl: float) -> str | None:
        return self._locks.take_slot(pool, limit, ttl)

    def renew_slots(self, pool: str, lease_ids: Sequence[str], ttl: float) -> None:
        self._locks.renew_slots(pool, lease_ids, ttl)

    def release_slot(self, pool: str, lease_id: str) -> None:
        self._locks.release_slot(pool, lease_id)


def me() -> LockHolder:
    """This process as a lock holder."""
    return LockHolder(os.getpid(), socket.gethostname())


def lease_alive(holder: LockHolder, expires_at: float, now: float) -> bool:
    """A lease counts while its expiry is ahead and, on this host, its process lives."""
    if expires_at < now:
        return False
    if holder.host != socket.gethostname():
        return True
    return pid_alive(holder.pid)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host.  A zombie does not: a killed process whose
    parent died before reaping it waits for init, and its locks are free at once."""
    if pid <= 0:
        return False
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        return True  # no cheap check: the expiry decides
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rpartition(b")")[2].split()
    except OSError:  # no /proc (macOS): os.kill's answer stands
        return False
    return fields[:1] == [b"Z"]


def lock_key(name: str) -> str:
    """A file-name-safe, fixed-length key for any lock or pool name."""
    return hashlib.sha256(name.encode("utf-8")).hexdigest()[:40]


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, _LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, _LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class FileLocks:
    """Named OS file locks and lease files in one folder (``.locks`` of a store)."""

    def __init__(self, folder: Path, location: str) -> None:
        self._folder = folder
        self._location = location

    @contextlib.contextmanager
    def lock(self, name: str, *, timeout: float) -> Iterator[None]:
        """Hold the lock ``name``; wait at most ``timeout`` seconds (0: try once)."""
        path = self._folder / f"{lock_key(name)}.lock"
        try:
            self._folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(
                f"cannot create the lock folder {self._folder} of the task store "
                f"'{self._location}' ({exc.strerror}): make it writable"
            ) from None
        try:
            deadline = time.monotonic() + max(timeout, 0.0)
            while not _try_lock(fd):
                if time.monotonic() >= deadline:
                    raise LockBusy(name, _read_holder(path), self._location)
                time.sleep(POLL_S)
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, me().text().encode("utf-8"))
            try:
                yield
            finally:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
                _unlock(fd)
        finally:
            os.close(fd)

    def take_slot(self, pool: str, limit: int, ttl: float) -> str | None:
        """Take one of ``limit`` slots of ``pool``: the lease id, or None when all are taken."""
        folder = self._pool_folder(pool)
        with self.lock(f"slots:{pool}", timeout=30.0):
            now = time.time()
            live = 0
            for lease in _lease_files(folder):
                holder, expires_at = _read_lease(lease)
                if holder is not None and lease_alive(holder, expires_at, now):
                    live += 1
                else:
                    with contextlib.suppress(OSError):
                        lease.unlink()
            if live >= limit:
                return None
            lease_id = uuid.uuid4().hex
            folder.mkdir(parents=True, exist_ok=True)
            _write_lease(folder / f"{lease_id}.lease", me(), now + ttl)
            return lease_id

    def renew_slots(self, pool: str, lease_ids: Sequence[str], ttl: float) -> None:
        """Push the expiry of our own leases ``ttl`` seconds ahead."""
        folder = self._pool_folder(pool)
        with self.lock(f"slots:{pool}", timeout=30.0):
            expires = time.time() + ttl
            for lease_id in lease_ids:
                path = folder / f"{lease_id}.lease"
                if path.exists():
                    _write_lease(path, me(), expires)

    def release_slot(self, pool: str, lease_id: str) -> None:
        """Give one slot back (a missing lease is already given back)."""
        with self.lock(f"slots:{pool}", timeout=30.0), contextlib.suppress(OSError):
            (self._pool_folder(pool) / f"{lease_id}.lease").unlink()

    def _pool_folder(self, pool: str) -> Path:
        return self._folder / f"slots-{lock_key(pool)}"


def _read_holder(path: Path) -> LockHolder | None:
    try:
        return LockHolder.parse(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None


def _lease_files(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if p.suffix == ".lease"]
    except OSError:
        return []


def _read_lease(path: Path) -> tuple[LockHolder | None, float]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return LockHolder(int(data["pid"]), str(data["host"])), float(data["expires_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None, 0.0  # damaged or half-written: not a live lease


def _write_lease(path: Path, holder: LockHolder, expires_at: float) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    data = {"pid": holder.pid, "host": holder.host, "expires_at": expires_at}
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)
