"""OctaneClient sign-in, cookies, re-sign-in on 401, sign-out (HTTP faked with `responses`)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import responses

from pytest_octane.errors import AuthError, NotOctaneError, OctaneHTTPError, SessionRefused
from pytest_octane.octane.client import OctaneClient
from pytest_octane.octane.credentials import Credentials
from pytest_octane.octane.retry import RetryPolicy

SERVER = "http://127.0.0.1:8080"
BASE = f"{SERVER}/api/shared_spaces/1001/workspaces/1002"
SIGN_IN = f"{SERVER}/authentication/sign_in"
SIGN_OUT = f"{SERVER}/authentication/sign_out"
TASK = f"{BASE}/test-results/7"
SECRET = "Top-Secret-Value-9"
COOKIE = "LWSSO-cookie-value-1234"
SOURCE = "environment variables OCTANE_CLIENT_ID/OCTANE_CLIENT_SECRET"
TASK_JSON = {"id": 7, "status": "queued"}


def api_key() -> Credentials:
    return Credentials.api_key("key_id", SECRET, source=SOURCE)


def make_client(**kw: Any) -> OctaneClient:
    kw.setdefault("server", SERVER)
    kw.setdefault("space_id", 1001)
    kw.setdefault("workspace_id", 1002)
    kw.setdefault("credentials", api_key())
    kw.setdefault("timeout", (20.0, 60.0))
    kw.setdefault("retry", RetryPolicy(sleep=lambda s: None, jitter=False))
    return OctaneClient(**kw)


def signed_in(rsps: responses.RequestsMock, cookie: str = COOKIE, **kw: Any) -> None:
    kw.setdefault(
        "headers",
        [("Set-Cookie", f"LWSSO_COOKIE_KEY={cookie}"), ("Set-Cookie", "OCTANE_USER=key_id")],
    )
    rsps.post(SIGN_IN, status=200, **kw)


def cookie_header(call: Any) -> str | None:
    """The Cookie header sent, its pairs sorted (the jar's order is not ours to fix)."""
    value = call.request.headers.get("Cookie")
    return None if value is None else "; ".join(sorted(str(value).split("; ")))


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def test_signs_in_lazily_with_the_api_key_body(rsps: responses.RequestsMock) -> None:
    signed_in(rsps)
    rsps.get(TASK, json=TASK_JSON)
    client = make_client()
    assert not rsps.calls
    client.get_task(7)
    assert [c.request.url for c in rsps.calls] == [SIGN_IN, TASK]
    sign_in = rsps.calls[0].request
    assert json.loads(sign_in.body) == {"client_id": "key_id", "client_secret": SECRET}
    assert sign_in.headers["Content-Type"] == "application/json"
    assert cookie_header(rsps.calls[0]) is None
    assert client.signed_in


def test_signs_in_with_user_and_password(rsps: responses.RequestsMock) -> None:
    signed_in(rsps)
    creds = Credentials.user_password("alice", SECRET, source="file /core/qzrelease/octane/S-1001")
    make_client(credentials=creds).sign_in()
    assert json.loads(rsps.calls[0].request.body) == {"user": "alice", "password": SECRET}


def test_cookies_from_sign_in_are_sent_on_api_calls(rsps: responses.RequestsMock) -> None:
    signed_in(rsps)
    rsps.get(TASK, json=TASK_JSON)
    make_client().get_task(7)
    assert cookie_header(rsps.calls[1]) == f"LWSSO_COOKIE_KEY={COOKIE}; OCTANE_USER=key_id"


@pytest.mark.parametrize(
    ("server", "set_cookie"),
    [
        ("http://127.0.0.1:8080", "LWSSO_COOKIE_KEY={}; Domain=127.0.0.1"),
        ("http://localhost:8080", "LWSSO_COOKIE_KEY={}; Domain=localhost; HttpOnly"),
        ("http://localhost:8080", "LWSSO_COOKIE_KEY={}; Path=/authentication"),
        ("https://octane.example.com", "LWSSO_COOKIE_KEY={}; Domain=.example.com; Path=/; Secure"),
        ("https://octane.example.com/octane/", "LWSSO_COOKIE_KEY={}"),
    ],
)
def test_session_cookie_reaches_the_api_whatever_its_domain_and_path(
    rsps: responses.RequestsMock, server: str, set_cookie: str
) -> None:
    root = server.rstrip("/")
    rsps.post(f"{root}/authentication/sign_in", headers={"Set-Cookie": set_cookie.format(COOKIE)})
    task = f"{root}/api/shared_spaces/1001/workspaces/1002/test-results/7"
    rsps.get(task, json=TASK_JSON)
    if root.endswith("/octane"):  # a context path is only recognisable with the ids after it
        server = f"{root}/shared_spaces/1001/workspaces/1002"
    make_client(server=server).get_task(7)
    assert cookie_header(rsps.calls[1]) == f"LWSSO_COOKIE_KEY={COOKIE}"


def test_a_new_session_cookie_from_any_answer_replaces_the_old_one(
    rsps: responses.RequestsMock,
) -> None:
    signed_in(rsps)
    rsps.get(
        TASK, json=TASK_JSON, headers={"Set-Cookie": "LWSSO_COOKIE_KEY=rotated-value; Path=/api"}
    )
    client = make_client()
    client.get_task(7)
    client.get_task(7)
    assert cookie_header(rsps.calls[2]) == "LWSSO_COOKIE_KEY=rotated-value; OCTANE_USER=key_id"


def test_401_signs_in_again_once_and_replays(rsps: responses.RequestsMock) -> None:
    # `responses` answers registrations for one URL in order, repeating the last one.
    signed_in(rsps, cookie="first-cookie")
    rsps.post(SIGN_IN, headers={"Set-Cookie": "LWSSO_COOKIE_KEY=second-cookie"})
    rsps.get(TASK, status=401, json={"error_code": "VALIDATION_TOKEN_EXPIRED_IDLE_TIME_OUT"})
    rsps.get(TASK, json=TASK_JSON)
    assert make_client().get_task(7).status == "queued"
    assert [(c.request.method, c.request.url) for c in rsps.calls] == [
        ("POST", SIGN_IN),
        ("GET", TASK),
        ("POST", SIGN_IN),
        ("GET", TASK),
    ]
    assert cookie_header(rsps.calls[1]) == "LWSSO_COOKIE_KEY=first-cookie; OCTANE_USER=key_id"
    assert cookie_header(rsps.calls[2]) is None  # old cookies are not sent to sign_in
    assert cookie_header(rsps.calls[3]) == "LWSSO_COOKIE_KEY=second-cookie"


def test_a_second_401_is_an_auth_error_naming_the_source(rsps: responses.RequestsMock) -> None:
    signed_in(rsps)
    rsps.get(TASK, status=401, json={"error_code": "VALIDATION_TOKEN_EXPIRED_GLOBAL_TIME_OUT"})
    with pytest.raises(AuthError) as info:
        make_client().get_task(7)
    assert [c.request.url for c in rsps.calls] == [SIGN_IN, TASK, SIGN_IN, TASK]
    err = info.value
    assert err.status == 401
    assert err.error_code == "VALIDATION_TOKEN_EXPIRED_GLOBAL_TIME_OUT"
    assert str(err) == (
        f"Octane answered GET {TASK} with 401 even after a fresh sign-in with the credentials "
        f"from {SOURCE} VALIDATION_TOKEN_EXPIRED_GLOBAL_TIME_OUT: check the credentials path "
        "and that the account may use shared space 1001 workspace 1002"
    )


def test_a_second_401_after_a_good_sign_in_is_resumable_session_trouble(
    rsps: responses.RequestsMock,
) -> None:
    """The sign-in just succeeded, so the credentials are fine: a resume may succeed."""
    signed_in(rsps)
    rsps.get(TASK, status=401, json={"error_code": "VALIDATION_TOKEN_EXPIRED_IDLE_TIME_OUT"})
    with pytest.raises(SessionRefused) as info:
        make_client().get_task(7)
    assert info.value.transient


def test_a_refused_sign_in_is_permanent(rsps: responses.RequestsMock) -> None:
    rsps.post(SIGN_IN, status=401, json={"error_code": "AUTHENTICATION_FAILED"})
    with pytest.raises(AuthError) as info:
        make_client().get_task(7)
    assert not isinstance(info.value, SessionRefused)
    assert not info.value.transient


def test_a_replay_that_raced_another_threads_sign_in_is_sent_once_more(
    rsps: responses.RequestsMock,
) -> None:
    """Thread B's replay left with the cookie of a session that thread C's sign-in replaced
    meanwhile (every sign-in starts a new session); B sends it once more, signing in no more."""
    client = make_client()
    signed_in(rsps, cookie="first")
    signed_in(rsps, cookie="second")
    signed_in(rsps, cookie="third")
    answers = iter([401, "race", 200])

    def task(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        answer = next(answers)
        if answer == "race":  # another thread signs in while this replay is on its way
            client._http.sign_in()
            answer = 401
        body = TASK_JSON if answer == 200 else {"error_code": "VALIDATION_TOKEN_EXPIRED"}
        return int(answer), {}, json.dumps(body)

    rsps.add_callback(responses.GET, TASK, callback=task)
    assert client.get_task(7).status == "queued"
    # the racing sign-in is recorded before the replay it overtook has its answer
    assert [c.request.url for c in rsps.calls] == [SIGN_IN, TASK, SIGN_IN, SIGN_IN, TASK, TASK]
    assert cookie_header(rsps.calls[-1]) == "LWSSO_COOKIE_KEY=third; OCTANE_USER=key_id"


@pytest.mark.parametrize("status", [401, 403])
def test_refused_sign_in_names_the_credentials_source(
    rsps: responses.RequestsMock, status: int
) -> None:
    rsps.post(
        SIGN_IN, status=status, json={"error_code": "AUTHENTICATION_FAILED", "description": "bad"}
    )
    source = "file /core/qzrelease/octane/S-1001"
    creds = Credentials.api_key("key_id", SECRET, source=source)
    with pytest.raises(AuthError) as info:
        make_client(credentials=creds).get_task(7)
    assert len(rsps.calls) == 1  # not retried
    assert str(info.value) == (
        f"Octane refused the sign-in at {SIGN_IN} (HTTP {status} AUTHENTICATION_FAILED) for the "
        f"credentials from {source} (api key 'key_id'): check the credentials path and that "
        "the account or API key is valid and has access to this shared space"
    )


def test_sign_in_without_session_cookie_is_not_octane(rsps: responses.RequestsMock) -> None:
    rsps.post(SIGN_IN, status=200, body="<html>welcome</html>", content_type="text/html")
    with pytest.raises(NotOctaneError, match="without the LWSSO_COOKIE_KEY cookie"):
        make_client().sign_in()


def test_sign_in_server_error_is_mapped(rsps: responses.RequestsMock) -> None:
    rsps.post(
        SIGN_IN, status=500, json={"error_code": "platform.unknown", "description": "db down"}
    )
    with pytest.raises(
        OctaneHTTPError, match=r"Octane refused POST .*/sign_in: 500 platform.unknown: db down"
    ):
        make_client().sign_in()


@pytest.mark.parametrize("status", [200, 302])
def test_close_signs_out_and_closes_own_session(rsps: responses.RequestsMock, status: int) -> None:
    signed_in(rsps)
    rsps.post(
        SIGN_OUT, status=status, headers={"Location": f"{SERVER}/ui/"} if status == 302 else {}
    )
    with make_client() as client:
        client.sign_in()
    assert [c.request.url for c in rsps.calls] == [SIGN_IN, SIGN_OUT]
    assert cookie_header(rsps.calls[1]) == f"LWSSO_COOKIE_KEY={COOKIE}; OCTANE_USER=key_id"
    assert not client.signed_in
    client.close()  # idempotent
    assert len(rsps.calls) == 2
    with pytest.raises(RuntimeError, match="closed"):
        client.get_task(7)


def test_close_without_sign_in_sends_nothing(rsps: responses.RequestsMock) -> None:
    make_client().close()
    assert not rsps.calls


def test_close_does_not_close_an_injected_session(rsps: responses.RequestsMock) -> None:
    closed: list[bool] = []

    class Session(requests.Session):
        def close(self) -> None:
            closed.append(True)
            super().close()

    make_client(session=Session()).close()
    assert closed == []


def test_failed_sign_out_in_close_only_warns(
    rsps: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    signed_in(rsps)
    rsps.post(SIGN_OUT, status=500, json={"error_code": "x", "description": "nope"})
    client = make_client()
    client.sign_in()
    with caplog.at_level(logging.WARNING, logger="pytest_octane.octane.client"):
        client.close()
    assert "signing out of Octane at http://127.0.0.1:8080 failed" in caplog.text


def test_parallel_first_requests_sign_in_once(rsps: responses.RequestsMock) -> None:
    signed_in(rsps)
    rsps.get(TASK, json=TASK_JSON)
    client = make_client()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            client.get_task(7)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sum(1 for c in rsps.calls if c.request.url == SIGN_IN) == 1
    assert sum(1 for c in rsps.calls if c.request.url == TASK) == 8
