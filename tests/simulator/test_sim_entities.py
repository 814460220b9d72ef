"""Entity collections: listing, paging, fields, ordering, creation and (bulk) updates."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from typing import Any

import pytest
import requests


def _get(api: requests.Session, sim: Any, path: str, **params: Any) -> requests.Response:
    return api.get(f"{sim.api_url}/{path}", params=params, timeout=10)


def test_stories_and_work_items_show_the_same_stories(sim: Any, api: requests.Session) -> None:
    stories = _get(api, sim, "stories").json()
    items = _get(api, sim, "work_items").json()
    assert stories["total_count"] == items["total_count"] == 2
    first = stories["data"][0]
    assert first == {
        "type": "story",
        "id": "2001",
        "subtype": "story",
        "name": "Login works",
        "description": None,
        "jira_key_udf": "QZ-1",
    }
    assert items["data"][0]["type"] == "work_item"
    assert items["data"][0]["subtype"] == "story"


def test_a_custom_jira_field(
    octane_simulator_factory: Callable[..., Any], signed_in: Callable[[Any], requests.Session]
) -> None:
    sim = octane_simulator_factory(jira_field="jira_udf", stories=["AB-1"])
    api = signed_in(sim)
    found = _get(api, sim, "stories", query="\"jira_udf EQ 'AB-1'\"", fields="jira_udf").json()
    assert found["data"] == [{"type": "story", "id": "2001", "jira_udf": "AB-1"}]
    unknown = _get(api, sim, "stories", query="\"jira_key_udf EQ 'AB-1'\"")
    assert unknown.status_code == 400


def test_fields_limits_the_answer_and_rejects_unknown_fields(
    sim: Any, api: requests.Session
) -> None:
    answer = _get(api, sim, "stories", fields="name").json()
    assert answer["data"][0] == {"type": "story", "id": "2001", "name": "Login works"}
    bad = _get(api, sim, "stories", fields="name,colour")
    assert bad.status_code == 400
    assert "colour" in bad.json()["description"]


def test_paging_with_limit_and_offset(sim: Any, api: requests.Session) -> None:
    for number in range(5):
        sim.add_story(f"P-{number}")
    page = _get(api, sim, "stories", limit=3, offset=2).json()
    assert page["total_count"] == 7
    assert [s["id"] for s in page["data"]] == ["2003", "2004", "2005"]
    assert _get(api, sim, "stories", offset=7).json()["data"] == []


def test_default_page_size_is_100(sim: Any, api: requests.Session) -> None:
    for number in range(120):
        sim.add_story(f"P-{number}")
    page = _get(api, sim, "stories").json()
    assert page["total_count"] == 122 and len(page["data"]) == 100


@pytest.mark.parametrize("limit", ["0", "2001", "-1", "ten"])
def test_bad_limits_are_400(sim: Any, api: requests.Session, limit: str) -> None:
    answer = _get(api, sim, "stories", limit=limit)
    assert answer.status_code == 400


def test_max_page_size_is_configurable(
    octane_simulator_factory: Callable[..., Any], signed_in: Callable[[Any], requests.Session]
) -> None:
    sim = octane_simulator_factory(max_page_size=10, default_limit=5)
    api = signed_in(sim)
    assert _get(api, sim, "stories", limit=10).status_code == 200
    answer = _get(api, sim, "stories", limit=11)
    assert answer.status_code == 400 and "between 1 and 10" in answer.json()["description"]


def test_order_by(sim: Any, api: requests.Session) -> None:
    sim.add_story("Z-1", name="Alpha")
    ids = [s["id"] for s in _get(api, sim, "stories", order_by="-id").json()["data"]]
    assert ids == ["2003", "2002", "2001"]
    names = [s["name"] for s in _get(api, sim, "stories", order_by="name").json()["data"]]
    assert names == ["Alpha", "Login works", "Story QZ-2"]
    assert _get(api, sim, "stories", order_by="covered_content").status_code == 400


def test_unsupported_parameters_are_400(sim: Any, api: requests.Session) -> None:
    answer = _get(api, sim, "stories", group_by="status")
    assert answer.status_code == 400 and "group_by" in answer.json()["description"]


def test_single_entity_get(sim: Any, api: requests.Session) -> None:
    assert _get(api, sim, "stories/2001").json()["jira_key_udf"] == "QZ-1"
    assert _get(api, sim, "stories/2001", fields="name").json() == {
        "type": "story",
        "id": "2001",
        "name": "Login works",
    }
    missing = _get(api, sim, "stories/9")
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "platform.entity_not_found"


def test_application_modules_allow_duplicates_and_count_them(
    sim: Any, api: requests.Session
) -> None:
    system = {"type": "product_area", "id": str(sim.system_root_id)}
    top = {"data": [{"name": "Root", "parent": system}]}
    first = api.post(f"{sim.api_url}/application_modules", json=top, timeout=10)
    second = api.post(f"{sim.api_url}/application_modules", json=top, timeout=10)
    assert (first.status_code, second.status_code) == (201, 201)
    root_id = first.json()["data"][0]["id"]
    child = {"data": [{"name": "Team", "parent": {"type": "product_area", "id": root_id}}]}
    made = api.post(f"{sim.api_url}/application_modules", json=child, timeout=10).json()
    assert made["data"][0]["type"] == "product_area"
    assert made["data"][0]["parent"] == {"type": "product_area", "id": root_id, "name": "Root"}
    sim.add_application_module("Team", int(root_id))  # same name + parent: a duplicate
    sim.add_application_module("Team")  # same name, other parent: not a duplicate
    assert sim.counters["duplicate_application_modules"] == 2
    parentless = _get(api, sim, "application_modules", query='"parent EQ {null}"').json()
    assert [m["name"] for m in parentless["data"]] == ["Application Modules", "Team"]
    assert [m["parent_id"] for m in sim.application_modules()] == [
        sim.system_root_id,
        sim.system_root_id,
        int(root_id),
        int(root_id),
        None,
    ]


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"data": [{"parent": None}]}, 400, "'name' is required"),
        (
            {"data": [{"name": "x", "parent": {"type": "product_area", "id": 99}}]},
            404,
            "does not exist",
        ),
        (
            {"data": [{"name": "x", "parent": {"type": "story", "id": 2001}}]},
            400,
            "cannot be referenced",
        ),
        ({"data": [{"name": "x", "colour": "red"}]}, 400, "unknown field 'colour'"),
        ({"name": "x"}, 400, '{"data": [ ... ]}'),
        ([1, 2], 400, '{"data": [ ... ]}'),
    ],
)
def test_bad_creations_are_rejected_whole(
    sim: Any, api: requests.Session, body: Any, status: int, fragment: str
) -> None:
    answer = api.post(f"{sim.api_url}/application_modules", json=body, timeout=10)
    assert answer.status_code == status
    assert fragment in answer.json()["description"]
    assert sim.application_modules() == []


def test_invalid_json_body_is_400(sim: Any, api: requests.Session) -> None:
    answer = api.post(
        f"{sim.api_url}/application_modules",
        data=b"{nope",
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert answer.status_code == 400 and answer.json()["error_code"] == "platform.invalid_json"


def test_tests_need_a_creatable_subtype(sim: Any, api: requests.Session) -> None:
    answer = api.post(f"{sim.api_url}/tests", json={"data": [{"name": "x"}]}, timeout=10)
    assert answer.status_code == 400 and "subtype" in answer.json()["description"]
    manual = {"data": [{"name": "x", "subtype": "test_manual"}]}
    assert api.post(f"{sim.api_url}/tests", json=manual, timeout=10).status_code == 400


def test_runs_cannot_be_created_through_rest(sim: Any, api: requests.Session) -> None:
    answer = api.post(f"{sim.api_url}/runs", json={"data": [{"name": "r"}]}, timeout=10)
    assert answer.status_code == 400


def test_stories_can_be_created(sim: Any, api: requests.Session) -> None:
    body = {"data": [{"name": "New", "jira_key_udf": "QZ-9"}]}
    made = api.post(f"{sim.api_url}/stories", json=body, timeout=10).json()
    assert made["data"][0]["jira_key_udf"] == "QZ-9" and made["data"][0]["subtype"] == "story"


@pytest.fixture
def two_runs(
    sim: Any, api: requests.Session, make_xml: Callable[..., bytes], post_results: Any
) -> list[int]:
    post_results(api, sim, make_xml([{"name": "a"}, {"name": "b"}], backlog=[2001]))
    sim.wait_for_tasks()
    return [r["id"] for r in sim.runs()]


def _links(sim: Any) -> list[list[int]]:
    return [r["covered_content"] for r in sim.runs()]


def test_bulk_put_appends_removes_and_replaces_coverage(
    sim: Any, api: requests.Session, two_runs: list[int]
) -> None:
    def put(mode: str | None, story: int) -> requests.Response:
        body = {
            "data": [
                {"id": str(run), "covered_content": {"data": [{"type": "work_item", "id": story}]}}
                for run in two_runs
            ]
        }
        params = {"reference_update_mode": mode} if mode else {}
        return api.put(f"{sim.api_url}/automated_runs", json=body, params=params, timeout=10)

    answer = put("append", 2002)
    assert answer.status_code == 200 and answer.json()["total_count"] == 2
    assert _links(sim) == [[2001, 2002], [2001, 2002]]
    put("append", 2002)  # appending twice does not duplicate
    assert _links(sim) == [[2001, 2002], [2001, 2002]]
    put("remove", 2001)
    assert _links(sim) == [[2002], [2002]]
    put(None, 2001)
    assert _links(sim) == [[2001], [2001]]
    assert put("merge", 2001).status_code == 400


def test_put_single_entity(sim: Any, api: requests.Session, two_runs: list[int]) -> None:
    body = {"covered_content": {"data": [{"type": "story", "id": "2002"}]}}
    answer = api.put(
        f"{sim.api_url}/automated_runs/{two_runs[0]}",
        json=body,
        params={"reference_update_mode": "append"},
        timeout=10,
    )
    assert answer.status_code == 200
    assert answer.json()["covered_content"]["total_count"] == 2


def test_bad_updates_change_nothing(sim: Any, api: requests.Session, two_runs: list[int]) -> None:
    good = {"id": two_runs[0], "covered_content": {"data": [{"type": "work_item", "id": 2002}]}}
    cases = [
        ([good, {"id": 99999, "name": "x"}], 404),
        ([good, {"covered_content": {"data": []}}], 400),
        ([good, {"id": two_runs[1], "covered_content": {"data": [{"id": 12345}]}}], 404),
        ([good, {"id": two_runs[1], "covered_content": [{"id": 2001}]}], 400),
        ([good, {"id": two_runs[1], "status": "Passed"}], 400),
        ([good, {"id": two_runs[1], "subtype": "run_suite"}], 400),
    ]
    for items, status in cases:
        answer = api.put(f"{sim.api_url}/automated_runs", json={"data": items}, timeout=10)
        assert answer.status_code == status, (items, answer.text)
    assert _links(sim) == [[2001], [2001]]


def test_module_cannot_become_its_own_ancestor(sim: Any, api: requests.Session) -> None:
    top = sim.add_application_module("Top")
    below = sim.add_application_module("Below", top)
    body = {"data": [{"id": top, "parent": {"type": "product_area", "id": below}}]}
    answer = api.put(f"{sim.api_url}/application_modules", json=body, timeout=10)
    assert answer.status_code == 400


def test_unknown_routes_and_methods(sim: Any, api: requests.Session) -> None:
    for path in ("defects", "stories/1/2", "test-results/1/log"):
        answer = api.get(f"{sim.api_url}/{path}", timeout=10)
        assert answer.status_code == 404, path
        assert answer.json()["error_code"] == "platform.not_found"
    other_space = sim.api_url.replace(f"/{sim.space_id}/", "/1/")
    assert api.get(f"{other_space}/stories", timeout=10).status_code == 404
    assert api.delete(f"{sim.api_url}/stories", timeout=10).status_code == 405
    assert api.get(f"{sim.api_url}/test-results", timeout=10).status_code == 405
    assert requests.get(f"{sim.url}/nothing-here", timeout=10).status_code == 404


def test_workspaces_list(sim: Any, api: requests.Session) -> None:
    answer = api.get(f"{sim.url}/api/shared_spaces/{sim.space_id}/workspaces", timeout=10).json()
    assert answer["data"][0]["id"] == str(sim.workspace_id)


def test_protocol_level_errors_are_error_json_too(sim: Any) -> None:
    with socket.create_connection(("127.0.0.1", sim.port), timeout=10) as raw:
        raw.sendall(b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = raw.makefile("rb").read()
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 501")
    assert json.loads(body)["error_code"] == "platform.http_501"


def test_head_gets_headers_without_a_body(sim: Any) -> None:
    answer = requests.head(f"{sim.url}/nothing", timeout=10)
    assert answer.status_code == 404 and answer.content == b""
