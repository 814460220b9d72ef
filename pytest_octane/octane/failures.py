"""Which upload failures a later ``resume`` can fix by itself, and what the user must fix first.

Transient trouble (no connection, 5xx, 429, a full queue past its deadline, a slow task, a
task Octane forgot) goes away on its own: the job stays resumable.  Permanent trouble
(refused credentials, no access, a shared space or workspace that does not exist, a payload
Octane rejects, a bad setting) comes back on every attempt: the job and its slices are marked
``Failed`` with the error, and the summary says what to change before ``retry``.
"""

from __future__ import annotations

from typing import Literal

from pytest_octane.errors import (
    AuthError,
    ConfigError,
    ConnectionFailed,
    CredentialsError,
    NotOctaneError,
    OctaneError,
    OctaneHTTPError,
    PollTimeout,
    SessionRefused,
    TaskLost,
)
from pytest_octane.octane.retry import is_queue_full, is_transient

__all__ = ["Kind", "classify", "is_permanent", "what_to_fix"]

Kind = Literal["transient", "permanent"]

# 408 Request Timeout and 429 Too Many Requests go away when waited out.
_TRANSIENT_4XX = frozenset({408, 429})


def classify(exc: BaseException) -> Kind:
    """``transient`` when trying again later can succeed unchanged, else ``permanent``."""
    if isinstance(exc, (ConnectionFailed, PollTimeout, SessionRefused, TaskLost)):
        return "transient"
    if is_queue_full(exc):
        return "transient"
    if isinstance(exc, (ConfigError, CredentialsError, AuthError, NotOctaneError)):
        return "permanent"
    if isinstance(exc, OctaneHTTPError):
        if is_transient(exc) or exc.status >= 500:
            return "transient"
        return "transient" if exc.status in _TRANSIENT_4XX else "permanent"
    return "transient"  # a store hiccup or anything unknown: keep the job resumable


def is_permanent(exc: BaseException) -> bool:
    return classify(exc) == "permanent"


def what_to_fix(exc: OctaneError, *, space: int, workspace: int, server: str) -> str:
    """One sentence: the change that makes a ``retry`` of this job work."""
    if isinstance(exc, CredentialsError):
        return "provide the credentials, then upload the spooled results"
    if isinstance(exc, ConfigError):
        return "fix the setting named above, then upload the spooled results"
    if isinstance(exc, NotOctaneError):
        return f"check the Octane URL ({server}): it must be Octane's root; then retry with --url"
    if isinstance(exc, AuthError) or (isinstance(exc, OctaneHTTPError) and exc.status == 401):
        return "Octane refused the credentials: fix the client id/secret, then retry"
    if isinstance(exc, OctaneHTTPError) and exc.status == 403:
        return (
            f"the API key has no access to shared space {space}, workspace {workspace}: "
            "grant it in Octane or use another key, then retry"
        )
    if isinstance(exc, OctaneHTTPError) and exc.status == 404:
        return (
            f"shared space {space} or workspace {workspace} does not exist at {server}: "
            "retry with the right --space/--workspace (or --url)"
        )
    if isinstance(exc, OctaneHTTPError) and exc.status == 400:
        return "Octane rejected the request as sent; see the error, fix the settings, then retry"
    return "fix the cause above, then retry"
