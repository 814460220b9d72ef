"""Faults on demand: failing, resetting or slowing chosen requests, outages, expired sessions,
restarts that forget queued tasks.

Request rules match ``"METHOD PATH-GLOB"`` (``fnmatch`` on the percent-decoded path without
the query; ``*`` matches ``/`` too), e.g. ``"POST */test-results"`` or ``"* /authentication/*"``.
A rule with a count is used up after that many matching requests.
"""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["FaultAction", "FaultRule", "Faults"]

_DEFAULT_CODES = {
    429: "simulated.too_many_requests",
    500: "simulated.internal_error",
    502: "simulated.bad_gateway",
    503: "simulated.service_unavailable",
    504: "simulated.gateway_timeout",
}
_TASK_FAILURE = "Simulated processing failure (fault injected by the Octane simulator)"


@dataclass(slots=True)
class FaultRule:
    """One armed request fault."""

    kind: Literal["fail", "reset", "latency", "restart"]
    method: str
    path: str
    remaining: int | None
    status: int = 0
    error_code: str | None = None
    description: str | None = None
    retry_after: float | None = None
    json_body: bool = True
    delay_ms: int = 0

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method.upper()) and fnmatch.fnmatchcase(path, self.path)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class FaultAction:
    """What to do with one request before (or instead of) answering it."""

    delay_ms: int = 0
    reset: bool = False
    fail: FaultRule | None = None
    #: answer the request, then restart (forget the tasks still queued or running)
    restart: bool = False


def _split_match(match: str) -> tuple[str, str]:
    parts = match.split()
    if len(parts) == 1:
        return "*", parts[0]
    if len(parts) == 2:
        return parts[0].upper(), parts[1]
    raise ValueError(f"match {match!r} must be 'METHOD PATH-GLOB' or 'PATH-GLOB'")


def _count(count: int | None, name: str = "count") -> int | None:
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ValueError(f"{name} must be a positive integer or null, got {count!r}")
    return count


