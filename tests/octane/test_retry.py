"""RetryPolicy / call_with_retry with an injected sleep and clock: no real waiting."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable

import pytest

from pytest_octane.errors import (
    AuthError,
    ConnectionFailed,
    NotOctaneError,
    OctaneHTTPError,
    QueueFullError,
)
from pytest_octane.octane.retry import RetryPolicy, call_with_retry, is_queue_full, is_transient

URL = "https://octane.example.com/api/shared_spaces/1/workspaces/2/test-results"
log = logging.getLogger("test.retry")


class Recorder:
    """Fake sleep that records waits; the clock advances by what was slept."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def policy(rec: Recorder, **kw: object) -> RetryPolicy:
    kw.setdefault("jitter", False)
    return RetryPolicy(sleep=rec.sleep, clock=rec.clock, **kw)  # type: ignore[arg-type]


def scripted(outcomes: Iterable[BaseException | str]) -> Callable[[], str]:
    items = iter(outcomes)

    def fn() -> str:
        item = next(items)
        if isinstance(item, BaseException):
            raise item
        return item

    return fn


def http(status: int, code: str | None = None, retry_after: float | None = None) -> OctaneHTTPError:
    cls = (
        QueueFullError
        if (code and "queue" in code) or code == "testbox.request_limit"
        else OctaneHTTPError
    )
    return cls(
        f"Octane refused POST {URL}: {status} {code}",
        status=status,
        url=URL,
        error_code=code,
        retry_after=retry_after,
    )


@pytest.mark.parametrize(
    "code", ["testbox.queue_full", "testbox_queue_full", "testbox.request_limit"]
)
def test_queue_full_waits_ten_seconds_until_success(
    code: str, caplog: pytest.LogCaptureFixture
) -> None:
    rec = Recorder()
    fn = scripted([http(503, code), http(503, code), http(503, code), "ok"])
    with caplog.at_level(logging.INFO, logger="test.retry"):
        assert call_with_retry(fn, policy=policy(rec), what="upload of slice 2", logger=log) == "ok"
    assert rec.waits == [10.0, 10.0, 10.0]
    assert caplog.messages[-1] == (
        "Octane's test-result queue is full; retrying upload of slice 2 in 10 s "
        "(attempt 3, 30 s waited of 1800 s)"
    )
    assert all(r.levelno == logging.INFO for r in caplog.records)


def test_queue_full_error_code_on_plain_http_error_counts_too() -> None:
    err = OctaneHTTPError("x", status=503, url=URL, error_code="testbox_queue_full")
    assert is_queue_full(err) and not is_transient(err)


def test_queue_full_gives_up_at_the_deadline() -> None:
    rec = Recorder()
    err = http(503, "testbox.queue_full")
    calls = 0

    def fn() -> str:
        nonlocal calls
        calls += 1
        raise err

    with pytest.raises(QueueFullError) as info:
        call_with_retry(
            fn, policy=policy(rec, queue_full_deadline_s=30.0), what="upload", logger=log
        )
    assert info.value is err
    assert rec.waits == [10.0, 10.0, 10.0]
    assert calls == 4
    assert str(info.value).endswith(
        "(gave up after 4 attempts over 30 s, 30 s of it waiting for the full queue)"
    )


def test_queue_full_deadline_counts_real_time_too() -> None:
    """The clock moves on during requests even if sleep is instant."""
    rec = Recorder()

    def fn() -> str:
        rec.now += 15.0  # each request takes 15 s
        raise http(503, "testbox.queue_full")

    with pytest.raises(QueueFullError):
        call_with_retry(
            fn, policy=policy(rec, queue_full_deadline_s=60.0), what="upload", logger=log
        )
    assert rec.waits == [10.0, 10.0]  # 15+10, 40+10 ok; 65+10 past 60


@pytest.mark.parametrize("status", [502, 503, 504, 429])
def test_transient_statuses_back_off_exponentially(status: int) -> None:
    rec = Recorder()
    fn = scripted([http(status), http(status), http(status), "done"])
    assert call_with_retry(fn, policy=policy(rec), what="GET stories", logger=log) == "done"
    assert rec.waits == [1.0, 2.0, 4.0]


def test_connection_failures_are_retried() -> None:
    rec = Recorder()
    fn = scripted([ConnectionFailed("refused", url=URL), "ok"])
    assert call_with_retry(fn, policy=policy(rec), what="GET", logger=log) == "ok"
    assert rec.waits == [1.0]


def test_backoff_is_capped_and_attempts_bounded() -> None:
    rec = Recorder()
    err = http(502)
    p = policy(rec, transient_attempts=6, transient_max_s=5.0, transient_deadline_s=1000.0)
    with pytest.raises(OctaneHTTPError) as info:
        call_with_retry(scripted([err] * 10), policy=p, what="GET", logger=log)
    assert rec.waits == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert str(info.value).endswith("(gave up after 6 attempts over 17 s)")


