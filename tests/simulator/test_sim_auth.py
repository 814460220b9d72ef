"""Sign-in, sign-out, the LWSSO cookie, idle expiry, forced expiry and cookie rotation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests


def _post_sign_in(sim: Any, body: dict[str, str]) -> requests.Response:
    return requests.post(f"{sim.url}/authentication/sign_in", json=body, timeout=10)


@pytest.mark.parametrize(
    "body",
    [
        {"client_id": "sim-client", "client_secret": "sim-secret"},
        {"user": "sim-user", "password": "sim-password"},
        {"user": "sim-client", "password": "sim-secret"},  # API key given as user/password (CLT)
    ],
)
def test_sign_in_sets_the_session_cookies(sim: Any, body: dict[str, str]) -> None:
    answer = _post_sign_in(sim, body)
    assert answer.status_code == 200
    assert set(answer.cookies.keys()) == {"LWSSO_COOKIE_KEY", "OCTANE_USER"}
    assert answer.cookies["OCTANE_USER"] == body.get("client_id", body.get("user"))


@pytest.mark.parametrize(
    "body",
    [
        {"client_id": "sim-client", "client_secret": "wrong"},
        {"user": "sim-user", "password": "wrong"},
        {"client_id": "someone-else", "client_secret": "sim-secret"},
    ],
)
def test_wrong_credentials_get_401_with_error_json(sim: Any, body: dict[str, str]) -> None:
    answer = _post_sign_in(sim, body)
    assert answer.status_code == 401
    assert answer.json()["error_code"] == "AUTHENTICATION_FAILED"
    assert "LWSSO_COOKIE_KEY" not in answer.cookies
    assert sim.counters["failed_sign_ins"] == 1


def test_sign_in_needs_a_json_object(sim: Any) -> None:
    answer = requests.post(f"{sim.url}/authentication/sign_in", data=b"user=x", timeout=10)
    assert answer.status_code == 400
    assert answer.json()["error_code"] == "platform.invalid_json"


def test_sign_in_only_accepts_post(sim: Any) -> None:
    assert requests.get(f"{sim.url}/authentication/sign_in", timeout=10).status_code == 405


def test_api_without_cookie_is_401(sim: Any) -> None:
    answer = requests.get(f"{sim.api_url}/stories", timeout=10)
    assert answer.status_code == 401
    body = answer.json()
    assert body["error_code"] == "NOT_AUTHENTICATED"
    assert set(body) >= {"error_code", "description", "correlation_id"}


def test_api_with_an_unknown_cookie_is_401(sim: Any) -> None:
    answer = requests.get(
        f"{sim.api_url}/stories", cookies={"LWSSO_COOKIE_KEY": "forged"}, timeout=10
    )
    assert answer.status_code == 401
    assert answer.json()["error_code"] == "NOT_AUTHENTICATED"


def test_sign_out_invalidates_the_session(
    sim: Any, signed_in: Callable[[Any], requests.Session]
) -> None:
    session = signed_in(sim)
    token = session.cookies["LWSSO_COOKIE_KEY"]
    assert session.get(f"{sim.api_url}/stories", timeout=10).status_code == 200
    answer = session.post(f"{sim.url}/authentication/sign_out", timeout=10)
    assert answer.status_code == 200
    replay = requests.get(f"{sim.api_url}/stories", cookies={"LWSSO_COOKIE_KEY": token}, timeout=10)
    assert replay.status_code == 401
    assert replay.json()["error_code"] == "NOT_AUTHENTICATED"
    assert sim.counters["sign_outs"] == 1


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_idle_sessions_expire_with_the_idle_error_code(
    octane_simulator_factory: Callable[..., Any],
    signed_in: Callable[[Any], requests.Session],
) -> None:
    clock = FakeClock()
    sim = octane_simulator_factory(idle_timeout_s=30, clock=clock)
    session = signed_in(sim)
    clock.now += 29
    assert session.get(f"{sim.api_url}/stories", timeout=10).status_code == 200
    clock.now += 29  # activity refreshed the idle timer
    assert session.get(f"{sim.api_url}/stories", timeout=10).status_code == 200
    clock.now += 31
    answer = session.get(f"{sim.api_url}/stories", timeout=10)
    assert answer.status_code == 401
    assert answer.json()["error_code"] == "VALIDATION_TOKEN_EXPIRED_IDLE_TIME_OUT"
    assert session.get(f"{sim.api_url}/stories", timeout=10).status_code == 401
    signed_in(sim)  # a fresh sign-in works again


def test_expire_all_sessions_now(sim: Any, signed_in: Callable[[Any], requests.Session]) -> None:
    first, second = signed_in(sim), signed_in(sim)
    assert sim.faults.expire_sessions() == 2
    for session in (first, second):
        answer = session.get(f"{sim.api_url}/stories", timeout=10)
        assert answer.status_code == 401
        assert answer.json()["error_code"] == "VALIDATION_TOKEN_EXPIRED_GLOBAL_TIME_OUT"


def test_cookie_rotation_sends_a_new_token_that_clients_must_take(
    octane_simulator_factory: Callable[..., Any],
    signed_in: Callable[[Any], requests.Session],
) -> None:
    sim = octane_simulator_factory(rotate_cookie_every=2)
    session = signed_in(sim)
    first = session.cookies["LWSSO_COOKIE_KEY"]
    session.get(f"{sim.api_url}/stories", timeout=10)
    answer = session.get(f"{sim.api_url}/stories", timeout=10)
    assert "LWSSO_COOKIE_KEY" in answer.cookies
    second = session.cookies["LWSSO_COOKIE_KEY"]
    assert second != first
    assert sim.counters["cookie_rotations"] == 1
    assert sim.counters["stale_cookie_requests"] == 0
    # A client that keeps the old value still gets in, but is counted.
    stale = requests.get(f"{sim.api_url}/stories", cookies={"LWSSO_COOKIE_KEY": first}, timeout=10)
    assert stale.status_code == 200
    assert sim.counters["stale_cookie_requests"] == 1


def test_the_cookie_value_never_reaches_the_request_log(
    sim: Any, signed_in: Callable[[Any], requests.Session]
) -> None:
    session = signed_in(sim)
    session.get(f"{sim.api_url}/stories", timeout=10)
    token = session.cookies["LWSSO_COOKIE_KEY"]
    logged = repr(sim.request_log) + repr(sim.snapshot())
    assert token not in logged
    assert sim.client_secret not in logged
    assert "sim-secret" not in repr(sim)
