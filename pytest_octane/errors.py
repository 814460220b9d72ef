"""Every error pytest-octane raises on purpose, each knowing what it means for the job.

::

    OctaneError               transient unless a class says otherwise
     ├── ConfigError          bad setting: names the option / env var / file key and what is allowed
     │    └── UsageError      a job id or slice the command line names does not exist (exit 2)
     ├── CredentialsError     no usable credentials: names the source that was tried
     ├── InputError           a results file we cannot read (bad JUnit/Octane XML)
     ├── StoreError           the task store cannot be read or written
     │    └── LockBusy        another process holds a store lock past the timeout
     ├── JobBusy              another process is uploading the job
     ├── UploadInterrupted    Ctrl-C stopped the step; what was sent is recorded
     ├── OctaneHTTPError      Octane answered with an error (status, url, error_code, correlation)
     │    ├── AuthError       401 even after signing in again
     │    │    └── SessionRefused  401 right after a successful sign-in (resumable)
     │    ├── QueueFullError  503 testbox.queue_full / testbox.request_limit
     │    └── NotOctaneError  the answer was not Octane's JSON (wrong URL, proxy page)
     ├── ConnectionFailed     the server could not be reached at all
     ├── PollTimeout          a task stayed queued/running past the deadline
     └── TaskLost             Octane forgot a task it gave us

Each class decides whether it is ``transient`` (a later ``resume`` can succeed unchanged) and
its ``hint()``, the change to make before ``retry``. Messages say what happened, which value,
and what to do; none holds a secret, so an error crosses the uploader's pipe as its class
name, message and fields (:func:`rebuild`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = [
    "EXPECTED_URL",
    "QUEUE_FULL_CODES",
    "AuthError",
    "ConfigError",
    "ConnectionFailed",
    "CredentialsError",
    "InputError",
    "JobBusy",
    "LockBusy",
    "LockHolder",
    "NotOctaneError",
    "OctaneError",
    "OctaneHTTPError",
    "PollTimeout",
    "QueueFullError",
    "SessionRefused",
    "StoreError",
    "TaskLost",
    "UploadInterrupted",
    "UsageError",
    "rebuild",
]

#: The wrong-URL advice: what an Octane address looks like.
EXPECTED_URL = (
    "expected the Octane root such as https://octane.example.com, optionally followed by "
    "/shared_spaces/<space id>/workspaces/<workspace id> (with or without /api), "
    "or the UI address https://octane.example.com/ui/?p=<space id>/<workspace id>"
)
#: Octane's error codes for a full test-result queue (the seed writes the first with ``_``).
QUEUE_FULL_CODES = frozenset({"testbox.queue_full", "testbox_queue_full", "testbox.request_limit"})
_REFUSED = "Octane refused the credentials: fix the client id/secret, then retry"


class OctaneError(Exception):
    """Base of all pytest-octane errors: transient unless a subclass knows better (a store
    hiccup or anything unforeseen keeps the job resumable)."""

    #: :meth:`hint`'s sentence, formatted with ``space``, ``workspace`` and ``server``
    hint_text = "fix the cause above, then retry"

    @property
    def transient(self) -> bool:
        """A later ``resume`` can succeed without the user changing anything."""
        return True

    def hint(self, *, space: int, workspace: int, server: str) -> str:
        """One sentence: the change that makes a ``retry`` of the job work."""
        return self.hint_text.format(space=space, workspace=workspace, server=server)

    def __reduce__(self) -> tuple[Any, ...]:
        return rebuild, (type(self).__name__, str(self), dict(vars(self)))


def rebuild(name: str, message: str, fields: dict[str, Any]) -> OctaneError:
    """The error of class ``name`` (one of this module's) with its message and fields."""
    cls = globals().get(name)
    if not (isinstance(cls, type) and issubclass(cls, OctaneError)):
        raise TypeError(f"{name!r} is not an error class of pytest_octane.errors")
    error = cls.__new__(cls, message)
    vars(error).update(fields)
    return error


class ConfigError(OctaneError):
    """A setting is missing or has a value that is not allowed."""

    transient = False
    hint_text = "fix the setting named above, then upload the spooled results"

    @classmethod
    def bad_value(cls, name: str, value: object, rule: str) -> ConfigError:
        """``<name> <value> <rule>``, e.g. ``page_size 0 must be between 1 and 1000``."""
        return cls(f"{name} {value!r} {rule}")

    @classmethod
    def too_long(cls, where: str, text: str) -> ConfigError:
        """``where``'s value ``text`` passes Octane's limit on names and values."""
        return cls.bad_value(f"{where}:", text, "is longer than Octane's 255 characters")


class UsageError(ConfigError):
    """What the user asked for does not exist (a job id, a slice number): exit code 2."""


class CredentialsError(OctaneError):
    """Credentials could not be found or read."""

    transient = False
    hint_text = "provide the credentials, then upload the spooled results"


class InputError(OctaneError):
    """An input results file is not usable."""


class StoreError(OctaneError):
    """The task store failed."""

    @classmethod
    def job_exists(cls, job_id: str, location: str) -> StoreError:
        return cls(f"job {job_id} already exists in the task store '{location}': use a new job id")

    @classmethod
    def no_slice(cls, job_id: str, index: int, location: str) -> StoreError:
        return cls(f"job {job_id} has no slice {index!r} in the task store '{location}'")

    @classmethod
    def damaged(cls, path: object, what: str) -> StoreError:
        """A job file of the folder store that cannot be used as it is."""
        return cls(f"the task store file '{path}' {what}: repair or delete it")


class LockHolder(NamedTuple):
    """Who holds a lock: enough for a message, never a secret.  A named tuple: this module is
    imported at every active session's start, where the dataclass cost 0.5 ms (issue 28)."""

    pid: int
    host: str

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}"

    def text(self) -> str:
        return f"{self.pid} {self.host}"

    @classmethod
    def parse(cls, text: str) -> LockHolder | None:
        pid, _, host = text.strip().partition(" ")
        return cls(int(pid), host) if pid.isdigit() and host else None


