"""Nothing leaked: the client secret and every session cookie value the simulator issued are
nowhere -- not in any file a job wrote (task store, request log, spool, XML, dry runs), not in
the terminal output (also at DEBUG), not in the text of any exception raised.

The simulator is made hostile: it rotates the session cookie, expires sessions mid-job, and
answers some requests with error bodies that echo the secret and the current cookie value,
so the client's scrubbing is exercised, not just its silence.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_octane import errors
from pytest_octane.model import RunStatus, TestRun
from pytest_octane.settings import resolve_settings
from pytest_octane.simulator import Simulator
from tests.run_factory import make_test_run

DEBUG = ["--log-level=DEBUG", "-o", "log_cli=true", "--log-cli-level=DEBUG", "-rA"]


def _issued_tokens(sim: Simulator) -> list[str]:
    """Record every session cookie value the simulator hands out (its state forgets a
    token at sign-out, so we read them as they are made)."""
    issued: list[str] = []
    state = sim._state
    make = state.new_token

    def new_token() -> str:
        token = make()
        issued.append(token)
        return token

    state.new_token = new_token  # type: ignore[method-assign]
    return issued


def _echo(sim: Simulator, secret: str, issued: list[str], match: str, status: int) -> None:
    """Arm one error answer whose body repeats the secret and the newest cookie value."""
    sim.faults.fail_next(
        match,
        status,
        description=f"echo client_secret={secret} LWSSO_COOKIE_KEY={issued[-1]} raw {issued[-1]}",
    )


def _leaks(haystacks: dict[str, bytes], needles: list[str]) -> list[str]:
    found = []
    for where, data in haystacks.items():
        for needle in needles:
            for encoded in {needle.encode("utf-8"), needle.encode("utf-16-le")}:
                if encoded in data:
                    found.append(f"{needle[:12]}... in {where}")
    return found


def _files(*roots: Path) -> dict[str, bytes]:
    return {
        str(p): p.read_bytes() for root in roots for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_leak_scanner_finds_a_planted_secret(tmp_path: Path) -> None:
    """The scanner below must be able to fail."""
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "log.jsonl").write_text('{"x": "sekrit-123"}')
    assert _leaks(_files(tmp_path), ["sekrit-123"]) != []
    assert _leaks({"out": "a\N{EM DASH}sekrit-123".encode("utf-16-le")}, ["sekrit-123"]) != []


def test_a_full_job_leaks_no_secret_anywhere(harness, tmp_path: Path) -> None:
    secret = f"rel-secret-{uuid.uuid4().hex}"
    wrong = f"rel-wrong-{uuid.uuid4().hex}"
    sim = harness.simulator(client_secret=secret, rotate_cookie_every=3)
    issued = _issued_tokens(sim)
    harness.trigger(sim, "POST */test-results", 2, sim.faults.expire_sessions)
    harness.trigger(
        sim,
        "POST */test-results",
        3,
        lambda: _echo(sim, secret, issued, "GET */test-results/*", 503),
    )
    harness.trigger(
        sim,
        "POST */test-results",
        4,
        lambda: _echo(sim, secret, issued, "POST */test-results", 502),
    )
    sim.faults.fail_next_tasks(1)  # one slice fails, so `retry` runs too
    env = harness.env(sim)
    work = harness.work("secrets")
    outputs = []
    # one upload at a time: an echo carries every cookie issued so far, and with parallel
    # uploads one may still be in flight to another thread, unseen by the client
    first = harness.pytest(
        sim, sim.url, work, "secrets", *DEBUG, "--octane-max-parallel=1", env=env
    )
    outputs.append(first)
    command = first.follow_up()
    assert command is not None, first.describe()
    outputs.append(harness.follow(command, sim))
    job = harness.job_id(work)
    store = str(work / "store")
    for args in (
        ["--debug", "logs", job, "--task-store", store, "--bodies"],
        ["status", job, "--task-store", store, "--json"],
        ["jobs", "--task-store", store, "--json"],
    ):
        outputs.append(harness.follow(["pytest-octane", *args], sim))
    # dry runs with the secret in the environment
    dry = harness.work("dry")
    outputs.append(
        harness.pytest(sim, sim.url, dry, "dry", f"--octane-dry-run={dry / 'xml'}", *DEBUG, env=env)
    )
    outputs.append(harness.pytest(sim, sim.url, dry, "dry", "--octane-dry-run", env=env))
    # a refused sign-in with a wrong secret
    refused = harness.work("refused")
    outputs.append(
        harness.pytest(
            sim, sim.url, refused, "refused", *DEBUG, env={**env, "OCTANE_CLIENT_SECRET": wrong}
        )
    )
    assert "refused the sign-in" in outputs[-1].stdout, outputs[-1].describe()

    assert len(issued) >= 4, issued  # sign-ins, a re-sign-in after expiry, rotations
    assert sim.counters["cookie_rotations"] >= 1 and sim.counters["unauthorized"] >= 1
    request_log = (work / "store" / f"{job}.requests.jsonl").read_text(encoding="utf-8")
    assert "<hidden>" in request_log  # the echoed secret and cookie were scrubbed, not absent

    haystacks = _files(harness.tmp_path)
    for number, outcome in enumerate(outputs):
        haystacks[f"stdout of command {number}"] = outcome.stdout.encode("utf-8", "replace")
        haystacks[f"stderr of command {number}"] = outcome.stderr.encode("utf-8", "replace")
    assert len(haystacks) > 20
    leaks = _leaks(haystacks, [secret, wrong, *issued])
    assert not leaks, leaks


# ---------------------------------------------------------------- in-process: exceptions


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(self.format(record))


@pytest.fixture
def every_exception(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[BaseException]]:
    """Every pytest-octane error constructed while the test runs (texts read at the end,
    after retries have added their summaries)."""
    seen: list[BaseException] = []
    original = errors.OctaneError.__init__

    def init(self: errors.OctaneError, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        seen.append(self)

    monkeypatch.setattr(errors.OctaneError, "__init__", init)
    yield seen


@pytest.fixture
def debug_logs() -> Iterator[_Records]:
    handler = _Records()
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(old)


def _runs(count: int) -> list[TestRun]:
    return [
        make_test_run(
            f"tests/test_s.py::test_{i}",
            status=RunStatus.PASSED if i % 7 else RunStatus.FAILED,
            duration_ms=i,
            started_ms=1_700_000_000_000 + i,
        )
        for i in range(count)
    ]


def test_no_secret_in_exception_texts_or_log_records(
    tmp_path: Path, monkeypatch, every_exception, debug_logs, make_trigger
) -> None:
    from pytest_octane.job import engine as uploader

    secret = f"rel-secret-{uuid.uuid4().hex}"
    wrong = f"rel-wrong-{uuid.uuid4().hex}"
    outcomes = []
    with Simulator(client_secret=secret, rotate_cookie_every=2, processing_ms=10) as sim:
        issued = _issued_tokens(sim)

        def settings(name: str, url: str = sim.url) -> Any:
            cli = {
                "space": "1001", "url": url, "workspace": "1002", "slice_size": "10",
                "task_store": str(tmp_path / name / "store"),
                "spool_dir": str(tmp_path / name / "spool"), "root_module": "Secrets",
                "queue_full_retry": "0.1", "poll_timeout": "30", "read_timeout": "5",
                "backoff": "0.01",
                # one request at a time: an echo carries every cookie issued so far, and with
                # parallel uploads one may still be in flight to another thread, unseen by
                # the client (a real server cannot echo a cookie the client has not received)
                "max_parallel": "1",
            }  # fmt: skip
            return resolve_settings(cli=cli, environ={}, ini={})

        def creds(value: str) -> Any:
            return lambda: {"client_id": sim.client_id, "client_secret": value}

        # 1. a job through expiry, rotation and echoing errors (transient and final)
        sim.faults.fail_next("GET */application_modules", 503, count=1)
        Trigger = make_trigger
        Trigger(sim, "POST */test-results", 2, sim.faults.expire_sessions)
        Trigger(
            sim,
            "POST */test-results",
            3,
            lambda: _echo(sim, secret, issued, "GET */test-results/*", 503),
        )
        Trigger(
            sim,
            "POST */test-results",
            4,
            lambda: _echo(sim, secret, issued, "POST */test-results", 400),
        )
        for _ in range(2):  # 401, and 401 again after the fresh sign-in: an AuthError
            Trigger(
                sim,
                "POST */test-results",
                5,
                lambda: _echo(sim, secret, issued, "POST */test-results", 401),
            )
        outcomes.append(uploader.upload_session(settings("job"), _runs(60), hook=creds(secret)))
        # 2. a refused sign-in
        outcomes.append(uploader.upload_session(settings("refused"), _runs(5), hook=creds(wrong)))
        sim.wait_for_tasks()
        url = sim.url
    # 3. the server is gone
    outcomes.append(uploader.upload_session(settings("gone", url), _runs(5), hook=creds(secret)))

    kinds = {type(e).__name__ for e in every_exception}
    assert {"AuthError", "OctaneHTTPError", "ConnectionFailed"} <= kinds, kinds
    texts = []
    for exc in every_exception:
        texts += [str(exc), repr(exc), *(str(a) for a in exc.args)]
        texts += [str(getattr(exc, name, "")) for name in ("description", "url", "error_code")]
    for outcome in outcomes:
        texts += outcome.summary_lines()
        texts += [str(outcome.error)]
    texts += debug_logs.texts
    assert any("<hidden>" in t for t in texts)  # an echo was scrubbed
    leaks = _leaks(
        {f"text {i}": t.encode("utf-8") for i, t in enumerate(texts)}, [secret, wrong, *issued]
    )
    assert not leaks, leaks
