"""Every error pytest-octane raises on purpose.

::

    OctaneError
     ├── ConfigError          bad setting: names the option / env var / file key and what is allowed
     ├── CredentialsError     no usable credentials: names the source that was tried
     ├── InputError           a results file we cannot read (bad JUnit/Octane XML)
     ├── StoreError           the task store cannot be read or written
     ├── OctaneHTTPError      Octane answered with an error (status, url, error_code, correlation)
     │    ├── AuthError       401 even after signing in again
     │    │    └── SessionRefused  401 right after a successful sign-in (resumable)
     │    ├── QueueFullError  503 testbox.queue_full / testbox.request_limit
     │    └── NotOctaneError  the answer was not Octane's JSON (wrong URL, proxy page)
     ├── ConnectionFailed     the server could not be reached at all
     └── PollTimeout          a task stayed queued/running past the deadline

Messages say what happened, which value, and what to do. None ever holds a secret.
"""

from __future__ import annotations


class OctaneError(Exception):
    """Base of all pytest-octane errors."""


class ConfigError(OctaneError):
    """A setting is missing or has a value that is not allowed."""

    @classmethod
    def bad_value(cls, name: str, value: object, rule: str) -> ConfigError:
        """``<name> <value> <rule>``, e.g. ``page_size 0 must be between 1 and 1000``."""
        return cls(f"{name} {value!r} {rule}")


class CredentialsError(OctaneError):
    """Credentials could not be found or read."""


class InputError(OctaneError):
    """An input results file is not usable."""


class StoreError(OctaneError):
    """The task store failed."""


class ConnectionFailed(OctaneError):
    """The Octane server could not be reached (refused, reset, timed out)."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


class PollTimeout(OctaneError):
    """A test-results task did not reach a final state in time."""

    def __init__(self, message: str, *, task_id: int) -> None:
        super().__init__(message)
        self.task_id = task_id


class TaskLost(OctaneError):
    """Octane no longer has a test-results task it gave us (404 on its status: it forgot its
    queue, e.g. in a restart). Transient: the slice is sent again."""

    def __init__(self, message: str, *, task_id: int) -> None:
        super().__init__(message)
        self.task_id = task_id


class OctaneHTTPError(OctaneError):
    """Octane answered with an HTTP error."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        url: str,
        error_code: str | None = None,
        description: str | None = None,
        correlation_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.url = url
        self.error_code = error_code
        self.description = description
        self.correlation_id = correlation_id
        self.retry_after = retry_after


class AuthError(OctaneHTTPError):
    """Octane refused the credentials (401 after one fresh sign-in)."""


class SessionRefused(AuthError):
    """A request answered 401 although the sign-in just before it succeeded.

    The credentials were accepted, so this is session trouble (an expiry or a concurrent
    sign-in racing the request), not something the user must fix: a ``resume`` can succeed.
    """


class QueueFullError(OctaneHTTPError):
    """Octane's per-shared-space queue of test-result tasks is full."""


class NotOctaneError(OctaneHTTPError):
    """The answer did not come from Octane's REST API (HTML login page, proxy error)."""

    @classmethod
    def wrong_url(cls, found: str, *, status: int, url: str) -> NotOctaneError:
        """``found`` says how the answer is not Octane's; the advice is the wrong-URL one."""
        return cls(
            f"{found}: the server URL is probably wrong; expected the Octane root such as "
            "https://octane.example.com",
            status=status,
            url=url,
        )
