"""OctaneClient typed endpoints: test-results upload, task state, entity paging and writes."""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from pytest_octane.errors import ConfigError, ConnectionFailed, NotOctaneError, OctaneHTTPError
from pytest_octane.model import RequestLogEntry
from pytest_octane.octane.client import OctaneClient, TaskState, quote_query_value
from pytest_octane.octane.credentials import Credentials
from pytest_octane.octane.retry import RetryPolicy

SERVER = "https://octane.example.com"
BASE = f"{SERVER}/api/shared_spaces/1001/workspaces/1002"
SIGN_IN = f"{SERVER}/authentication/sign_in"
RESULTS = f"{BASE}/test-results"
XML = (
    b'<?xml version="1.0" encoding="UTF-8"?><test_result><test_runs>'
    b'<test_run name="t" duration="1" status="Passed"/></test_runs></test_result>'
)
SECRET = "Top-Secret-Value-9"


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(SIGN_IN, headers={"Set-Cookie": "LWSSO_COOKIE_KEY=c00kie-value"})
        yield mock


def make_client(sleeps: list[float], **kw: Any) -> OctaneClient:
    kw.setdefault("server", SERVER)
    kw.setdefault("space_id", 1001)
    kw.setdefault("workspace_id", 1002)
    kw.setdefault("credentials", Credentials.api_key("key_id", SECRET, source="test"))
    kw.setdefault("timeout", (20.0, 60.0))
    kw.setdefault("retry", RetryPolicy(sleep=sleeps.append, jitter=False))
    return OctaneClient(**kw)


def api_calls(rsps: responses.RequestsMock) -> list[Any]:
    return [c for c in rsps.calls if "/api/" in c.request.url]


