"""When to try an Octane request again, and how long to wait (tenacity underneath).

Two kinds of trouble are worth waiting out:

* Octane's per-shared-space test-result queue is full (503 ``testbox.queue_full``,
  the seed's ``testbox_queue_full``, or ``testbox.request_limit``): the seed retries every
  10 s, so we wait a fixed interval up to an overall deadline.
* Transient failures (no connection, 502/503/504, 429): capped exponential backoff with
  jitter, honouring ``Retry-After``, bounded by attempts and a deadline.

Anything else (other 4xx, refused credentials, a non-Octane answer) fails at once.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception

from pytest_octane.errors import QUEUE_FULL_CODES, ConnectionFailed, OctaneError, OctaneHTTPError

__all__ = [
    "QUEUE_FULL_CODES",
    "TRANSIENT_STATUSES",
    "RetryPolicy",
    "call_with_retry",
    "is_queue_full",
    "is_transient",
]

T = TypeVar("T")

TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
# Statuses that say the server did not act on the request, so even a non-idempotent call
# (creating entities) may be sent again.
_NOT_PROCESSED_STATUSES = frozenset({429, 503})


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How long to keep trying; ``sleep``, ``clock`` and ``rng`` are injectable for tests."""

    queue_full_wait_s: float = 10.0
    queue_full_deadline_s: float = 1800.0
    transient_attempts: int = 6
    transient_initial_s: float = 1.0
    transient_max_s: float = 30.0
    transient_deadline_s: float = 300.0
    jitter: bool = True
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)
    rng: Callable[[], float] = field(default=random.random, repr=False, compare=False)
    #: Told of every wait before it happens: ``("queue_full" | "transient", seconds, line)``,
    #: the line naming the request, the cause and the retry (see :func:`retry_line`).
    on_wait: Callable[[str, float, str], None] | None = field(
        default=None, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.transient_attempts < 1:
            raise ValueError("transient_attempts must be at least 1")
        for name in (
            "queue_full_wait_s",
            "queue_full_deadline_s",
            "transient_initial_s",
            "transient_max_s",
            "transient_deadline_s",
        ):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")

    @classmethod
    def never(cls) -> RetryPolicy:
        """One attempt, no waiting: for callers that retry on their own."""
        return cls(transient_attempts=1, transient_deadline_s=0.0, queue_full_deadline_s=0.0)

    def backoff(self, failures: int) -> float:
        """Wait after the ``failures``-th transient failure: doubling, capped, half-jittered."""
        base = min(self.transient_max_s, self.transient_initial_s * 2.0 ** min(failures - 1, 64))
        if not self.jitter:
            return base
        return base / 2 + self.rng() * base / 2


def is_queue_full(exc: BaseException | None) -> bool:
    return isinstance(exc, OctaneHTTPError) and exc.queue_full


def is_transient(exc: BaseException | None) -> bool:
    """Worth sending again at once (backing off): no connection, 429, 502, 503, 504.

    Narrower than :attr:`OctaneError.transient` (a later ``resume`` can succeed)."""
    if isinstance(exc, ConnectionFailed):
        return True
    return (
        isinstance(exc, OctaneHTTPError)
        and exc.transient
        and not exc.queue_full
        and exc.status in TRANSIENT_STATUSES
    )


def _not_processed(exc: BaseException | None) -> bool:
    return is_queue_full(exc) or (
        is_transient(exc)
        and isinstance(exc, OctaneHTTPError)
        and exc.status in _NOT_PROCESSED_STATUSES
    )


def call_with_retry(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy,
    what: str,
    logger: logging.Logger,
    idempotent: bool = True,
    request: str | None = None,
) -> T:
    """Call ``fn`` until it succeeds or the policy gives up; re-raise the last error.

    With ``idempotent=False`` only answers saying the server did nothing (queue full,
    429, 503) are retried: after a lost connection the caller must look before resending.
    The error raised after giving up says how many attempts were made over how long.
    """
    budget = _Budget(policy, what, logger, request or what)
    retryable = (lambda e: is_queue_full(e) or is_transient(e)) if idempotent else _not_processed
    retrying = Retrying(
        retry=retry_if_exception(retryable),
        wait=budget.wait,
        stop=budget.stop,
        sleep=budget.sleep,
        before_sleep=budget.log,
        reraise=True,
    )

    def attempt() -> T:
        budget.attempts += 1
        return fn()

    try:
        return retrying(attempt)
    except OctaneError as exc:
        if budget.attempts > 1:
            lead = "gave up after" if budget.gave_up else "after"
            exc.args = (f"{exc} ({lead} {budget.summary()})", *exc.args[1:])
        raise


class _Budget:
    """Per-call bookkeeping: the two kinds of trouble have separate budgets."""

    def __init__(
        self, policy: RetryPolicy, what: str, logger: logging.Logger, request: str
    ) -> None:
        self.policy = policy
        self.what = what
        self.request = request
        self.logger = logger
        self.started = policy.clock()
        self.attempts = 0
        self.waited = 0.0  # sum of all waits: with an injected sleep the clock stands still
        self.queue_waits = 0
        self.queue_waited = 0.0
        self.transient_failures = 0
        self.transient_started: float | None = None
        self.transient_waited = 0.0
        self.gave_up = False
        self._next: float = 0.0
        self._stop: bool = False

    def _elapsed(self) -> float:
        return max(self.policy.clock() - self.started, self.waited)

    def wait(self, state: RetryCallState) -> float:
        """Decide both the wait and whether to stop; tenacity asks for the wait first."""
        exc = _exception(state)
        p = self.policy
        elapsed = self._elapsed()
        if is_queue_full(exc):
            wait = p.queue_full_wait_s
            if isinstance(exc, OctaneHTTPError) and exc.retry_after is not None:
                wait = min(max(exc.retry_after, 0.0), max(p.queue_full_wait_s, p.transient_max_s))
            self._stop = elapsed + wait > p.queue_full_deadline_s
        else:
            self.transient_failures += 1
            if self.transient_started is None:
                self.transient_started = elapsed
            wait = p.backoff(self.transient_failures)
            if isinstance(exc, OctaneHTTPError) and exc.retry_after is not None:
                wait = min(max(exc.retry_after, 0.0), p.transient_max_s)
            spent = elapsed - self.transient_started
            self._stop = (
                self.transient_failures >= p.transient_attempts
                or spent + wait > p.transient_deadline_s
            )
        self.gave_up = self._stop
        self._next = wait
        return wait

    def stop(self, state: RetryCallState) -> bool:
        return self._stop

    def sleep(self, seconds: float) -> None:
        self.policy.sleep(seconds)

    def log(self, state: RetryCallState) -> None:
        """Count the wait that is about to happen and say so at INFO."""
        exc = _exception(state)
        wait = self._next
        self.waited += wait
        if self.policy.on_wait is not None:
            kind = "queue_full" if is_queue_full(exc) else "transient"
            line = retry_line(self.request, exc, state.attempt_number, wait)
            self.policy.on_wait(kind, wait, line)
        if is_queue_full(exc):
            self.queue_waits += 1
            self.queue_waited += wait
            self.logger.info(
                "Octane's test-result queue is full; retrying %s in %s s "
                "(attempt %d, %s s waited of %s s)",
                self.what,
                _secs(wait),
                state.attempt_number,
                _secs(self.queue_waited),
                _secs(self.policy.queue_full_deadline_s),
            )
        else:
            self.transient_waited += wait
            self.logger.info(
                "%s failed (%s); retrying in %s s (attempt %d of %d)",
                self.what,
                _short(exc),
                _secs(wait),
                state.attempt_number,
                self.policy.transient_attempts,
            )

    def summary(self) -> str:
        attempts = "1 attempt" if self.attempts == 1 else f"{self.attempts} attempts"
        text = f"{attempts} over {_secs(self._elapsed())} s"
        if self.queue_waits:
            text += f", {_secs(self.queue_waited)} s of it waiting for the full queue"
        return text


def retry_line(request: str, exc: BaseException | None, retry: int, wait: float) -> str:
    """``POST test-results (slice 3): HTTP 503 testbox.queue_full; retry 2 in 10 s``."""
    return f"{request}: {_short(exc)}; retry {retry} in {_secs(wait)} s"


def _exception(state: RetryCallState) -> BaseException | None:
    outcome = state.outcome
    return outcome.exception() if outcome is not None else None


def _short(exc: BaseException | None) -> str:
    if isinstance(exc, OctaneHTTPError):
        code = f" {exc.error_code}" if exc.error_code else ""
        return f"HTTP {exc.status}{code}"
    if isinstance(exc, ConnectionFailed):
        return "no connection"
    return type(exc).__name__


def _secs(value: float) -> str:
    """10 -> '10', 2.345 -> '2.3': enough precision to read, no more."""
    if value >= 10 or value == int(value):
        return f"{value:.0f}"
    return f"{value:.1f}"