class LockBusy(StoreError):
    """Another process (or thread) holds the named lock past the timeout."""

    def __init__(self, name: str, holder: LockHolder | None, location: str) -> None:
        who = holder.describe() if holder else "another process"
        super().__init__(f"the lock {name!r} in the task store '{location}' is held by {who}")
        self.name = name
        self.holder = holder


class JobBusy(OctaneError):
    """Another process is uploading this job; the message says which."""


class UploadInterrupted(OctaneError):
    """Ctrl-C: this step stopped; what was sent so far is recorded."""


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

    @property
    def queue_full(self) -> bool:
        """Octane's test-result queue is full: worth waiting out at a fixed pace."""
        return self.error_code in QUEUE_FULL_CODES

    @property
    def transient(self) -> bool:
        """5xx, 408 Request Timeout, 429 Too Many Requests and a full queue go away when
        waited out; any other 4xx comes back."""
        return self.queue_full or self.status >= 500 or self.status in (408, 429)

    def hint(self, *, space: int, workspace: int, server: str) -> str:
        text = _STATUS_HINTS.get(self.status, self.hint_text)
        return text.format(space=space, workspace=workspace, server=server)


_STATUS_HINTS = {
    400: "Octane rejected the request as sent; see the error, fix the settings, then retry",
    401: _REFUSED,
    403: "the API key has no access to shared space {space}, workspace {workspace}: "
    "grant it in Octane or use another key, then retry",
    404: "shared space {space} or workspace {workspace} does not exist at {server}: "
    "retry with the right --space/--workspace (or --url)",
}


class AuthError(OctaneHTTPError):
    """Octane refused the credentials (401 after one fresh sign-in)."""

    transient = False
    hint_text = _REFUSED
    hint = OctaneError.hint  # its own sentence, whatever the status


class SessionRefused(AuthError):
    """A request answered 401 although the sign-in just before it succeeded.

    The credentials were accepted, so this is session trouble (an expiry or a concurrent
    sign-in racing the request), not something the user must fix: a ``resume`` can succeed.
    """

    transient = True


class QueueFullError(OctaneHTTPError):
    """Octane's per-shared-space queue of test-result tasks is full."""

    @property
    def queue_full(self) -> bool:
        return True


class NotOctaneError(OctaneHTTPError):
    """The answer did not come from Octane's REST API (HTML login page, proxy error)."""

    transient = False
    hint_text = "check the Octane URL ({server}): " + EXPECTED_URL + "; then retry with --url"
    hint = OctaneError.hint  # its own sentence, whatever the status

    @classmethod
    def wrong_url(cls, found: str, *, status: int, url: str) -> NotOctaneError:
        """``found`` says how the answer is not Octane's; the advice is the wrong-URL one."""
        return cls(
            f"{found}: the server URL is probably wrong; expected the Octane root such as "
            "https://octane.example.com",
            status=status,
            url=url,
        )
