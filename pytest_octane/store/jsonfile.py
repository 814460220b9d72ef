"""The default task store: one JSON file per job in a folder, safe for several processes.

Every read-modify-write of a job happens under an exclusive lock on ``{job_id}.lock`` and
ends with an atomic replace, so readers (which take no lock, and so also work on a
read-only copy of the folder) always see a whole file. The record <-> plain-dict codec
(``store/codec.py``) is the JSON format; the SQL store reuses it for its JSON columns and
for the same validation of job ids and slice changes.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from pytest_octane.errors import StoreError
from pytest_octane.model import JobRecord, RequestLogEntry, SliceRecord
from pytest_octane.store.base import DamagedJob, JobListing
from pytest_octane.store.codec import (
    FORMAT_VERSION,
    JOB_ID_PATTERN,
    check_job_id,
    check_slice_index,
    decode_entries,
    entry_from_dict,
    entry_to_dict,
    job_from_dict,
    job_to_dict,
    new_slices,
    slice_changes,
    slice_from_dict,
    slice_to_dict,
)
from pytest_octane.store.locks import FileLocks, LocksDelegate

__all__ = [
    "FORMAT_VERSION",
    "JsonFileStore",
    "check_job_id",
    "check_slice_index",
    "entry_from_dict",
    "entry_to_dict",
    "new_slices",
    "slice_changes",
    "slice_from_dict",
    "slice_to_dict",
]


_LOCK_ATTEMPTS = 60  # Windows only: msvcrt retries each attempt for ~10 s itself.


# ---- locking (stdlib only) ----

if sys.platform == "win32":
    import msvcrt

    def _lock_fd(fd: int) -> None:
        for _ in range(_LOCK_ATTEMPTS):
            os.lseek(fd, 0, os.SEEK_SET)
            try:
                msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
            except OSError:
                continue
            return
        raise TimeoutError("another process held the lock for too long")

    def _unlock_fd(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock_fd(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)

    def _unlock_fd(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


# ---- the store ----


class JsonFileStore(LocksDelegate):
    """``{job_id}.json`` + ``{job_id}.requests.jsonl`` (+ ``{job_id}.lock``) in one folder."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self._folder = Path(folder)
        self.location = str(self._folder)
        self._locks = FileLocks(self._folder / ".locks", self.location)

    def __repr__(self) -> str:
        return f"JsonFileStore({self.location!r})"

    # -- TaskStore --

    def create_job(self, job: JobRecord) -> None:
        job_id = check_job_id(job.job_id)
        data = job_to_dict(job, new_slices(job, time.time()))
        with self._locked(job_id):
            if self._job_path(job_id).exists():
                raise StoreError.job_exists(job_id, self.location)
            self._write_job(job_id, data)

    def get_job(self, job_id: str) -> JobRecord:
        check_job_id(job_id)
        return self._decode(self._job_path(job_id), self._read_job(job_id))

    def list_jobs(self) -> list[JobRecord]:
        return self.scan_jobs().intact_jobs()

    def scan_jobs(self) -> JobListing:
        try:
            names = [entry.name for entry in os.scandir(self._folder)]
        except FileNotFoundError:
            return JobListing([], [])  # nothing recorded yet: made on first write
        except OSError as exc:
            raise StoreError(
                f"cannot read the task store folder '{self.location}' ({exc.strerror}): "
                "check that it is a readable folder"
            ) from None
        jobs: list[JobRecord] = []
        damaged: list[DamagedJob] = []
        for name in sorted(names):
            job_id = name.removesuffix(".json")
            if job_id == name or not JOB_ID_PATTERN.match(job_id):
                continue  # not a job file (request logs, locks, '.'-prefixed temp files)
            path = self._folder / name
            try:
                jobs.append(self._decode(path, self._load(path)))
            except FileNotFoundError:
                continue
            except StoreError as exc:
                damaged.append(DamagedJob(job_id, str(exc)))
        jobs.sort(key=lambda j: (-j.created_at, j.job_id))
        return JobListing(jobs, damaged)

    def add_slices(self, job_id: str, slices: Sequence[SliceRecord]) -> None:
        check_job_id(job_id)
        with self._locked(job_id):
            data = self._read_job(job_id)
            job = self._decode(self._job_path(job_id), data)
            added = new_slices(replace(job, slices=job.slices + tuple(slices)), time.time())
            data["slices"] = [slice_to_dict(s) for s in added]
            self._write_job(job_id, data)

    def update_slice(self, job_id: str, index: int, **changes: Any) -> SliceRecord:
        check_job_id(job_id)
        check_slice_index(index)
        clean = slice_changes(changes)
        clean.setdefault("updated_at", time.time())
        with self._locked(job_id):
            data = self._read_job(job_id)
            for raw in data["slices"]:
                if raw.get("index") == index:
                    raw.update(clean)
                    updated = self._decode_slice(job_id, raw)
                    break
            else:
                raise StoreError.no_slice(job_id, index, self.location)
            self._write_job(job_id, data)
        return updated

    def finish_job(self, job_id: str, finished_at: float) -> None:
        check_job_id(job_id)
        with self._locked(job_id):
            data = self._read_job(job_id)
            data["finished_at"] = float(finished_at)
            self._write_job(job_id, data)

    def add_history(self, job_id: str, event: dict[str, Any]) -> None:
        check_job_id(job_id)
        with self._locked(job_id):
            data = self._read_job(job_id)
            data.setdefault("history", []).append(dict(event))
            self._write_job(job_id, data)

    def append_requests(self, job_id: str, entries: Sequence[RequestLogEntry]) -> None:
        check_job_id(job_id)
        lines = "".join(_dumps(entry_to_dict(e), compact=True) + "\n" for e in entries)
        with self._locked(job_id):
            self._read_job(job_id)  # unknown job -> StoreError, same as the SQL store
            if not lines:
                return
            path = self._folder / f"{job_id}.requests.jsonl"
            try:
                # no fsync: the request log is diagnostic; the job file (task ids) is synced
                with open(path, "a", encoding="utf-8") as fh:
                    fh.write(lines)
            except OSError as exc:
                raise self._write_error(exc) from None

    def read_requests(
        self, job_id: str, *, on_damaged: Callable[[str], None] | None = None
    ) -> list[RequestLogEntry]:
        check_job_id(job_id)
        self._read_job(job_id)
        path = self._folder / f"{job_id}.requests.jsonl"
        try:
            # a diagnostic log: bytes that are not UTF-8 (a damaged or hand-edited file)
            # are shown as U+FFFD rather than hiding every entry
            text = path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StoreError(f"cannot read the request log '{path}': {exc.strerror}") from None
        # Readers take no lock: a line still being appended has no newline yet; skip it.
        raw = [
            (
                f"the request log '{path}' has a bad line {number}",
                functools.partial(json.loads, line),
            )
            for number, line in enumerate(text.split("\n")[:-1], start=1)
            if line.strip()
        ]
        return decode_entries(raw, "repair or delete that line", on_damaged)

    def close(self) -> None:
        """Nothing to release: every operation opens and closes its own files."""

    # -- helpers --

    def _job_path(self, job_id: str) -> Path:
        return self._folder / f"{job_id}.json"

    def _read_job(self, job_id: str) -> dict[str, Any]:
        try:
            return self._load(self._job_path(job_id))
        except FileNotFoundError:
            raise StoreError(
                f"unknown job {job_id}: no {job_id}.json in the task store '{self.location}'"
            ) from None

    def _load(self, path: Path) -> dict[str, Any]:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
            raise StoreError(f"cannot read the task store file '{path}': {reason}") from None
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise StoreError.damaged(path, f"is not valid JSON ({exc})") from None
        if not isinstance(data, dict) or not isinstance(data.get("slices"), list):
            raise StoreError.damaged(path, "is not a pytest-octane job")
        version = data.get("format", FORMAT_VERSION)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise StoreError(
                f"the task store file '{path}' has format {version!r}, newer than the "
                f"{FORMAT_VERSION} this pytest-octane reads: upgrade pytest-octane"
            )
        return data

    def _decode(self, path: Path, data: Mapping[str, Any]) -> JobRecord:
        try:
            return job_from_dict(data)
        except (KeyError, TypeError, ValueError, OverflowError, AttributeError, StoreError) as exc:
            raise StoreError.damaged(
                path, f"is not a valid pytest-octane job ({type(exc).__name__}: {exc})"
            ) from None

    def _decode_slice(self, job_id: str, raw: Mapping[str, Any]) -> SliceRecord:
        try:
            return slice_from_dict(raw)
        except (KeyError, TypeError, ValueError, OverflowError, StoreError) as exc:
            raise StoreError.damaged(
                self._job_path(job_id), f"has a bad slice ({type(exc).__name__}: {exc})"
            ) from None

    @contextlib.contextmanager
    def _locked(self, job_id: str) -> Iterator[None]:
        try:
            self._folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._folder / f"{job_id}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise self._write_error(exc) from None
        try:
            try:
                _lock_fd(fd)
            except (OSError, TimeoutError) as exc:
                raise StoreError(
                    f"cannot lock job {job_id} in the task store '{self.location}' ({exc}): "
                    "check that no stuck process holds it"
                ) from None
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _write_job(self, job_id: str, data: dict[str, Any]) -> None:
        text = _dumps(data, compact=False) + "\n"
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{job_id}.", suffix=".tmp", dir=self._folder)
        except OSError as exc:
            raise self._write_error(exc) from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)
            _replace(tmp, self._job_path(job_id))
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise self._write_error(exc) from None

    def _write_error(self, exc: OSError) -> StoreError:
        reason = exc.strerror or type(exc).__name__
        return StoreError(
            f"cannot write the task store folder '{self.location}' ({reason}): make it a "
            "writable folder or choose another task store location"
        )


def _dumps(data: Mapping[str, Any], *, compact: bool) -> str:
    try:
        if compact:
            return json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        return json.dumps(data, ensure_ascii=False, indent=2)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"cannot store a value that is not plain JSON data: {exc}") from None


def _replace(source: str, target: Path) -> None:
    """``os.replace``; on Windows a reader holding the target open blocks it briefly."""
    if sys.platform == "win32":
        for _ in range(50):
            try:
                os.replace(source, target)
                return
            except PermissionError:
                time.sleep(0.02)
    os.replace(source, target)