def query_of(call: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


# ------------------------------------------------------------------ test-results


def test_upload_is_plain_xml_by_default_and_returns_the_task(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    rsps.post(RESULTS, status=202, json={"status": "queued", "id": 1103})
    accepted = make_client(sleeps).post_test_results(XML)
    assert (accepted.id, accepted.status, accepted.from_older_push) == (1103, "queued", False)
    request = api_calls(rsps)[0].request
    assert request.url == f"{RESULTS}?skip-errors=false"
    assert request.headers["Content-Type"] == "application/xml"
    assert "Content-Encoding" not in request.headers
    assert request.body == XML


def test_compressed_upload_is_gzip_named_as_the_docs_do(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    rsps.post(RESULTS, status=202, json={"status": "queued", "id": 1})
    client = make_client(sleeps, compress=True)
    client.post_test_results(XML)
    client.post_test_results(XML)
    first, second = (c.request for c in api_calls(rsps))
    assert first.headers["Content-Encoding"] == "application/gzip"
    assert gzip.decompress(first.body) == XML
    assert first.body == second.body  # same XML, same bytes: Octane's de-duplication works


@pytest.mark.parametrize("status", [400, 415])
def test_a_refused_compressed_upload_is_sent_plain_once_and_remembered(
    rsps: responses.RequestsMock, sleeps: list[float], status: int
) -> None:
    rsps.post(RESULTS, status=status, json={"error_code": "platform.unsupported_media_type"})
    rsps.post(RESULTS, status=202, json={"status": "queued", "id": 7})
    client = make_client(sleeps, compress=True)
    assert client.post_test_results(XML).id == 7
    client.post_test_results(XML)
    encodings = [c.request.headers.get("Content-Encoding") for c in api_calls(rsps)]
    assert encodings == ["application/gzip", None, None]


def test_a_plain_upload_refused_with_400_is_not_retried(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    rsps.post(RESULTS, status=400, json={"error_code": "testbox.xml_validation_failed"})
    with pytest.raises(OctaneHTTPError):
        make_client(sleeps).post_test_results(XML, skip_errors=True)
    assert len(api_calls(rsps)) == 1
    assert api_calls(rsps)[0].request.url == f"{RESULTS}?skip-errors=true"


@pytest.mark.parametrize("status", [200, 201])
def test_duplicate_push_answer_is_understood(
    rsps: responses.RequestsMock, sleeps: list[float], status: int
) -> None:
    rsps.post(
        RESULTS,
        status=status,
        json={
            "fromOlderPush": "true",
            "id": "1103",
            "until": "2020-0-28T11:29:51+0000",
            "status": " SUCCESS ",
        },
    )
    accepted = make_client(sleeps).post_test_results(XML)
    assert (accepted.id, accepted.status, accepted.from_older_push) == (1103, " SUCCESS ", True)


def test_accepted_without_task_id_is_not_octane(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    rsps.post(RESULTS, status=202, json={"status": "queued"})
    with pytest.raises(NotOctaneError) as info:
        make_client(sleeps).post_test_results(XML)
    assert str(info.value) == (
        f"Octane accepted POST {RESULTS} but its answer has no task id (id=None): the server URL "
        "is probably wrong; expected the Octane root such as https://octane.example.com"
    )
    assert (info.value.status, info.value.url) == (202, RESULTS)


def test_upload_is_retried_on_connection_errors(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    rsps.post(RESULTS, body=requests.exceptions.ConnectionError("reset"))
    rsps.post(RESULTS, status=202, json={"status": "queued", "id": 9})
    assert make_client(sleeps).post_test_results(XML).id == 9
    assert sleeps == [1.0]


def test_task_state(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    rsps.get(
        f"{RESULTS}/77",
        json={
            "id": 77,
            "status": "failed",
            "until": "2024-01-01T00:00:00+0000",
            "errorDetails": "bad release",
        },
    )
    state = make_client(sleeps).get_task(77)
    assert state == TaskState(
        id=77, status="failed", until="2024-01-01T00:00:00+0000", error_details="bad release"
    )
    assert state.is_final


@pytest.mark.parametrize(
    ("status", "final"),
    [
        ("queued", False),
        ("Running", False),
        (" QUEUED ", False),
        (" SUCCESS ", True),
        ("failed", True),
        ("warning", True),
        (" Warning ", True),
        ("processing", False),
        ("pending", False),
        ("finished", False),
        ("", False),
        ("  ", False),
    ],
)
def test_only_success_warning_and_failed_are_final(status: str, final: bool) -> None:
    assert TaskState(id=1, status=status).is_final is final


def test_task_answer_without_status_is_not_octane(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    rsps.get(f"{RESULTS}/5", json={"id": 5})
    with pytest.raises(NotOctaneError) as info:
        make_client(sleeps).get_task(5)
    assert str(info.value) == (
        f"the answer from {RESULTS}/5 has no task status: the server URL is probably wrong; "
        "expected the Octane root such as https://octane.example.com"
    )


# ------------------------------------------------------------------ entities


def test_paging_follows_offsets_until_total_count(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    pages = [[{"id": "1"}, {"id": "2"}], [{"id": "3"}, {"id": "4"}], [{"id": "5"}]]
    for page in pages:
        rsps.get(f"{BASE}/stories", json={"total_count": 5, "data": page})
    query = "jira_key_udf EQ " + quote_query_value("PROJ-1")
    found = make_client(sleeps).get_entities(
        "stories", query=query, fields=["id", "name"], order_by=["-id"], page_size=2
    )
    assert [e["id"] for e in found] == ["1", "2", "3", "4", "5"]
    calls = api_calls(rsps)
    assert [query_of(c)["offset"] for c in calls] == [["0"], ["2"], ["4"]]
    assert all(query_of(c)["limit"] == ["2"] for c in calls)
    params = query_of(calls[0])
    assert params["query"] == ["\"jira_key_udf EQ 'PROJ-1'\""]
    assert params["fields"] == ["id,name"]
    assert params["order_by"] == ["-id"]
    # spaces as %20, not '+': the query is sent exactly as Octane's SDKs send it
    assert "query=%22jira_key_udf%20EQ%20%27PROJ-1%27%22" in calls[0].request.url


def test_paging_stops_on_an_empty_page(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    rsps.get(f"{BASE}/tests", json={"total_count": 10, "data": [{"id": "1"}]})
    rsps.get(f"{BASE}/tests", json={"total_count": 10, "data": []})
    assert len(make_client(sleeps).get_entities("tests", page_size=1)) == 1
    assert len(api_calls(rsps)) == 2


def test_paging_without_total_count_stops_on_a_short_page(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    rsps.get(f"{BASE}/tests", json={"data": [{"id": "1"}, {"id": "2"}]})
    rsps.get(f"{BASE}/tests", json={"data": [{"id": "3"}]})
    assert len(make_client(sleeps).get_entities("tests", page_size=2)) == 3
    assert len(api_calls(rsps)) == 2


def test_query_with_an_apostrophe_is_backslash_escaped(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    rsps.get(f"{BASE}/application_modules", json={"total_count": 0, "data": []})
    name = quote_query_value("Bob's area")
    make_client(sleeps).get_entities("application_modules", query=f"name EQ {name};parent EQ null")
    assert query_of(api_calls(rsps)[0])["query"] == ["\"name EQ 'Bob\\'s area';parent EQ null\""]


def test_pages_are_at_most_1000_and_writes_at_most_200(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    rsps.get(f"{BASE}/tests", json={"total_count": 0, "data": []})
    rsps.post(f"{BASE}/tests", json={"data": []})
    rsps.put(f"{BASE}/tests", json={"data": []})
    client = make_client(sleeps)
    client.get_entities("tests")
    client.create_entities("tests", [{"name": f"t{i}"} for i in range(401)])
    client.update_entities("tests", [{"id": str(i)} for i in range(200)])
    calls = api_calls(rsps)
    assert query_of(calls[0])["limit"] == ["1000"]
    sizes = [(c.request.method, len(json.loads(c.request.body)["data"])) for c in calls[1:]]
    assert sizes == [("POST", 200), ("POST", 200), ("POST", 1), ("PUT", 200)]
    with pytest.raises(ConfigError, match="write_batch"):
        make_client(sleeps, write_batch=201)


def test_an_unknown_optional_field_is_dropped_once_and_said_in_the_debug_log(
    rsps: responses.RequestsMock, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    refused = {"error_code": "platform.unknown_field", "description": "unknown field"}
    for _ in range(2):
        rsps.get(f"{BASE}/tests", status=400, json=refused)
        rsps.get(f"{BASE}/tests", json={"total_count": 1, "data": [{"id": "5", "name": "a"}]})
    client = make_client(sleeps)
    with caplog.at_level(logging.DEBUG, logger="pytest_octane.octane.client"):
        for _ in range(2):
            found = client.get_entities("tests", fields=["id"], optional_fields=["colour"])
            assert found == [{"id": "5", "name": "a"}]
    asked = [query_of(c)["fields"] for c in api_calls(rsps)]
    assert asked == [["id,colour"], ["id"], ["id,colour"], ["id"]]
    said = [r.message for r in caplog.records if "refused fields colour" in r.message]
    assert len(said) == 1
    rsps.get(f"{BASE}/stories", status=400, json=refused)
    with pytest.raises(OctaneHTTPError):  # a field that is not optional is not dropped
        client.get_entities("stories", fields=["id", "colour"])


@pytest.mark.parametrize("collection", ["", "Stories", "../admin", "tests?x=1", "runs/"])
def test_collection_names_are_checked(sleeps: list[float], collection: str) -> None:
    with pytest.raises(ConfigError, match="is not an Octane collection name"):
        make_client(sleeps).get_entities(collection)


@pytest.mark.parametrize("size", [0, 1001, True])
def test_page_size_is_checked(sleeps: list[float], size: int) -> None:
    with pytest.raises(ConfigError, match="page_size"):
        make_client(sleeps).get_entities("tests", page_size=size)


def test_create_posts_data_and_returns_created(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    rsps.post(
        f"{BASE}/application_modules",
        status=201,
        json={"total_count": 1, "data": [{"id": "11", "name": "A"}]},
    )
    data = [{"name": "A", "parent": {"type": "product_area", "id": "1"}}]
    assert make_client(sleeps).create_entities("application_modules", data) == [
        {"id": "11", "name": "A"}
    ]
    request = api_calls(rsps)[0].request
    assert json.loads(request.body) == {"data": data}
    assert request.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    "failure",
    [requests.exceptions.ConnectionError("reset"), requests.exceptions.ReadTimeout("slow")],
)
def test_create_is_not_resent_after_a_lost_connection(
    rsps: responses.RequestsMock, sleeps: list[float], failure: Exception
) -> None:
    rsps.post(f"{BASE}/application_modules", body=failure)
    with pytest.raises(ConnectionFailed):
        make_client(sleeps).create_entities("application_modules", [{"name": "A"}])
    assert len(api_calls(rsps)) == 1
    assert sleeps == []


def test_create_is_resent_when_octane_says_it_did_nothing(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    rsps.post(f"{BASE}/application_modules", status=429, json={})
    rsps.post(f"{BASE}/application_modules", status=201, json={"data": [{"id": "3"}]})
    assert make_client(sleeps).create_entities("application_modules", [{"name": "A"}]) == [
        {"id": "3"}
    ]
    assert sleeps == [1.0]


def test_update_puts_with_reference_update_mode_and_is_retried(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    url = f"{BASE}/automated_runs"
    rsps.put(url, body=requests.exceptions.ConnectionError("reset"))
    rsps.put(url, json={"total_count": 1, "data": [{"id": "5"}]})
    data = [{"id": "5", "covered_content": {"data": [{"type": "story", "id": "9"}]}}]
    result = make_client(sleeps).update_entities(
        "automated_runs", data, reference_update_mode="append"
    )
    assert result == [{"id": "5"}]
    calls = api_calls(rsps)
    assert len(calls) == 2
    assert calls[1].request.url == f"{url}?reference_update_mode=append"
    assert calls[1].request.method == "PUT"
    assert json.loads(calls[1].request.body) == {"data": data}


def test_update_mode_is_checked(sleeps: list[float]) -> None:
    with pytest.raises(ConfigError, match="reference_update_mode"):
        make_client(sleeps).update_entities("tests", [], reference_update_mode="append&x=1")


def test_update_of_a_missing_entity_is_an_http_error(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    rsps.put(f"{BASE}/tests", status=404, json={"error_code": "platform.entity_not_found"})
    with pytest.raises(OctaneHTTPError, match=r"404 platform\.entity_not_found"):
        make_client(sleeps).update_entities("tests", [{"id": "404"}])
    assert sleeps == []


# ------------------------------------------------------------------ request log


def test_every_exchange_is_recorded_once(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    entries: list[RequestLogEntry] = []
    rsps.post(RESULTS, status=503, json={"error_code": "testbox.queue_full"})
    rsps.post(RESULTS, status=202, json={"status": "queued", "id": 1})
    make_client(sleeps, on_request=entries.append).post_test_results(XML)
    assert [(e.method, e.url, e.status) for e in entries] == [
        ("POST", SIGN_IN, 200),
        ("POST", f"{RESULTS}?skip-errors=false", 503),
        ("POST", f"{RESULTS}?skip-errors=false", 202),
    ]
    sent_ids = [c.request.headers["X-Correlation-ID"] for c in rsps.calls]
    assert [e.correlation_id for e in entries] == sent_ids
    assert all(e.body is None for e in entries)
    assert entries[1].error is not None and "testbox.queue_full" in entries[1].error
    assert entries[2].error is None


def test_log_bodies_records_the_xml_but_never_the_sign_in(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    entries: list[RequestLogEntry] = []
    rsps.post(RESULTS, status=202, json={"status": "queued", "id": 1})
    make_client(sleeps, on_request=entries.append, log_bodies=True).post_test_results(XML)
    assert entries[0].url == SIGN_IN and entries[0].body is None
    assert entries[1].body == XML.decode()


def test_delete_entity(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    rsps.delete(f"{BASE}/application_modules/12", status=200, body="")
    rsps.delete(f"{BASE}/application_modules/13", status=404, json={"error_code": "not_found"})
    client = make_client(sleeps)
    assert client.delete_entity("application_modules", 12) is True
    assert client.delete_entity("application_modules", "13") is False
    with pytest.raises(ConfigError, match="entity id '1 OR 1' must be a number"):
        client.delete_entity("application_modules", "1 OR 1")


def test_delete_entity_retried_after_a_lost_answer_finds_it_gone(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    url = f"{BASE}/application_modules/12"
    rsps.delete(url, body=requests.exceptions.ConnectionError("reset"))
    rsps.delete(url, status=404, json={"error_code": "platform.entity_not_found"})
    assert make_client(sleeps).delete_entity("application_modules", 12) is False
    assert sleeps == [1.0]


def test_delete_entity_answered_by_a_login_page_is_not_octane(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    rsps.delete(f"{BASE}/tests/1", status=404, body="<html/>", content_type="text/html")
    with pytest.raises(NotOctaneError):
        make_client(sleeps).delete_entity("tests", 1)


def test_an_attachment_is_one_multipart_post_owned_by_its_run(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    rsps.post(f"{BASE}/attachments", status=201, json={"data": [{"id": "3001"}]})
    new_id = make_client(sleeps).create_run_attachment(
        7, 'log "1".txt', b"line\n", description="the log"
    )
    assert new_id == 3001
    request = api_calls(rsps)[0].request
    boundary = request.headers["Content-Type"].removeprefix("multipart/form-data; boundary=")
    entity, content = request.body.split(f"--{boundary}".encode())[1:3]
    assert b'name="entity"' in entity
    assert json.loads(entity.split(b"\r\n\r\n", 1)[1]) == {
        "name": 'log "1".txt',
        "owner_run": {"type": "run", "id": "7"},
        "description": "the log",
    }
    assert b'filename="log _1_.txt"\r\nContent-Type: text/plain\r\n\r\nline\n\r\n' in content


def test_an_attachment_answer_without_an_id_is_not_octane(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    rsps.post(f"{BASE}/attachments", status=201, json={"data": []})
    with pytest.raises(NotOctaneError) as info:
        make_client(sleeps).create_run_attachment(7, "a.txt", b"x")
    assert str(info.value) == (
        "Octane accepted attachment 'a.txt' but its answer has no id: the server URL is "
        "probably wrong; expected the Octane root such as https://octane.example.com"
    )
    assert len(api_calls(rsps)) == 1  # not resent: a second POST would attach it twice
