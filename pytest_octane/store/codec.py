"""The job record <-> plain-dict codec and its checks: the JSON format, reused by the SQL store."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import fields
from typing import Any

from pytest_octane.errors import StoreError
from pytest_octane.model import (
    FailedTest,
    JobRecord,
    RequestLogEntry,
    SliceRecord,
    SliceStatus,
    SliceWait,
)

__all__ = [
    "FORMAT_VERSION",
    "JOB_ID_PATTERN",
    "LIST_FIELDS",
    "RawEntry",
    "check_job_id",
    "check_slice_index",
    "decode_entries",
    "entry_from_dict",
    "entry_to_dict",
    "job_from_dict",
    "job_to_dict",
    "new_slices",
    "plain_json",
    "printable",
    "slice_changes",
    "slice_from_dict",
    "slice_to_dict",
]

#: Version of the job file layout; a file with a higher one was written by newer code.
FORMAT_VERSION = 1

JOB_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")
_LOCK_ATTEMPTS = 60  # Windows only: msvcrt retries each attempt for ~10 s itself.

# Field -> accepted types for update_slice; bool is excluded from ints on purpose below.
_SLICE_TYPES: dict[str, tuple[type, ...]] = {
    "path": (str,),
    "run_count": (int,),
    "status": (str,),
    "task_id": (int, type(None)),
    "attempts": (int,),
    "last_error": (str, type(None)),
    "server_status": (str, type(None)),
    "error_details": (str, type(None)),
    "created_at": (int, float),
    "updated_at": (int, float),
    "runs_passed": (int,),
    "runs_failed": (int,),
    "runs_skipped": (int,),
    "failures": (tuple, list),
    "sent_at": (int, float, type(None)),
    "accepted_at": (int, float, type(None)),
    "done_at": (int, float, type(None)),
    "waits": (tuple, list),
}
#: Fields kept as JSON lists (a TEXT column in the SQL store).
LIST_FIELDS = ("failures", "waits")
_TIMES = ("created_at", "updated_at", "sent_at", "accepted_at", "done_at")


# ---- codec shared with the SQL store ----


def check_job_id(job_id: object) -> str:
    """Reject ids that could escape the folder or clash with our own temp and lock files."""
    if not isinstance(job_id, str) or not JOB_ID_PATTERN.match(job_id):
        raise StoreError(
            f"invalid job id {job_id!r}: use 1-128 characters from A-Z a-z 0-9 . _ -, "
            "not starting with '.'"
        )
    return job_id


def check_slice_index(index: object) -> int:
    if isinstance(index, bool) or not isinstance(index, int):
        raise StoreError(f"slice index must be an integer, not {index!r}")
    return index


def slice_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``update_slice`` keyword arguments; return them with ``status`` as a string."""
    unknown = sorted(set(changes) - set(_SLICE_TYPES))
    if unknown:
        raise StoreError(
            f"cannot change slice field(s) {', '.join(unknown)}: "
            f"allowed are {', '.join(sorted(_SLICE_TYPES))}"
        )
    clean: dict[str, Any] = {}
    for name, value in changes.items():
        allowed = _SLICE_TYPES[name]
        if not _accepts(value, allowed):
            raise StoreError(
                f"slice field {name} cannot be {value!r}: "
                f"expected {' or '.join(t.__name__ for t in allowed)}"
            )
        if name == "status":
            clean[name] = _status(value).value
        elif name in _TIMES:
            clean[name] = None if value is None else float(value)
        elif name == "failures":
            clean[name] = [_failure_to_dict(_failure(item)) for item in value]
        elif name == "waits":
            clean[name] = [_wait_to_dict(_wait(item)) for item in value]
        else:
            clean[name] = value
    _timeline(clean)
    return clean


def _timeline(clean: dict[str, Any]) -> None:
    """The slice's timeline follows its state: a task id recorded while Running is the
    moment Octane took the slice (and a new attempt is not done yet); a final state is the
    moment it ended. An explicit value wins."""
    status = clean.get("status")
    if status is None:
        return
    now = time.time()
    if status == SliceStatus.RUNNING.value:
        if clean.get("task_id") is not None:
            clean.setdefault("accepted_at", now)
        clean.setdefault("done_at", None)
    else:
        clean.setdefault("done_at", now)


def new_slices(job: JobRecord, now: float) -> list[SliceRecord]:
    """The slices of a job being created, sorted, with unset (0.0) timestamps set to now."""
    seen: set[int] = set()
    result: list[SliceRecord] = []
    for record in sorted(job.slices, key=lambda s: s.index):
        if record.index in seen:
            raise StoreError(f"job {job.job_id} has slice index {record.index} twice")
        seen.add(record.index)
        data = slice_to_dict(record)
        data["created_at"] = record.created_at or now
        data["updated_at"] = record.updated_at or now
        result.append(slice_from_dict(data))
    return result


def slice_to_dict(record: SliceRecord) -> dict[str, Any]:
    data = {name: getattr(record, name) for name in _SLICE_TYPES}
    data["index"] = record.index
    data["status"] = _status(record.status).value
    data["failures"] = [_failure_to_dict(f) for f in record.failures]
    data["waits"] = [_wait_to_dict(w) for w in record.waits]
    return data


def _failure_to_dict(item: FailedTest) -> dict[str, Any]:
    return {"name": item.name, "message": item.message, "error_type": item.error_type}


def _wait_to_dict(item: SliceWait) -> dict[str, Any]:
    return {"kind": item.kind, "start": item.start, "seconds": item.seconds}


