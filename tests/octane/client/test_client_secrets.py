"""No secret or cookie value ever reaches an exception, a repr, a log record or a log entry.

The fake server below is hostile: it echoes the secret and the session cookie back in error
bodies, redirect targets and connection errors, the way proxies and debug pages do.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import responses

from pytest_octane.errors import (
    AuthError,
    ConnectionFailed,
    NotOctaneError,
    OctaneError,
    OctaneHTTPError,
)
from pytest_octane.model import RequestLogEntry
from pytest_octane.octane.client import OctaneClient
from pytest_octane.octane.credentials import Credentials
from pytest_octane.octane.retry import RetryPolicy

SERVER = "https://octane.example.com"
BASE = f"{SERVER}/api/shared_spaces/1001/workspaces/1002"
SIGN_IN = f"{SERVER}/authentication/sign_in"
TASK = f"{BASE}/test-results/7"
SECRET = "Top-Secret-Value-9"
COOKIE = "LWSSOcookieVALUE77"
ROTATED = "RotatedCookie55"
FORBIDDEN = (SECRET, COOKIE, ROTATED)


class Witness:
    """Collects everything that could leak and checks it in one place."""

    def __init__(self) -> None:
        self.entries: list[RequestLogEntry] = []
        self.errors: list[BaseException] = []

    def check(self, caplog: pytest.LogCaptureFixture, client: OctaneClient) -> None:
        texts = [repr(client), str(client.credentials), caplog.text]
        texts += [record.getMessage() for record in caplog.records]
        texts += [repr(entry) for entry in self.entries]
        for error in self.errors:
            texts += [str(error), repr(error), repr(error.args), repr(vars(error))]
            chained = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
            if chained is not None:
                texts.append(str(chained))
        assert self.entries, "the scenario made no request"
        for text in texts:
            for secret in FORBIDDEN:
                assert secret not in text


@pytest.fixture
def witness() -> Witness:
    return Witness()


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def client(witness: Witness, caplog: pytest.LogCaptureFixture) -> Iterator[OctaneClient]:
    caplog.set_level(logging.DEBUG)
    made = OctaneClient(
        server=SERVER,
        space_id=1001,
        workspace_id=1002,
        credentials=Credentials.api_key("key_id", SECRET, source="test"),
        timeout=(20.0, 60.0),
        retry=RetryPolicy(sleep=lambda s: None, jitter=False, transient_attempts=2),
        on_request=witness.entries.append,
        log_bodies=True,
    )
    yield made
    witness.check(caplog, made)


def sign_in_ok(rsps: responses.RequestsMock, cookie: str = COOKIE) -> None:
    rsps.post(
        SIGN_IN,
        headers=[
            ("Set-Cookie", f"LWSSO_COOKIE_KEY={cookie}; Path=/"),
            ("Set-Cookie", "OCTANE_USER=key_id"),
        ],
    )


def expect(witness: Witness, kind: type[OctaneError], fn: Any) -> OctaneError:
    with pytest.raises(kind) as info:
        fn()
    witness.errors.append(info.value)
    return info.value


def test_refused_sign_in_echoing_the_secret(
    rsps: responses.RequestsMock, client: OctaneClient, witness: Witness
) -> None:
    rsps.post(
        SIGN_IN,
        status=401,
        json={"error_code": "AUTH", "description": f"bad client_secret {SECRET}"},
    )
    err = expect(witness, AuthError, lambda: client.get_task(7))
    assert isinstance(err, AuthError) and err.description == "bad client_secret <hidden>"


def test_401_bodies_echoing_cookie_and_secret(
    rsps: responses.RequestsMock, client: OctaneClient, witness: Witness
) -> None:
    sign_in_ok(rsps)
    rsps.get(
        TASK,
        status=401,
        json={
            "error_code": "EXPIRED",
            "description": f"cookie {COOKIE} expired; password={SECRET}",
        },
    )
    expect(witness, AuthError, lambda: client.get_task(7))
    assert any(e.error and "<hidden>" in e.error for e in witness.entries)


def test_error_description_with_a_rotated_cookie(
    rsps: responses.RequestsMock, client: OctaneClient, witness: Witness
) -> None:
    sign_in_ok(rsps)
    rsps.get(
        TASK,
        json={"id": 7, "status": "queued"},
        headers={"Set-Cookie": f"LWSSO_COOKIE_KEY={ROTATED}"},
    )
    rsps.put(
        f"{BASE}/tests",
        status=400,
        json={
            "error_code": "x",
            "description": f"Cookie: LWSSO_COOKIE_KEY={ROTATED}; OCTANE_USER=key_id",
        },
    )
    client.get_task(7)
    err = expect(witness, OctaneHTTPError, lambda: client.update_entities("tests", [{"id": "1"}]))
    assert "LWSSO_COOKIE_KEY=<hidden>" in str(err)


def test_redirect_and_html_pages_echoing_the_cookie(
    rsps: responses.RequestsMock, client: OctaneClient, witness: Witness
) -> None:
    sign_in_ok(rsps)
    rsps.get(
        TASK,
        status=302,
        headers={"Location": f"https://sso.example.com/{COOKIE}/login?token={COOKIE}"},
    )
    rsps.get(
        f"{BASE}/tests",
        status=500,
        body=f"<html>session {COOKIE} {SECRET}</html>",
        content_type="text/html",
    )
    expect(witness, NotOctaneError, lambda: client.get_task(7))
    expect(witness, NotOctaneError, lambda: client.get_entities("tests"))


def test_connection_errors_echoing_secrets(
    rsps: responses.RequestsMock, client: OctaneClient, witness: Witness
) -> None:
    sign_in_ok(rsps)
    rsps.get(
        TASK,
        body=requests.exceptions.ProxyError(
            f"proxy http://bob:{SECRET}@proxy:3128 said no to {COOKIE}"
        ),
    )
    err = expect(witness, ConnectionFailed, lambda: client.get_task(7))
    assert "through the proxy" in str(err)


def test_sign_in_connection_failure_keeps_the_body_out_of_the_traceback(
    rsps: responses.RequestsMock, client: OctaneClient, witness: Witness
) -> None:
    rsps.post(SIGN_IN, body=requests.exceptions.ConnectionError("refused"))
    err = expect(witness, ConnectionFailed, client.sign_in)
    assert err.__cause__ is None and err.__suppress_context__
    tb = err.__traceback__
    while tb is not None:  # what `pytest --showlocals` would print
        for value in tb.tb_frame.f_locals.values():
            assert SECRET not in repr(value)
        tb = tb.tb_next


def test_successful_run_logs_no_cookie(
    rsps: responses.RequestsMock, client: OctaneClient, witness: Witness
) -> None:
    sign_in_ok(rsps)
    rsps.post(f"{BASE}/test-results", status=202, json={"id": 1, "status": "queued"})
    rsps.post(f"{SERVER}/authentication/sign_out", status=200)
    client.post_test_results(b"<test_result/>")
    client.close()
    assert len(witness.entries) == 3