def test_transient_deadline_stops_before_overrunning() -> None:
    rec = Recorder()
    p = policy(rec, transient_attempts=100, transient_max_s=30.0, transient_deadline_s=10.0)
    with pytest.raises(OctaneHTTPError):
        call_with_retry(scripted([http(504)] * 100), policy=p, what="GET", logger=log)
    assert rec.waits == [1.0, 2.0, 4.0]  # a further 8 s would pass the 10 s deadline


def test_retry_after_is_honoured_and_capped() -> None:
    rec = Recorder()
    fn = scripted([http(429, retry_after=7.0), http(503, retry_after=500.0), "ok"])
    assert (
        call_with_retry(fn, policy=policy(rec, transient_max_s=30.0), what="GET", logger=log)
        == "ok"
    )
    assert rec.waits == [7.0, 30.0]


def test_jitter_keeps_waits_between_half_and_full_backoff() -> None:
    rec = Recorder()
    p = RetryPolicy(sleep=rec.sleep, clock=rec.clock, rng=lambda: 0.5)
    call_with_retry(scripted([http(502), http(502), "ok"]), policy=p, what="GET", logger=log)
    assert rec.waits == [0.75, 1.5]
    p0 = RetryPolicy(sleep=rec.sleep, clock=rec.clock, rng=lambda: 0.0)
    assert p0.backoff(3) == 2.0
    p1 = RetryPolicy(sleep=rec.sleep, clock=rec.clock, rng=lambda: 0.999999)
    assert p1.backoff(3) == pytest.approx(4.0, abs=1e-4)


@pytest.mark.parametrize(
    "error",
    [
        OctaneHTTPError("bad xml", status=400, url=URL, error_code="platform.xsd_error"),
        OctaneHTTPError("boom", status=500, url=URL),
        OctaneHTTPError("gone", status=404, url=URL),
        AuthError("no", status=401, url=URL),
        NotOctaneError("html", status=502, url=URL),
    ],
)
def test_other_errors_are_not_retried(error: OctaneHTTPError) -> None:
    rec = Recorder()
    with pytest.raises(type(error)) as info:
        call_with_retry(scripted([error, "never"]), policy=policy(rec), what="x", logger=log)
    assert rec.waits == []
    assert "attempt" not in str(info.value)


def test_a_final_non_retryable_error_says_how_many_attempts_were_made() -> None:
    rec = Recorder()
    bad = OctaneHTTPError("Octane refused: 400", status=400, url=URL)
    with pytest.raises(OctaneHTTPError) as info:
        call_with_retry(scripted([http(502), bad]), policy=policy(rec), what="x", logger=log)
    assert str(info.value) == "Octane refused: 400 (after 2 attempts over 1 s)"


def test_non_idempotent_calls_only_retry_answers_that_did_nothing() -> None:
    rec = Recorder()
    fn = scripted([http(429), http(503), "created"])
    assert (
        call_with_retry(fn, policy=policy(rec), what="POST", logger=log, idempotent=False)
        == "created"
    )
    for error in (ConnectionFailed("reset", url=URL), http(502), http(504)):
        with pytest.raises(type(error)):
            call_with_retry(
                scripted([error, "dup"]),
                policy=policy(rec),
                what="POST",
                logger=log,
                idempotent=False,
            )
    assert rec.waits == [1.0, 2.0]


def test_transient_waits_are_logged_at_info(caplog: pytest.LogCaptureFixture) -> None:
    rec = Recorder()
    with caplog.at_level(logging.INFO, logger="test.retry"):
        call_with_retry(
            scripted([http(502), "ok"]), policy=policy(rec), what="GET stories", logger=log
        )
    assert caplog.messages == ["GET stories failed (HTTP 502); retrying in 1 s (attempt 1 of 6)"]


def test_never_policy_tries_once() -> None:
    rec = Recorder()
    p = dataclasses.replace(RetryPolicy.never(), sleep=rec.sleep, clock=rec.clock)
    with pytest.raises(QueueFullError):
        call_with_retry(scripted([http(503, "testbox.queue_full")]), policy=p, what="x", logger=log)
    with pytest.raises(OctaneHTTPError):
        call_with_retry(scripted([http(502)]), policy=p, what="x", logger=log)
    assert rec.waits == []


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="transient_attempts"):
        RetryPolicy(transient_attempts=0)
    with pytest.raises(ValueError, match="queue_full_wait_s"):
        RetryPolicy(queue_full_wait_s=-1.0)
