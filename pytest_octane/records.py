"""The task store's records: a job, its slices and their history, and the request log.

Written by the uploader and the CLI, read by the jobs page.  Apart from ``model.py`` (the
test results the plugin makes), so that pytest's process, which records no job, does not
build these classes at its start (issue 28); ``model`` still exports them, loaded on first use.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "MAX_FAILURES_KEPT",
    "MAX_FAILURE_MESSAGE",
    "FailedTest",
    "JobRecord",
    "RequestLogEntry",
    "SliceRecord",
    "SliceStatus",
    "SliceWait",
]


class SliceStatus(enum.StrEnum):
    """The seed's three task states for a slice; a slice without a task id is not yet sent."""

    RUNNING = "Running"
    SUCCESS = "Success"
    FAILED = "Failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class FailedTest:
    """A failed run of a slice as the jobs page lists it: its name and why (cut short)."""

    __test__ = False  # not a pytest test class

    name: str
    message: str
    error_type: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SliceWait:
    """Time a slice spent waiting before Octane took it: ``budget`` (a slot of the shared
    queue budget) or ``queue-full`` (Octane's queue answered full; the POST was retried)."""

    kind: str
    start: float
    seconds: float


#: Failed runs (and message characters) kept per slice for the jobs page; the spool has all.
MAX_FAILURES_KEPT = 200
MAX_FAILURE_MESSAGE = 500


@dataclass(frozen=True, slots=True, kw_only=True)
class SliceRecord:
    """One uploaded (or to-be-uploaded) XML document of a job, as the store keeps it."""

    index: int
    path: str
    run_count: int
    status: SliceStatus = SliceStatus.RUNNING
    task_id: int | None = None
    attempts: int = 0
    last_error: str | None = None
    server_status: str | None = None
    error_details: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    #: Runs of the slice by outcome, counted when it was spooled (0/0/0 for older records).
    runs_passed: int = 0
    runs_failed: int = 0
    runs_skipped: int = 0
    #: The slice's failed runs (at most ``MAX_FAILURES_KEPT``), recorded when spooled.
    failures: tuple[FailedTest, ...] = ()
    #: When its last attempt's POST began, when Octane gave it a task id, when it ended.
    sent_at: float | None = None
    accepted_at: float | None = None
    done_at: float | None = None
    #: What the last attempt waited for before Octane took the slice.
    waits: tuple[SliceWait, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class JobRecord:
    """One upload job: where it went, how it was configured (never secrets), its slices."""

    job_id: str
    space_id: int
    workspace_id: int
    server: str
    created_at: float
    build: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    finished_at: float | None = None
    slices: tuple[SliceRecord, ...] = ()
    history: tuple[dict[str, Any], ...] = ()

    @property
    def status(self) -> SliceStatus:
        """Failed if any slice failed, Running while any is unfinished, else Success."""
        states = {s.status for s in self.slices}
        if SliceStatus.FAILED in states:
            return SliceStatus.FAILED
        if SliceStatus.RUNNING in states:
            return SliceStatus.RUNNING
        return SliceStatus.SUCCESS

    def slice(self, index: int) -> SliceRecord:
        for record in self.slices:
            if record.index == index:
                return record
        raise KeyError(index)


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestLogEntry:
    """One HTTP exchange with Octane, free of secrets (no cookies, no auth bodies)."""

    time: float
    method: str
    url: str
    status: int | None
    duration_ms: int
    correlation_id: str
    error: str | None = None
    body: str | None = None
