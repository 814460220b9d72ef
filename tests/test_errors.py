"""Each error class decides whether a later ``resume`` can succeed and what to fix first."""

from __future__ import annotations

import pickle

import pytest

from pytest_octane.errors import (
    EXPECTED_URL,
    AuthError,
    ConfigError,
    ConnectionFailed,
    CredentialsError,
    InputError,
    JobBusy,
    LockBusy,
    LockHolder,
    NotOctaneError,
    OctaneError,
    OctaneHTTPError,
    PollTimeout,
    QueueFullError,
    SessionRefused,
    StoreError,
    TaskLost,
    UploadInterrupted,
    UsageError,
    rebuild,
)

URL = "https://octane.example.com/api/shared_spaces/1001/workspaces/1002/test-results"
SERVER = "https://octane.example.com"
WHERE = {"space": 1001, "workspace": 1002, "server": SERVER}


def http(
    status: int, code: str | None = None, cls: type[OctaneHTTPError] = OctaneHTTPError
) -> OctaneHTTPError:
    return cls(f"Octane refused POST: {status}", status=status, url=URL, error_code=code)


TRANSIENT = [
    ConnectionFailed("no connection", url=URL),
    PollTimeout("still queued", task_id=7),
    TaskLost("forgotten", task_id=7),
    SessionRefused("401 after sign-in", status=401, url=URL),
    StoreError("disk hiccup"),
    LockBusy("job:j", None, "octane_task_logs"),
    JobBusy("job j is being uploaded by pid 12 on ci-host"),
    InputError("bad xml"),
    UploadInterrupted("interrupted (Ctrl-C) before this step"),
    OctaneError("unknown"),
    QueueFullError("full", status=503, url=URL, error_code="testbox.queue_full"),
    http(503, "testbox_queue_full"),
    http(400, "testbox.request_limit"),  # the code decides, not the status
    http(500),
    http(502),
    http(503),
    http(504),
    http(408),
    http(429),
]
PERMANENT = [
    ConfigError("bad option"),
    UsageError("no such job"),
    CredentialsError("no credentials"),
    AuthError("refused", status=401, url=URL),
    AuthError("refused", status=403, url=URL),
    NotOctaneError("html page", status=200, url=URL),
    NotOctaneError("proxy page", status=502, url=URL),
    http(400),
    http(401),
    http(403),
    http(404),
    http(409),
    http(422),
]


def _id(exc: OctaneError) -> str:
    status = getattr(exc, "status", None)
    return (
        type(exc).__name__
        + (f"-{status}" if status else "")
        + (f"-{exc.error_code}" if isinstance(exc, OctaneHTTPError) and exc.error_code else "")
    )


@pytest.mark.parametrize("exc", TRANSIENT, ids=_id)
def test_transient_errors_leave_the_job_resumable(exc: OctaneError) -> None:
    assert exc.transient is True


@pytest.mark.parametrize("exc", PERMANENT, ids=_id)
def test_permanent_errors_need_a_fix(exc: OctaneError) -> None:
    assert exc.transient is False


@pytest.mark.parametrize(
    ("exc", "hint"),
    [
        (CredentialsError("x"), "provide the credentials, then upload the spooled results"),
        (ConfigError("x"), "fix the setting named above, then upload the spooled results"),
        (UsageError("x"), "fix the setting named above, then upload the spooled results"),
        (
            NotOctaneError("x", status=200, url=URL),
            f"check the Octane URL ({SERVER}): {EXPECTED_URL}; then retry with --url",
        ),
        (
            AuthError("x", status=403, url=URL),
            "Octane refused the credentials: fix the client id/secret, then retry",
        ),
        (http(401), "Octane refused the credentials: fix the client id/secret, then retry"),
        (
            http(403),
            "the API key has no access to shared space 1001, workspace 1002: "
            "grant it in Octane or use another key, then retry",
        ),
        (
            http(404),
            f"shared space 1001 or workspace 1002 does not exist at {SERVER}: "
            "retry with the right --space/--workspace (or --url)",
        ),
        (
            http(400),
            "Octane rejected the request as sent; see the error, fix the settings, then retry",
        ),
        (http(409), "fix the cause above, then retry"),
        (http(503), "fix the cause above, then retry"),
        (StoreError("x"), "fix the cause above, then retry"),
        (ConnectionFailed("x", url=URL), "fix the cause above, then retry"),
        (TaskLost("x", task_id=7), "fix the cause above, then retry"),
        (QueueFullError("x", status=503, url=URL), "fix the cause above, then retry"),
        (
            SessionRefused("x", status=401, url=URL),
            "Octane refused the credentials: fix the client id/secret, then retry",
        ),
    ],
    ids=lambda value: _id(value) if isinstance(value, OctaneError) else "",
)
def test_each_error_says_what_to_change_before_retry(exc: OctaneError, hint: str) -> None:
    assert exc.hint(**WHERE) == hint


@pytest.mark.parametrize(
    ("exc", "full"),
    [
        (QueueFullError("x", status=503, url=URL), True),
        (http(503, "testbox.queue_full"), True),
        (http(429, "testbox.request_limit"), True),
        (http(503, "platform.unavailable"), False),
        (http(503), False),
    ],
    ids=_id,
)
def test_a_full_queue_is_known_by_class_or_error_code(exc: OctaneHTTPError, full: bool) -> None:
    assert exc.queue_full is full


@pytest.mark.parametrize(
    "exc",
    [
        OctaneHTTPError(
            "Octane refused POST: 503",
            status=503,
            url=URL,
            error_code="testbox.queue_full",
            description="queue is full",
            correlation_id="abc-123",
            retry_after=2.5,
        ),
        NotOctaneError("html page", status=200, url=URL),
        ConnectionFailed("no connection", url=URL),
        PollTimeout("still queued", task_id=7),
        LockBusy("job:j", LockHolder(12, "ci-host"), "sqlite:///x.db"),
        JobBusy("job j is being uploaded by another process"),
        UploadInterrupted("interrupted (Ctrl-C) while spooling"),
        CredentialsError("no credentials in ~/.octane"),
    ],
    ids=_id,
)
def test_an_error_crosses_the_pipe_as_the_same_class_message_and_fields(
    exc: OctaneError,
) -> None:
    back = pickle.loads(pickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL))
    assert type(back) is type(exc)
    assert str(back) == str(exc)
    assert vars(back) == vars(exc)
    assert back.transient == exc.transient
    assert back.hint(**WHERE) == exc.hint(**WHERE)


def test_rebuild_makes_only_this_modules_errors() -> None:
    with pytest.raises(TypeError, match="'OSError' is not an error class"):
        rebuild("OSError", "x", {})
    with pytest.raises(TypeError, match="'EXPECTED_URL' is not an error class"):
        rebuild("EXPECTED_URL", "x", {})
    got = rebuild("TaskLost", "forgotten", {"task_id": 9})
    assert isinstance(got, TaskLost) and got.task_id == 9 and str(got) == "forgotten"


def test_a_busy_lock_names_its_holder() -> None:
    busy = LockBusy("create:x", None, "octane_task_logs")
    assert str(busy) == (
        "the lock 'create:x' in the task store 'octane_task_logs' is held by another process"
    )
    assert LockHolder.parse(LockHolder(12, "ci-host").text()) == LockHolder(12, "ci-host")
    assert LockHolder.parse("not a holder") is None