class Faults:
    """Armed faults of one simulator (thread-safe); ``sim.faults`` is the Python API."""

    def __init__(
        self,
        *,
        go_down: Callable[[float], None],
        expire_sessions: Callable[[], int],
        forbid_delete: Callable[[bool], None],
        restart: Callable[[], int],
    ) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._task_failures: list[str] = []
        self._go_down = go_down
        self._expire_sessions = expire_sessions
        self._forbid_delete = forbid_delete
        self._restart = restart

    # ------------------------------------------------------------ arming

    def fail_next(
        self,
        match: str,
        status: int = 503,
        *,
        count: int = 1,
        error_code: str | None = None,
        description: str | None = None,
        retry_after: float | None = None,
        json_body: bool = True,
    ) -> None:
        """Answer the next ``count`` matching requests with ``status`` instead of handling them.

        429 gets ``Retry-After: 1`` unless ``retry_after`` says otherwise; ``json_body=False``
        sends an HTML page, as a proxy would.
        """
        method, path = _split_match(match)
        if not 400 <= status <= 599:
            raise ValueError(f"status {status} must be an HTTP error status (400-599)")
        if retry_after is None and status == 429:
            retry_after = 1
        rule = FaultRule(
            "fail",
            method,
            path,
            _count(count),
            status=status,
            error_code=error_code or _DEFAULT_CODES.get(status, f"simulated.http_{status}"),
            description=description or f"Simulated HTTP {status} (fault injected)",
            retry_after=retry_after,
            json_body=json_body,
        )
        with self._lock:
            self._rules.append(rule)

    def reset_next(self, match: str, *, count: int = 1) -> None:
        """Close the connection without any answer for the next ``count`` matching requests."""
        method, path = _split_match(match)
        with self._lock:
            self._rules.append(FaultRule("reset", method, path, _count(count)))

    def add_latency(self, match: str, ms: int, *, count: int | None = None) -> None:
        """Delay matching requests by ``ms`` (all of them, or the next ``count``)."""
        method, path = _split_match(match)
        if ms < 0:
            raise ValueError(f"ms must be 0 or more, got {ms}")
        with self._lock:
            self._rules.append(FaultRule("latency", method, path, _count(count), delay_ms=ms))

    def go_down(self, seconds: float) -> None:
        """Refuse connections for ``seconds`` (listening socket closed, then re-opened)."""
        if seconds <= 0:
            raise ValueError(f"seconds must be positive, got {seconds}")
        self._go_down(seconds)

    def expire_sessions(self) -> int:
        """Expire every session now (401 VALIDATION_TOKEN_EXPIRED_GLOBAL_TIME_OUT next)."""
        return self._expire_sessions()

    def restart(self) -> int:
        """Restart now, as Octane does: every test-results task still queued or running is
        forgotten unprocessed (``GET test-results/{id}`` answers 404; a re-post of the same
        payload makes a new task). Finished tasks, runs and entities stay. Returns how many
        tasks were forgotten."""
        return self._restart()

    def restart_after_next(self, match: str, *, count: int = 1) -> None:
        """Answer each of the next ``count`` matching requests, then restart (as
        :meth:`restart`) before the answer is sent: after ``"POST */test-results"`` the
        client holds the id of a task Octane no longer has."""
        method, path = _split_match(match)
        with self._lock:
            self._rules.append(FaultRule("restart", method, path, _count(count)))

    def forbid_delete(self, forbidden: bool = True) -> None:
        """Answer every DELETE with 403 (``False`` allows them again), as a CI key's role may."""
        if not isinstance(forbidden, bool):
            raise ValueError(f"forbidden must be true or false, got {forbidden!r}")
        self._forbid_delete(forbidden)

    def fail_next_tasks(self, count: int = 1, *, error_details: str | None = None) -> None:
        """Make the next ``count`` processed upload tasks end ``failed`` with errorDetails."""
        _count(count)
        with self._lock:
            self._task_failures.extend([error_details or _TASK_FAILURE] * count)

    def clear(self) -> None:
        """Disarm every request and task fault."""
        with self._lock:
            self._rules.clear()
            self._task_failures.clear()

    def pending(self) -> dict[str, Any]:
        with self._lock:
            return {
                "rules": [r.as_dict() for r in self._rules],
                "task_failures": len(self._task_failures),
            }

    # ------------------------------------------------------------ used by the server

    def on_request(self, method: str, path: str) -> FaultAction:
        """Consume the rules that match this request and say what to do."""
        delay = 0
        chosen: FaultRule | None = None
        with self._lock:
            for rule in list(self._rules):
                if not rule.matches(method, path):
                    continue
                if rule.kind == "latency":
                    delay += rule.delay_ms
                elif chosen is None:
                    chosen = rule
                else:
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
        if chosen is None:
            return FaultAction(delay_ms=delay)
        if chosen.kind == "reset":
            return FaultAction(delay_ms=delay, reset=True)
        if chosen.kind == "restart":
            return FaultAction(delay_ms=delay, restart=True)
        return FaultAction(delay_ms=delay, fail=chosen)

    def take_task_failure(self) -> str | None:
        with self._lock:
            return self._task_failures.pop(0) if self._task_failures else None

    def apply(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """Arm a fault from the control endpoint's JSON; ValueError names what is wrong."""
        actions: dict[str, tuple[Callable[..., Any], set[str]]] = {
            "fail_next": (
                self.fail_next,
                {
                    "match",
                    "status",
                    "count",
                    "error_code",
                    "description",
                    "retry_after",
                    "json_body",
                },
            ),
            "reset_next": (self.reset_next, {"match", "count"}),
            "add_latency": (self.add_latency, {"match", "ms", "count"}),
            "go_down": (self.go_down, {"seconds"}),
            "expire_sessions": (self.expire_sessions, set()),
            "restart": (self.restart, set()),
            "restart_after_next": (self.restart_after_next, {"match", "count"}),
            "fail_next_tasks": (self.fail_next_tasks, {"count", "error_details"}),
            "forbid_delete": (self.forbid_delete, {"forbidden"}),
            "clear": (self.clear, set()),
        }
        name = spec.get("action")
        if name not in actions:
            raise ValueError(f"'action' must be one of {', '.join(actions)}, got {name!r}")
        function, allowed = actions[str(name)]
        extra = set(spec) - allowed - {"action"}
        if extra:
            raise ValueError(
                f"action {name!r} does not take {', '.join(sorted(extra))} "
                f"(it takes: {', '.join(sorted(allowed)) or 'nothing'})"
            )
        kwargs = {k: v for k, v in spec.items() if k != "action"}
        positional = [kwargs.pop(k) for k in ("match",) if k in kwargs]
        try:
            result = function(*positional, **kwargs)
        except TypeError as exc:
            raise ValueError(f"action {name!r}: {exc}") from None
        return {"action": name, "result": result}
