"""Faults on demand (Python API and control endpoint), the request log and the counters."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

Upload = Callable[..., requests.Response]


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (502, "simulated.bad_gateway"),
        (503, "simulated.service_unavailable"),
        (504, "simulated.gateway_timeout"),
    ],
)
def test_fail_next_answers_the_matching_requests_then_recovers(
    sim: Any,
    api: requests.Session,
    make_xml: Callable[..., bytes],
    post_results: Upload,
    status: int,
    code: str,
) -> None:
    sim.faults.fail_next("POST */test-results", status, count=2)
    assert api.get(f"{sim.api_url}/stories", timeout=10).status_code == 200  # not matched
    first = post_results(api, sim, make_xml([{"name": "a"}]))
    second = post_results(api, sim, make_xml([{"name": "a"}]))
    third = post_results(api, sim, make_xml([{"name": "a"}]))
    assert (first.status_code, second.status_code, third.status_code) == (status, status, 202)
    assert first.json()["error_code"] == code
    assert sim.faults.pending()["rules"] == []


def test_fail_next_with_queue_full_code(
    sim: Any, api: requests.Session, make_xml: Callable[..., bytes], post_results: Upload
) -> None:
    sim.faults.fail_next("POST */test-results", 503, error_code="testbox.queue_full")
    answer = post_results(api, sim, make_xml())
    assert answer.status_code == 503
    assert answer.json()["error_code"] == "testbox.queue_full"
    assert sim.tasks() == []


def test_429_carries_retry_after(sim: Any, api: requests.Session) -> None:
    sim.faults.fail_next("GET */stories", 429)
    sim.faults.fail_next("GET */stories", 429, retry_after=7)
    first = api.get(f"{sim.api_url}/stories", timeout=10)
    second = api.get(f"{sim.api_url}/stories", timeout=10)
    assert (first.status_code, first.headers["Retry-After"]) == (429, "1")
    assert (second.status_code, second.headers["Retry-After"]) == (429, "7")


def test_html_fault_pages_like_a_proxy(sim: Any, api: requests.Session) -> None:
    sim.faults.fail_next("*/stories", 502, json_body=False)
    answer = api.get(f"{sim.api_url}/stories", timeout=10)
    assert answer.status_code == 502
    assert answer.headers["Content-Type"] == "text/html"
    assert answer.text.startswith("<html>")


def test_faults_apply_to_sign_in_too(sim: Any) -> None:
    sim.faults.fail_next("POST /authentication/sign_in", 503)
    answer = requests.post(
        f"{sim.url}/authentication/sign_in",
        json={"client_id": sim.client_id, "client_secret": sim.client_secret},
        timeout=10,
    )
    assert answer.status_code == 503


def test_reset_next_closes_the_connection_without_an_answer(
    sim: Any, api: requests.Session, make_xml: Callable[..., bytes], post_results: Upload
) -> None:
    sim.faults.reset_next("POST */test-results")
    with pytest.raises(requests.ConnectionError):
        post_results(api, sim, make_xml())
    assert post_results(api, sim, make_xml()).status_code == 202
    assert [r.status for r in sim.request_log if r.method == "POST"][-2:] == [None, 202]


def test_add_latency_for_n_requests(sim: Any, api: requests.Session) -> None:
    sim.faults.add_latency("GET */stories", 150, count=1)
    api.get(f"{sim.api_url}/stories", timeout=10)
    api.get(f"{sim.api_url}/stories", timeout=10)
    slow, fast = sim.request_log[-2:]
    assert slow.duration_ms >= 150
    assert fast.duration_ms < 150
    assert sim.faults.pending()["rules"] == []


def test_latency_beyond_the_client_timeout(sim: Any, api: requests.Session) -> None:
    sim.faults.add_latency("GET */stories", 2000, count=1)
    with pytest.raises(requests.ReadTimeout):
        api.get(f"{sim.api_url}/stories", timeout=0.2)


def _refused(url: str) -> bool:
    try:
        requests.get(url, timeout=2)
    except requests.ConnectionError:
        return True
    return False


def test_go_down_refuses_connections_then_comes_back_on_the_same_port(
    sim: Any, api: requests.Session
) -> None:
    port = sim.port
    sim.faults.go_down(0.5)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert _refused(f"{sim.api_url}/stories")
    deadline = time.monotonic() + 5
    while _refused(f"{sim.url}/authentication/sign_in") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sim.port == port
    assert api.get(f"{sim.api_url}/stories", timeout=10).status_code == 200  # session kept


def test_stop_while_down_is_clean(sim: Any) -> None:
    sim.faults.go_down(30)
    started = time.monotonic()
    sim.stop()
    assert time.monotonic() - started < 5


def test_fail_next_tasks(
    sim: Any, api: requests.Session, make_xml: Callable[..., bytes], post_results: Upload
) -> None:
    sim.faults.fail_next_tasks(1, error_details="disk full")
    post_results(api, sim, make_xml([{"name": "a"}]))
    post_results(api, sim, make_xml([{"name": "b"}]))
    first, second = sim.wait_for_tasks()
    assert (first["status"], first["error_details"]) == ("failed", "disk full")
    assert second["status"] == "success"
    assert [r["name"] for r in sim.runs()] == ["b"]
    status = api.get(f"{sim.api_url}/test-results/{first['id']}", timeout=10).json()
    assert status["errorDetails"] == "disk full"


@pytest.mark.parametrize(
    "call",
    [
        lambda f: f.fail_next("GET", 200),
        lambda f: f.fail_next("a b c", 503),
        lambda f: f.reset_next("*", count=0),
        lambda f: f.add_latency("*", -1),
        lambda f: f.go_down(0),
        lambda f: f.fail_next_tasks(0),
    ],
)
def test_bad_fault_arguments_are_rejected(sim: Any, call: Callable[[Any], None]) -> None:
    with pytest.raises(ValueError):
        call(sim.faults)


def test_clear_disarms_everything(sim: Any, api: requests.Session) -> None:
    sim.faults.fail_next("*", 503, count=5)
    sim.faults.fail_next_tasks(3)
    sim.faults.clear()
    assert sim.faults.pending() == {"rules": [], "task_failures": 0}
    assert api.get(f"{sim.api_url}/stories", timeout=10).status_code == 200


def test_request_log_and_counters(
    sim: Any, api: requests.Session, make_xml: Callable[..., bytes], post_results: Upload
) -> None:
    post_results(api, sim, make_xml(), skip_errors=True)
    sim.wait_for_tasks()
    api.get(f"{sim.api_url}/test-results/1", timeout=10)
    requests.get(f"{sim.api_url}/stories", timeout=10)
    log = sim.request_log
    assert [(r.method, r.status) for r in log] == [
        ("POST", 200),
        ("POST", 202),
        ("GET", 200),
        ("GET", 401),
    ]
    assert log[1].query == "skip-errors=true"
    assert log[3].error_code == "NOT_AUTHENTICATED"
    counters = sim.counters
    assert counters["requests_per_endpoint"] == {
        "POST /authentication/sign_in": 1,
        "POST /test-results": 1,
        "GET /test-results/{id}": 1,
        "GET /stories": 1,
    }
    assert counters["runs_stored"] == 1 and counters["max_in_flight"] == 1
    assert counters["unauthorized"] == 1 and counters["internal_errors"] == 0


# ---------------------------------------------------------------- control endpoint


def _control(sim: Any, method: str, name: str, body: Any = None) -> requests.Response:
    return requests.request(method, f"{sim.url}/__simulator__/{name}", json=body, timeout=10)


def test_control_endpoint_arms_faults_without_auth(
    sim: Any, api: requests.Session, make_xml: Callable[..., bytes], post_results: Upload
) -> None:
    armed = _control(
        sim,
        "POST",
        "faults",
        {"action": "fail_next", "match": "POST */test-results", "status": 429, "retry_after": 2},
    )
    assert armed.status_code == 200
    assert _control(sim, "GET", "faults").json()["rules"][0]["status"] == 429
    answer = post_results(api, sim, make_xml())
    assert (answer.status_code, answer.headers["Retry-After"]) == (429, "2")
    for spec in (
        {"action": "reset_next", "match": "GET */stories", "count": 1},
        {"action": "add_latency", "match": "GET */tests", "ms": 10, "count": 1},
        {"action": "fail_next_tasks", "count": 1, "error_details": "nope"},
    ):
        assert _control(sim, "POST", "faults", spec).status_code == 200, spec
    with pytest.raises(requests.ConnectionError):
        api.get(f"{sim.api_url}/stories", timeout=10)
    assert api.get(f"{sim.api_url}/tests", timeout=10).status_code == 200
    post_results(api, sim, make_xml([{"name": "other"}]))
    assert sim.wait_for_tasks()[-1]["error_details"] == "nope"
    assert _control(sim, "DELETE", "faults").status_code == 200


def test_control_expire_sessions_and_go_down(sim: Any, api: requests.Session) -> None:
    expired = _control(sim, "POST", "faults", {"action": "expire_sessions"})
    assert expired.json() == {"action": "expire_sessions", "result": 1}
    assert api.get(f"{sim.api_url}/stories", timeout=10).status_code == 401
    down = _control(sim, "POST", "faults", {"action": "go_down", "seconds": 30})
    assert down.status_code == 200
    assert _refused(f"{sim.url}/__simulator__/state")


@pytest.mark.parametrize(
    "spec",
    [
        {"action": "explode"},
        {"action": "fail_next", "match": "*", "status": "503"},
        {"action": "fail_next", "match": "*", "colour": 1},
        {"action": "add_latency", "match": "*"},
        [1, 2],
    ],
)
def test_control_endpoint_rejects_bad_specs(sim: Any, spec: Any) -> None:
    answer = _control(sim, "POST", "faults", spec)
    assert answer.status_code == 400
    assert answer.json()["error_code"] in ("simulator.invalid_request", "simulator.invalid_json")


def test_control_state_and_seeding(
    sim: Any, api: requests.Session, make_xml: Callable[..., bytes], post_results: Upload
) -> None:
    story = _control(sim, "POST", "stories", {"key": "QZ-7", "id": 2700}).json()["id"]
    module = _control(sim, "POST", "application_modules", {"name": "Team"}).json()["id"]
    _control(sim, "POST", "application_modules", {"name": "Team"})
    suite = _control(
        sim, "POST", "test_suites", {"name": "Nightly", "product_area_id": module}
    ).json()["id"]
    release = _control(sim, "POST", "releases", {"name": "R2"}).json()["id"]
    xml = make_xml([{"name": "a"}], suite=(suite, "r1"), backlog=[story], release_ref=release)
    post_results(api, sim, xml)
    sim.wait_for_tasks()
    state = _control(sim, "GET", "state").json()
    assert state["api_url"] == sim.api_url
    assert state["counters"]["duplicate_application_modules"] == 1
    assert state["runs"][0]["covered_content"] == [2700]
    assert state["suite_runs"][0]["name"] == "r1"
    assert [t["status"] for t in state["tasks"]] == ["success"]
    assert {s["key"] for s in state["stories"]} == {"QZ-1", "QZ-2", "QZ-7"}
    assert all(not r["path"].startswith("/__simulator__") for r in state["request_log"])
    assert _control(sim, "POST", "stories", {"id": 5}).status_code == 400
    assert (
        _control(sim, "POST", "application_modules", {"name": "x", "parent_id": 1}).status_code
        == 400
    )
    assert _control(sim, "GET", "nothing").status_code == 404


# ---------------------------------------------------------------- restart (issue 24 point 4)


def test_restart_after_an_upload_forgets_its_task_and_a_resend_makes_a_new_one(
    sim: Any, api: requests.Session, make_xml: Callable[..., bytes], post_results: Upload
) -> None:
    """The client holds the id of a task Octane no longer has: 404 on its status; the same
    bytes sent again are a new task (the de-duplication was forgotten with it), stored once."""
    sim.faults.restart_after_next("POST */test-results")
    xml = make_xml([{"name": "a"}, {"name": "b"}])
    first = post_results(api, sim, xml)
    assert first.status_code == 202
    lost = first.json()["id"]
    gone = api.get(f"{sim.api_url}/test-results/{lost}", timeout=10)
    assert gone.status_code == 404
    assert gone.json()["error_code"] == "platform.entity_not_found"
    again = post_results(api, sim, xml)
    assert again.status_code == 202 and again.json().get("fromOlderPush") is None
    assert again.json()["id"] != lost
    assert [t["status"] for t in sim.wait_for_tasks()] == ["success"]
    counters = sim.snapshot()["counters"]
    assert counters["forgotten_tasks"] == 1
    assert counters["runs_stored"] == 2 and counters["duplicate_runs"] == 0
    assert sim.faults.pending()["rules"] == []


def test_restart_keeps_finished_tasks(
    sim: Any, api: requests.Session, make_xml: Callable[..., bytes], post_results: Upload
) -> None:
    done = post_results(api, sim, make_xml([{"name": "a"}])).json()["id"]
    sim.wait_for_tasks()
    assert sim.faults.restart() == 0
    assert api.get(f"{sim.api_url}/test-results/{done}", timeout=10).json()["status"] == "success"


def test_control_restart_and_restart_after_next(
    sim: Any, api: requests.Session, make_xml: Callable[..., bytes], post_results: Upload
) -> None:
    now = _control(sim, "POST", "faults", {"action": "restart"})
    assert now.json() == {"action": "restart", "result": 0}
    spec = {"action": "restart_after_next", "match": "POST */test-results", "count": 1}
    assert _control(sim, "POST", "faults", spec).status_code == 200
    lost = post_results(api, sim, make_xml([{"name": "a"}])).json()["id"]
    assert api.get(f"{sim.api_url}/test-results/{lost}", timeout=10).status_code == 404
    bad = _control(sim, "POST", "faults", {"action": "restart", "match": "*"})
    assert bad.status_code == 400
