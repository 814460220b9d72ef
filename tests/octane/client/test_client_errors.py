"""OctaneClient error mapping and retries: Octane error JSON, queue full, transient trouble."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
import requests
import responses

from pytest_octane.errors import (
    ConfigError,
    ConnectionFailed,
    NotOctaneError,
    OctaneHTTPError,
    QueueFullError,
)
from pytest_octane.model import RequestLogEntry
from pytest_octane.octane.client import OctaneClient
from pytest_octane.octane.credentials import Credentials
from pytest_octane.octane.retry import RetryPolicy

SERVER = "https://octane.example.com"
BASE = f"{SERVER}/api/shared_spaces/1001/workspaces/1002"
SIGN_IN = f"{SERVER}/authentication/sign_in"
RESULTS = f"{BASE}/test-results"
TASK = f"{RESULTS}/7"
XML = b"<test_result><test_runs/></test_result>"
ACCEPTED = {"id": 55, "status": "queued"}


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(SIGN_IN, headers={"Set-Cookie": "LWSSO_COOKIE_KEY=c00kie-value"})
        yield mock


def make_client(sleeps: Sleeps, **kw: Any) -> OctaneClient:
    policy = kw.pop("policy", {})
    kw.setdefault("server", SERVER)
    kw.setdefault("space_id", 1001)
    kw.setdefault("workspace_id", 1002)
    kw.setdefault("credentials", Credentials.api_key("key_id", "secret-xyz", source="test"))
    kw.setdefault("timeout", (20.0, 60.0))
    kw.setdefault("retry", RetryPolicy(sleep=sleeps, jitter=False, clock=lambda: 0.0, **policy))
    return OctaneClient(**kw)


def posts(rsps: responses.RequestsMock, url: str = RESULTS) -> int:
    return sum(1 for c in rsps.calls if c.request.url.split("?")[0] == url)


def queue_full(code: str) -> dict[str, Any]:
    return {
        "error_code": code,
        "description": "The queue has reached the limit",
        "correlation_id": "q1",
    }


def test_octane_error_json_becomes_one_clear_error(
    rsps: responses.RequestsMock, sleeps: Sleeps
) -> None:
    rsps.post(
        RESULTS,
        status=400,
        json={
            "error_code": "platform.xsd_error",
            "description": "Element 'test_run': attribute 'name' is required",
            "correlation_id": "abc",
            "stack_trace": "java.lang.Exception ...",
        },
    )
    with pytest.raises(OctaneHTTPError) as info:
        make_client(sleeps).post_test_results(XML)
    err = info.value
    assert type(err) is OctaneHTTPError
    assert str(err) == (
        f"Octane refused POST {RESULTS}: 400 platform.xsd_error: Element 'test_run': "
        "attribute 'name' is required (correlation id abc)"
    )
    assert (err.status, err.error_code, err.correlation_id) == (400, "platform.xsd_error", "abc")
    assert err.url == f"{RESULTS}?skip-errors=false"
    assert posts(rsps) == 1  # 400 is not retried
    assert sleeps == []


def test_our_correlation_id_is_named_when_octane_gives_none(
    rsps: responses.RequestsMock, sleeps: Sleeps
) -> None:
    rsps.get(TASK, status=400, json={"error_code": "platform.bad_request"})
    with pytest.raises(OctaneHTTPError) as info:
        make_client(sleeps).get_task(7)
    sent = rsps.calls[-1].request.headers["X-Correlation-ID"]
    assert info.value.correlation_id == sent
    assert (
        str(info.value)
        == f"Octane refused GET {TASK}: 400 platform.bad_request (correlation id {sent})"
    )


@pytest.mark.parametrize(
    "code", ["testbox.queue_full", "testbox_queue_full", "testbox.request_limit"]
)
def test_queue_full_is_retried_every_ten_seconds_until_accepted(
    rsps: responses.RequestsMock, sleeps: Sleeps, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(3):
        rsps.post(RESULTS, status=503, json=queue_full(code))
    rsps.post(RESULTS, status=202, json=ACCEPTED)
    with caplog.at_level(logging.INFO, logger="pytest_octane.octane.client"):
        accepted = make_client(sleeps).post_test_results(XML)
    assert accepted.id == 55
    assert sleeps == [10.0, 10.0, 10.0]
    assert posts(rsps) == 4
    assert "Octane's test-result queue is full; retrying upload of test results" in caplog.text
    assert "(attempt 3, 30 s waited of 1800 s)" in caplog.text


def test_queue_full_gives_up_at_the_deadline(rsps: responses.RequestsMock, sleeps: Sleeps) -> None:
    rsps.post(RESULTS, status=503, json=queue_full("testbox_queue_full"))
    client = make_client(sleeps, policy={"queue_full_deadline_s": 60.0})
    with pytest.raises(QueueFullError) as info:
        client.post_test_results(XML)
    assert sleeps == [10.0] * 6
    assert posts(rsps) == 7
    assert info.value.error_code == "testbox_queue_full"
    assert str(info.value).startswith(f"Octane refused POST {RESULTS}: 503 testbox_queue_full: ")
    assert "queue for this shared space is full" in str(info.value)
    assert str(info.value).endswith(
        "(gave up after 7 attempts over 60 s, 60 s of it waiting for the full queue)"
    )


def test_queue_full_named_only_in_the_description_still_counts(
    rsps: responses.RequestsMock, sleeps: Sleeps
) -> None:
    rsps.post(
        RESULTS,
        status=503,
        json={"error_code": "platform.unavailable", "description": "reason: testbox.queue_full"},
    )
    rsps.post(RESULTS, status=202, json=ACCEPTED)
    assert make_client(sleeps).post_test_results(XML).id == 55
    assert sleeps == [10.0]


@pytest.mark.parametrize("status", [502, 503, 504, 429])
def test_transient_statuses_back_off(
    rsps: responses.RequestsMock, sleeps: Sleeps, status: int
) -> None:
    rsps.get(TASK, status=status, json={"error_code": "platform.busy"})
    rsps.get(TASK, status=status, json={"error_code": "platform.busy"})
    rsps.get(TASK, json={"id": 7, "status": "running"})
    assert make_client(sleeps).get_task(7).status == "running"
    assert sleeps == [1.0, 2.0]


@pytest.mark.parametrize("status", [503, 429])
def test_retry_after_seconds_is_honoured_and_capped(
    rsps: responses.RequestsMock, sleeps: Sleeps, status: int
) -> None:
    rsps.get(TASK, status=status, json={}, headers={"Retry-After": "7"})
    rsps.get(TASK, status=status, json={}, headers={"Retry-After": "3600"})
    rsps.get(TASK, json={"id": 7, "status": "running"})
    make_client(sleeps, policy={"transient_max_s": 30.0}).get_task(7)
    assert sleeps == [7.0, 30.0]


def test_retry_after_http_date(rsps: responses.RequestsMock, sleeps: Sleeps) -> None:
    when = datetime.now(UTC) + timedelta(seconds=20)
    rsps.get(TASK, status=429, headers={"Retry-After": format_datetime(when, usegmt=True)})
    rsps.get(TASK, json={"id": 7, "status": "running"})
    make_client(sleeps).get_task(7)
    assert len(sleeps) == 1 and 10.0 <= sleeps[0] <= 20.0


def test_transient_errors_give_up_after_the_attempts(
    rsps: responses.RequestsMock, sleeps: Sleeps
) -> None:
    rsps.get(TASK, status=504, body="<html>Gateway Timeout</html>", content_type="text/html")
    with pytest.raises(OctaneHTTPError) as info:
        make_client(sleeps).get_task(7)
    assert posts(rsps, TASK) == 6
    assert sleeps == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert str(info.value) == (
        f"Octane is unavailable for GET {TASK}: HTTP 504 (text/html, not Octane's JSON: likely "
        "from a proxy or load balancer) (gave up after 6 attempts over 31 s)"
    )


def test_html_answer_is_not_octane(rsps: responses.RequestsMock, sleeps: Sleeps) -> None:
    rsps.get(TASK, status=200, body="<html><form>Login</form></html>", content_type="text/html")
    with pytest.raises(NotOctaneError) as info:
        make_client(sleeps).get_task(7)
    assert str(info.value) == (
        f"the answer from {TASK} is not Octane's JSON (HTTP 200, text/html): the server URL is "
        "probably wrong; expected the Octane root such as https://octane.example.com"
    )
    assert info.value.url == TASK
    assert posts(rsps, TASK) == 1


def test_html_error_page_is_not_octane(rsps: responses.RequestsMock, sleeps: Sleeps) -> None:
    rsps.post(RESULTS, status=404, body="<html>Not Found</html>", content_type="text/html")
    with pytest.raises(NotOctaneError, match=r"is not Octane's JSON \(HTTP 404, text/html\)"):
        make_client(sleeps).post_test_results(XML)


def test_json_that_is_not_octanes_shape(rsps: responses.RequestsMock, sleeps: Sleeps) -> None:
    rsps.get(f"{BASE}/stories", json={"items": []})
    with pytest.raises(NotOctaneError, match="is JSON but not shaped like Octane's"):
        make_client(sleeps).get_entities("stories")


def test_redirect_is_not_followed(rsps: responses.RequestsMock, sleeps: Sleeps) -> None:
    rsps.get(TASK, status=302, headers={"Location": "https://sso.example.com/login?state=xyz"})
    with pytest.raises(NotOctaneError) as info:
        make_client(sleeps).get_task(7)
    assert (
        f"Octane did not answer GET {TASK}: HTTP 302 redirect to https://sso.example.com/login;"
        in str(info.value)
    )
    assert "state=xyz" not in str(info.value)


def test_connection_error_names_url_and_timeouts(
    rsps: responses.RequestsMock, sleeps: Sleeps
) -> None:
    rsps.get(TASK, body=requests.exceptions.ConnectionError("[Errno 111] Connection refused"))
    with pytest.raises(ConnectionFailed) as info:
        make_client(sleeps, timeout=(5.0, 30.0)).get_task(7)
    assert str(info.value) == (
        f"could not reach Octane for GET {TASK} ([Errno 111] Connection refused; timeouts: "
        "connect 5 s, read 30 s); check the server URL, the network and the proxy settings, "
        "or raise the timeouts (gave up after 6 attempts over 31 s)"
    )
    assert info.value.url == TASK
    assert posts(rsps, TASK) == 6


def test_read_timeout_is_named(rsps: responses.RequestsMock, sleeps: Sleeps) -> None:
    rsps.get(TASK, body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(ConnectionFailed, match=f"Octane did not answer GET {TASK} in time"):
        make_client(sleeps, policy={"transient_attempts": 1}).get_task(7)


def test_unverifiable_certificate_points_at_verify_ssl(
    rsps: responses.RequestsMock, sleeps: Sleeps
) -> None:
    cause = ssl.SSLCertVerificationError(
        1, "[SSL: CERTIFICATE_VERIFY_FAILED] self-signed certificate"
    )
    rsps.replace(responses.POST, SIGN_IN, body=requests.exceptions.SSLError(cause))
    rsps.get(TASK, json={"id": 7, "status": "queued"})
    with pytest.raises(ConfigError) as info:
        make_client(sleeps).get_task(7)
    assert str(info.value).startswith(
        "the TLS certificate of https://octane.example.com could not be verified ("
    )
    assert "set verifySSL (verify_ssl) to the path of the CA bundle (PEM)" in str(info.value)
    assert len(rsps.calls) == 1  # a configuration problem is not retried


def test_other_tls_failures_are_connection_failures(
    rsps: responses.RequestsMock, sleeps: Sleeps
) -> None:
    rsps.replace(
        responses.POST,
        SIGN_IN,
        body=requests.exceptions.SSLError("EOF occurred in violation of protocol"),
    )
    with pytest.raises(
        ConnectionFailed, match=r"TLS handshake .* set verifySSL \(verify_ssl\) to a CA bundle path"
    ):
        make_client(sleeps, policy={"transient_attempts": 1}).get_task(7)


def test_forbidden_names_the_account_source(rsps: responses.RequestsMock, sleeps: Sleeps) -> None:
    rsps.put(f"{BASE}/tests", status=403, json={"error_code": "platform.forbidden"})
    with pytest.raises(OctaneHTTPError, match="the account from test lacks a permission"):
        make_client(sleeps).update_entities("tests", [{"id": "1"}])


def test_bulk_errors_name_the_first_and_count_the_rest(
    rsps: responses.RequestsMock, sleeps: Sleeps
) -> None:
    body = {
        "errors": [
            {"error_code": "platform.duplicate", "description": "name taken", "entity_index": 0},
            {"error_code": "platform.duplicate", "description": "name taken", "entity_index": 1},
        ]
    }
    rsps.post(f"{BASE}/application_modules", status=409, json=body)
    with pytest.raises(OctaneHTTPError) as info:
        make_client(sleeps).create_entities("application_modules", [{"name": "A"}, {"name": "A"}])
    assert (
        f"Octane refused POST {BASE}/application_modules: 409 platform.duplicate: name taken "
        "(and 1 more errors)" in str(info.value)
    )


def test_partial_success_is_an_error_saying_how_much_was_done(
    rsps: responses.RequestsMock, sleeps: Sleeps
) -> None:
    body = {
        "data": [{"id": "1"}],
        "errors": [{"error_code": "platform.duplicate", "description": "dup"}],
    }
    rsps.post(f"{BASE}/application_modules", status=200, json=body)
    with pytest.raises(OctaneHTTPError) as info:
        make_client(sleeps).create_entities("application_modules", [{"name": "A"}, {"name": "B"}])
    assert str(info.value) == (
        f"Octane did only part of POST {BASE}/application_modules: 1 of 2 entities done; "
        "platform.duplicate: dup; re-query before trying again"
    )


def test_failing_request_callback_does_not_lose_the_answer(
    rsps: responses.RequestsMock, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
) -> None:
    rsps.post(RESULTS, status=202, json=ACCEPTED)

    def broken(entry: RequestLogEntry) -> None:
        raise OSError("disk full")

    with caplog.at_level(logging.WARNING, logger="pytest_octane.octane.client"):
        assert make_client(sleeps, on_request=broken).post_test_results(XML).id == 55
    assert "the on_request callback failed" in caplog.text


def test_error_entries_carry_a_truncated_body(rsps: responses.RequestsMock, sleeps: Sleeps) -> None:
    entries: list[RequestLogEntry] = []
    rsps.get(TASK, status=400, json={"error_code": "x", "description": "y" * 2000})
    with pytest.raises(OctaneHTTPError):
        make_client(sleeps, on_request=entries.append).get_task(7)
    error = entries[-1].error
    assert error is not None and error.startswith('HTTP 400: {"error_code": "x"')
    assert len(error) < 520
    assert entries[-1].status == 400


def test_connection_failure_entry_has_no_status(
    rsps: responses.RequestsMock, sleeps: Sleeps
) -> None:
    entries: list[RequestLogEntry] = []
    rsps.get(TASK, body=requests.exceptions.ConnectionError("refused"))
    with pytest.raises(ConnectionFailed):
        make_client(sleeps, on_request=entries.append, policy={"transient_attempts": 1}).get_task(7)
    assert entries[-1].status is None
    assert entries[-1].error is not None and "could not reach Octane" in entries[-1].error