def _failure(item: object) -> FailedTest:
    if isinstance(item, FailedTest):
        return item
    if isinstance(item, Mapping):
        return FailedTest(
            name=printable(str(item["name"])),
            message=printable(str(item.get("message") or "")),
            error_type=printable(str(item.get("error_type") or "")),
        )
    raise StoreError(f"a failed test must be a FailedTest or an object, not {item!r}")


def _wait(item: object) -> SliceWait:
    if isinstance(item, SliceWait):
        return item
    if isinstance(item, Mapping):
        return SliceWait(
            kind=str(item["kind"]), start=float(item["start"]), seconds=float(item["seconds"])
        )
    raise StoreError(f"a slice wait must be a SliceWait or an object, not {item!r}")


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def slice_from_dict(data: Mapping[str, Any]) -> SliceRecord:
    return SliceRecord(
        index=int(data["index"]),
        path=str(data["path"]),
        run_count=int(data["run_count"]),
        status=_status(data["status"]),
        task_id=None if data.get("task_id") is None else int(data["task_id"]),
        attempts=int(data.get("attempts", 0)),
        last_error=data.get("last_error"),
        server_status=data.get("server_status"),
        error_details=data.get("error_details"),
        created_at=float(data.get("created_at", 0.0)),
        updated_at=float(data.get("updated_at", 0.0)),
        runs_passed=int(data.get("runs_passed") or 0),
        runs_failed=int(data.get("runs_failed") or 0),
        runs_skipped=int(data.get("runs_skipped") or 0),
        failures=tuple(_failure(f) for f in data.get("failures") or ()),
        sent_at=_opt_float(data.get("sent_at")),
        accepted_at=_opt_float(data.get("accepted_at")),
        done_at=_opt_float(data.get("done_at")),
        waits=tuple(_wait(w) for w in data.get("waits") or ()),
    )


def entry_to_dict(entry: RequestLogEntry) -> dict[str, Any]:
    return {f.name: getattr(entry, f.name) for f in fields(RequestLogEntry)}


def printable(text: str) -> str:
    """``text`` that can be printed and written as UTF-8: a lone surrogate (from a JSON
    ``\\ud800`` escape in a stored log) becomes U+FFFD instead of a crash."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _opt_text(value: object) -> str | None:
    return None if value is None else printable(str(value))


def entry_from_dict(data: Mapping[str, Any]) -> RequestLogEntry:
    return RequestLogEntry(
        time=float(data["time"]),
        method=printable(str(data["method"])),
        url=printable(str(data["url"])),
        status=None if data.get("status") is None else int(data["status"]),
        duration_ms=int(data["duration_ms"]),
        correlation_id=printable(str(data["correlation_id"])),
        error=_opt_text(data.get("error")),
        body=_opt_text(data.get("body")),
    )


def _status(value: object) -> SliceStatus:
    if isinstance(value, str):
        try:
            return SliceStatus(value)
        except ValueError:
            pass
    allowed = ", ".join(s.value for s in SliceStatus)
    raise StoreError(f"invalid slice status {value!r}: use one of {allowed}")


def _accepts(value: object, allowed: tuple[type, ...]) -> bool:
    # bool is an int subclass, but attempts=True is a bug, not a count.
    return not isinstance(value, bool) and isinstance(value, allowed)


def job_to_dict(job: JobRecord, slices: Sequence[SliceRecord]) -> dict[str, Any]:
    return {
        "format": FORMAT_VERSION,
        "job_id": job.job_id,
        "space_id": job.space_id,
        "workspace_id": job.workspace_id,
        "server": job.server,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
        "build": dict(job.build),
        "settings": dict(job.settings),
        "slices": [slice_to_dict(s) for s in slices],
        "history": [dict(event) for event in job.history],
    }


def job_from_dict(data: Mapping[str, Any]) -> JobRecord:
    slices = sorted((slice_from_dict(s) for s in data["slices"]), key=lambda s: s.index)
    finished = data.get("finished_at")
    return JobRecord(
        job_id=str(data["job_id"]),
        space_id=int(data["space_id"]),
        workspace_id=int(data["workspace_id"]),
        server=str(data["server"]),
        created_at=float(data["created_at"]),
        build={str(k): str(v) for k, v in data.get("build", {}).items()},
        settings=dict(data.get("settings", {})),
        finished_at=None if finished is None else float(finished),
        slices=tuple(slices),
        history=tuple(dict(event) for event in data.get("history", [])),
    )


#: One stored request-log item: what names it in a message, and how to load its fields.
RawEntry = tuple[str, Callable[[], Mapping[str, Any]]]


def decode_entries(
    raw: Iterable[RawEntry], fix: str, on_damaged: Callable[[str], None] | None
) -> list[RequestLogEntry]:
    """The entries of ``raw``; one that cannot be read raises StoreError (``where (why):
    fix``), or with ``on_damaged`` is skipped and reported there in that one line."""
    entries: list[RequestLogEntry] = []
    for where, load in raw:
        try:
            entries.append(entry_from_dict(load()))
        except (ValueError, KeyError, TypeError, OverflowError) as exc:
            problem = f"{where} ({exc}): {fix}"
            if on_damaged is None:
                raise StoreError(problem) from None
            on_damaged(problem)
    return entries


def plain_json(value: object) -> str:
    """Compact JSON text of ``value`` (the SQL store's JSON columns)."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise StoreError(f"cannot store a value that is not plain JSON data: {exc}") from None
