"""Test results: the POST of a result document (with compression fallback) and task polling."""

from __future__ import annotations

import gzip
import logging
from dataclasses import dataclass
from typing import Any

from pytest_octane.errors import (
    NotOctaneError,
    OctaneHTTPError,
    TaskLost,
)
from pytest_octane.octane.client.answers import _as_int
from pytest_octane.octane.client.checks import _positive_id
from pytest_octane.octane.client.session import HttpSession
from pytest_octane.octane.client.state import GZIP_ENCODING

logger = logging.getLogger("pytest_octane.octane.client")


#: The only states that end a task. Anything else (queued, running, processing, pending, an
#: empty or new word) may still turn into success, so it keeps being polled.
TERMINAL_STATUSES = frozenset({"success", "warning", "failed"})


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskAccepted:
    """Octane queued a test-results document; ``from_older_push`` means it was a duplicate."""

    id: int
    status: str
    from_older_push: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskState:
    """Where a test-results task stands; ``status`` is Octane's raw string."""

    id: int
    status: str
    until: str | None = None
    error_details: str | None = None

    @property
    def is_final(self) -> bool:
        # Octane's docs print statuses like " SUCCESS ": compare trimmed, case-insensitive.
        return self.status.strip().lower() in TERMINAL_STATUSES


class Results:
    """The test-results endpoints of one workspace."""

    def __init__(self, http: HttpSession, *, compress: bool, log_bodies: bool) -> None:
        self._http = http
        self._compress = bool(compress)
        self._log_bodies = log_bodies

    def post_test_results(
        self, xml: bytes, *, skip_errors: bool = False, label: str | None = None
    ) -> TaskAccepted:
        """Queue one test-results XML document; retried, since Octane de-duplicates payloads.

        Plain XML unless the client was made with ``compress=True``; a 400/415 on a gzipped
        body is retried once as plain XML and compression stays off for this client.
        """
        compress = self._compress
        try:
            data = self._post_results(xml, skip_errors=skip_errors, compress=compress, label=label)
        except OctaneHTTPError as exc:
            if not compress or exc.status not in (400, 415) or isinstance(exc, NotOctaneError):
                raise
            self._compress = False
            logger.warning(
                "Octane refused a gzip-compressed upload (HTTP %s); sending plain XML from now on",
                exc.status,
            )
            data = self._post_results(xml, skip_errors=skip_errors, compress=False, label=label)
        raw_id = data.get("id")
        task_id = _as_int(raw_id)
        if task_id is None:
            raise NotOctaneError(
                f"Octane accepted POST {self._http.base_url}/test-results but its answer has "
                f"no task id (id={raw_id!r}); the server URL may not be Octane's root",
                status=202,
                url=f"{self._http.base_url}/test-results",
            )
        return TaskAccepted(
            id=task_id,
            status=str(data.get("status") or ""),
            from_older_push=str(data.get("fromOlderPush", "")).strip().lower() == "true",
        )

    def _post_results(
        self, xml: bytes, *, skip_errors: bool, compress: bool, label: str | None = None
    ) -> dict[str, Any]:
        return self._http.api(
            "POST",
            "test-results",
            params={"skip-errors": "true" if skip_errors else "false"},
            body=gzip.compress(xml, mtime=0) if compress else xml,
            content_type="application/xml",
            extra_headers={"Content-Encoding": GZIP_ENCODING} if compress else {},
            log_body=xml.decode("utf-8", "replace") if self._log_bodies else None,
            what=f"upload of test results ({len(xml)} bytes)",
            label=label,
        )

    def get_task(self, task_id: int) -> TaskState:
        """Read a test-results task's state (only success/warning/failed are final)."""
        task = _positive_id(task_id, "task_id")
        try:
            data = self._http.api("GET", f"test-results/{task}", what=f"status of task {task}")
        except OctaneHTTPError as exc:
            if exc.status != 404 or isinstance(exc, NotOctaneError):
                raise
            self._check_workspace()  # its own 404 when the workspace is what is missing
            raise TaskLost(
                f"Octane no longer has task {task} (HTTP 404 on its status; Octane forgets "
                "the tasks it had queued when it restarts); the slice is sent again",
                task_id=task,
            ) from None
        status = data.get("status")
        if not isinstance(status, str):
            raise NotOctaneError(
                f"the answer from {self._http.base_url}/test-results/{task} has no task status; "
                "the server URL may not be Octane's root",
                status=200,
                url=f"{self._http.base_url}/test-results/{task}",
            )
        details = data.get("errorDetails", data.get("error_details"))
        return TaskState(
            id=_as_int(data.get("id")) or task,
            status=status,
            until=None if data.get("until") is None else str(data["until"]),
            error_details=None if details is None else str(details),
        )

    def _check_workspace(self) -> None:
        """Raise the 404 of a shared space or workspace that does not exist; any other
        answer (even a refusal) shows that it exists."""
        try:
            self._http.api(
                "GET",
                "releases",
                params={"fields": "id", "limit": "1"},
                what="a check that the workspace exists",
            )
        except OctaneHTTPError as exc:
            if exc.status == 404 and not isinstance(exc, NotOctaneError):
                raise
