"""POST/GET test-results: media types, gzip, validation, de-dup, references, suites, queue."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

Upload = Callable[..., requests.Response]


def test_accepted_upload_is_queued_then_succeeds(
    sim: Any, api: requests.Session, make_xml: Callable[..., bytes], post_results: Upload
) -> None:
    answer = post_results(api, sim, make_xml())
    assert answer.status_code == 202
    assert answer.json() == {"id": 1, "status": "queued"}
    sim.wait_for_tasks()
    status = api.get(f"{sim.api_url}/test-results/1", timeout=10).json()
    assert status["id"] == 1 and status["status"] == "success"
    assert "errorDetails" not in status
    assert status["until"].endswith("+0000")


def test_processing_takes_the_configured_time(
    octane_simulator_factory: Callable[..., Any],
    signed_in: Callable[[Any], requests.Session],
    make_xml: Callable[..., bytes],
    post_results: Upload,
) -> None:
    sim = octane_simulator_factory(processing_ms=60_000)
    api = signed_in(sim)
    post_results(api, sim, make_xml())
    status = api.get(f"{sim.api_url}/test-results/1", timeout=10).json()["status"]
    assert status in ("queued", "running")
    assert sim.runs() == []


def test_gzip_bodies_are_accepted_both_ways(
    sim: Any, api: requests.Session, make_xml: Callable[..., bytes], post_results: Upload
) -> None:
    first = gzip.compress(make_xml([{"name": "a"}]))
    second = gzip.compress(make_xml([{"name": "b"}]))
    by_encoding = post_results(
        api, sim, first, headers={"Content-Type": "application/xml", "Content-Encoding": "gzip"}
    )
    by_type = post_results(api, sim, second, headers={"Content-Type": "application/gzip"})
    assert (by_encoding.status_code, by_type.status_code) == (202, 202)
    sim.wait_for_tasks()
    assert sorted(r["name"] for r in sim.runs()) == ["a", "b"]


def test_broken_gzip_is_400(sim: Any, api: requests.Session, post_results: Upload) -> None:
    answer = post_results(
        api,
        sim,
        b"not gzip",
        headers={"Content-Type": "application/xml", "Content-Encoding": "gzip"},
    )
    assert answer.status_code == 400
    assert "not valid gzip" in answer.json()["description"]


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", ""])
def test_other_content_types_are_415(
    sim: Any,
    api: requests.Session,
    make_xml: Callable[..., bytes],
    post_results: Upload,
    content_type: str,
) -> None:
    answer = post_results(api, sim, make_xml(), headers={"Content-Type": content_type})
    assert answer.status_code == 415
    assert answer.json()["error_code"] == "platform.unsupported_media_type"


def test_charset_parameter_is_fine(
    sim: Any, api: requests.Session, make_xml: Callable[..., bytes], post_results: Upload
) -> None:
    headers = {"Content-Type": "application/xml; charset=ISO-8859-1"}  # what the CLT sends
    assert post_results(api, sim, make_xml(), headers=headers).status_code == 202


def test_xsd_invalid_payload_is_400_listing_problems(
    sim: Any, api: requests.Session, make_xml: Callable[..., bytes], post_results: Upload
) -> None:
    xml = make_xml([{"name": "a", "status": "passed"}, {"name": "", "duration": "x"}])
    answer = post_results(api, sim, xml)
    assert answer.status_code == 400
    body = answer.json()
    assert body["error_code"] == "testbox.xml_validation_failed"
    for expected in ("status='passed'", "name=''", "duration='x'"):
        assert expected in body["description"]
    assert sim.tasks() == []


def test_skip_errors_must_be_true_or_false(
    sim: Any, api: requests.Session, make_xml: Callable[..., bytes]
) -> None:
    answer = api.post(
        f"{sim.api_url}/test-results?skip-errors=maybe",
        data=make_xml(),
        headers={"Content-Type": "application/xml"},
        timeout=10,
    )
    assert answer.status_code == 400


def test_identical_payload_returns_the_original_task_from_older_push(
    sim: Any, api: requests.Session, make_xml: Callable[..., bytes], post_results: Upload
) -> None:
    xml = make_xml()
    assert post_results(api, sim, xml).status_code == 202
    sim.wait_for_tasks()
    again = post_results(api, sim, gzip.compress(xml), headers={"Content-Type": "application/gzip"})
    assert again.status_code == 202
    body = again.json()
    assert body["id"] == 1 and body["status"] == "success"
    assert body["fromOlderPush"] == "true"
    assert len(sim.tasks()) == 1 and len(sim.runs()) == 1
    assert sim.counters["from_older_push"] == 1


def test_from_older_push_also_returns_an_old_failure(
    sim: Any, api: requests.Session, make_xml: Callable[..., bytes], post_results: Upload
) -> None:
    xml = make_xml(backlog=[9999])
    post_results(api, sim, xml)
    sim.wait_for_tasks()
    again = post_results(api, sim, xml).json()
    assert again["status"] == "failed" and again["fromOlderPush"] == "true"
    assert "9999" in again["errorDetails"]


def test_unknown_task_is_404(sim: Any, api: requests.Session) -> None:
    for task in ("77", "abc"):
        answer = api.get(f"{sim.api_url}/test-results/{task}", timeout=10)
        assert answer.status_code == 404
        assert answer.json()["error_code"] == "platform.entity_not_found"


def test_runs_tests_and_links_are_stored(
    sim: Any, api: requests.Session, make_xml: Callable[..., bytes], post_results: Upload
) -> None:
    area = sim.add_application_module("Payments")
    xml = make_xml(
        [
            {
                "module": "mod",
                "package": "pkg",
                "class": "TestA",
                "name": "test_x",
                "status": "Failed",
                "started": 1700000000000,
                "duration": 1500,
                "error": "trace",
                "backlog": [2002],
            },
            {"package": "pkg", "name": "test_y", "status": "Skipped"},
        ],
        build={"server_id": "ci", "job_id": "nightly", "build_id": "42"},
        backlog=[2001],
        areas=[area],
        fields=[("Framework", "pytest"), ("Testing_Tool_Type", "pytest-octane")],
        taxonomies=[("OS", "Linux")],
    )
    sim.add_ci_server("ci")  # a build context refers to a registered CI server
    post_results(api, sim, xml)
    assert sim.wait_for_tasks()[0]["status"] == "success"
    first, second = sim.runs()
    assert (first["module"], first["package"], first["class"], first["name"]) == (
        "mod",
        "pkg",
        "TestA",
        "test_x",
    )
    assert first["status"] == "Failed" and first["duration_ms"] == 1500
    assert first["started_ms"] == 1700000000000
    assert first["build"] == {"server_id": "ci", "job_id": "nightly", "build_id": "42"}
    assert first["covered_content"] == [2001, 2002]
    assert first["product_areas"] == [area]
    assert first["error"]["trace"] == "trace"
    assert first["taxonomies"] == [{"type": "OS", "value": "Linux"}]
    assert second["covered_content"] == [2001] and second["status"] == "Skipped"
    tests = {t["name"]: t for t in sim.tests()}
    assert tests["test_x"]["subtype"] == "test_automated"
    assert tests["test_x"]["covered_content"] == [2001, 2002]
    assert tests["test_x"]["test_fields"] == {
        "framework": "pytest",
        "testing_tool_type": "pytest-octane",
    }
    runs = api.get(
        f"{sim.api_url}/runs", params={"query": "\"subtype EQ 'run_automated'\""}, timeout=10
    ).json()
    automated = api.get(f"{sim.api_url}/automated_runs", timeout=10).json()
    assert runs == automated and automated["total_count"] == 2
    run = automated["data"][0]
    assert run["native_status"]["name"] == "Failed"
    assert run["test"] == {
        "type": "test",
        "id": str(first["test_id"]),
        "subtype": "test_automated",
        "name": "test_x",
    }
    assert run["started"] == "2023-11-14T22:13:20.000Z"


def test_the_same_test_identity_reuses_the_test_and_counts_duplicate_runs(
    sim: Any, api: requests.Session, make_xml: Callable[..., bytes], post_results: Upload
) -> None:
    build = {"server_id": "ci", "job_id": "j", "build_id": "1"}
    sim.add_ci_server("ci")
    post_results(api, sim, make_xml([{"name": "t", "duration": 1}], build=build, backlog=[2001]))
    post_results(api, sim, make_xml([{"name": "t", "duration": 2}], build=build, backlog=[2002]))
    post_results(api, sim, make_xml([{"name": "t", "class": "Other"}], build=build))
    sim.wait_for_tasks()
    assert len(sim.runs()) == 3
    assert len(sim.tests()) == 2
    assert sim.counters["duplicate_runs"] == 1
    assert sim.counters["runs_stored"] == 3
    same = next(t for t in sim.tests() if t["class"] == "")
    assert same["covered_content"] == [2001, 2002]  # links accumulate on the test


def test_each_runs_own_references_apply_to_it_alone(
    sim: Any, api: requests.Session, make_xml: Callable[..., bytes], post_results: Upload
) -> None:
    """The simulator resolves each distinct run context once (issue 28): runs that share one,
    runs with another and runs with none must each keep exactly their own references."""
    area, other = sim.add_application_module("A"), sim.add_application_module("B")
    runs = [
        {"name": "a1", "backlog": [2001], "areas": [area]},
        {"name": "b1", "backlog": [2002], "areas": [area]},
        {"name": "a2", "backlog": [2001], "areas": [area]},
        {"name": "plain"},
        {"name": "c1", "backlog": [2001], "areas": [other]},
        {"name": "b2", "backlog": [2002], "areas": [area]},
        {"name": "d1", "backlog": [2002, 2001], "areas": [area]},
    ]
    post_results(api, sim, make_xml(runs, backlog=[2002]))
    assert sim.wait_for_tasks()[0]["status"] == "success"
    stored = {r["name"]: (r["covered_content"], r["product_areas"]) for r in sim.runs()}
    assert stored == {
        "a1": ([2002, 2001], [area]),
        "b1": ([2002], [area]),
        "a2": ([2002, 2001], [area]),
        "plain": ([2002], []),
        "c1": ([2002, 2001], [other]),
        "b2": ([2002], [area]),
        "d1": ([2002, 2001], [area]),
    }


@pytest.mark.parametrize("skip_errors", [False, True])
def test_missing_references_fail_or_warn(
    sim: Any,
    api: requests.Session,
    make_xml: Callable[..., bytes],
    post_results: Upload,
    skip_errors: bool,
) -> None:
    area = sim.add_application_module("A")
    xml = make_xml(
        [{"name": "t1"}, {"name": "t2", "backlog": [2002, 8888]}],
        backlog=[2001, 9999],
        areas=[area, 7777],
        release_ref=55,
    )
    post_results(api, sim, xml, skip_errors=skip_errors)
    task = sim.wait_for_tasks()[0]
    status = api.get(f"{sim.api_url}/test-results/{task['id']}", timeout=10).json()
    details = status["errorDetails"]
    for missing in ("9999", "8888", "7777", "55"):
        assert missing in details
    if not skip_errors:
        assert status["status"] == "failed"
        assert sim.runs() == [] and sim.tests() == []
    else:
        assert status["status"] == "warning"
        runs = sim.runs()
        assert [r["covered_content"] for r in runs] == [[2001], [2001, 2002]]
        assert [r["product_areas"] for r in runs] == [[area], [area]]
        assert [r["release_id"] for r in runs] == [None, None]


def test_releases_by_id_by_name_and_default(
    octane_simulator_factory: Callable[..., Any],
    signed_in: Callable[[Any], requests.Session],
    make_xml: Callable[..., bytes],
    post_results: Upload,
) -> None:
    sim = octane_simulator_factory(processing_ms=0, releases=[{"id": 500, "name": "R1"}])
    api = signed_in(sim)
    post_results(api, sim, make_xml([{"name": "a"}], release_ref=500))
    post_results(api, sim, make_xml([{"name": "b"}], release_name="R1"))
    post_results(api, sim, make_xml([{"name": "c"}], release_name="_default_"))
    post_results(api, sim, make_xml([{"name": "d"}], release_name="R9"))
    statuses = [t["status"] for t in sim.wait_for_tasks()]
    assert statuses == ["success", "success", "success", "failed"]
    default = api.get(
        f"{sim.api_url}/releases", params={"query": "\"name EQ 'Default release'\""}, timeout=10
    ).json()["data"][0]["id"]
    assert [r["release_id"] for r in sim.runs()] == [500, 500, int(default)]


def test_suite_ref_groups_runs_into_one_suite_run_per_external_run_id(
    sim: Any, api: requests.Session, make_xml: Callable[..., bytes], post_results: Upload
) -> None:
    area = sim.add_application_module("Team")
    created = api.post(
        f"{sim.api_url}/tests",
        json={
            "data": [
                {
                    "subtype": "test_suite",
                    "name": "Nightly",
                    "product_areas": {"data": [{"type": "product_area", "id": area}]},
                }
            ]
        },
        timeout=10,
    )
    assert created.status_code == 201
    suite = int(created.json()["data"][0]["id"])
    post_results(api, sim, make_xml([{"name": "a"}], suite=(suite, "run-1")))
    post_results(api, sim, make_xml([{"name": "b"}], suite=(suite, "run-1")))
    post_results(api, sim, make_xml([{"name": "c"}], suite=(suite, "run-2")))
    post_results(api, sim, make_xml([{"name": "d"}], suite=(4242, "run-1")), skip_errors=False)
    assert [t["status"] for t in sim.wait_for_tasks()] == ["success"] * 3 + ["failed"]
    suite_runs = sim.suite_runs()
    assert [(s["name"], s["suite_id"], len(s["run_ids"])) for s in suite_runs] == [
        ("run-1", suite, 2),
        ("run-2", suite, 1),
    ]
    found = api.get(
        f"{sim.api_url}/runs",
        params={"query": f"\"subtype EQ 'run_suite';name EQ 'run-1';test EQ {{id EQ {suite}}}\""},
        timeout=10,
    ).json()
    assert found["total_count"] == 1
    suite_run = found["data"][0]["id"]
    children = api.get(
        f"{sim.api_url}/automated_runs",
        params={"query": f'"parent_suite EQ {{id EQ {suite_run}}}"', "fields": "name"},
        timeout=10,
    ).json()
    assert sorted(r["name"] for r in children["data"]) == ["a", "b"]


def test_a_burst_hits_queue_full_and_never_exceeds_the_limit(
    octane_simulator_factory: Callable[..., Any],
    signed_in: Callable[[Any], requests.Session],
    make_xml: Callable[..., bytes],
) -> None:
    # Slow enough that no task finishes during the burst; stop() cuts the wait short.
    sim = octane_simulator_factory(processing_ms=30_000, queue_limit=50)
    cookie = signed_in(sim).cookies["LWSSO_COOKIE_KEY"]
    start = threading.Barrier(60)

    def send(number: int) -> requests.Response:
        payload = make_xml([{"name": f"test_{number}"}])
        start.wait(timeout=10)
        return requests.post(
            f"{sim.api_url}/test-results",
            data=payload,
            headers={"Content-Type": "application/xml"},
            cookies={"LWSSO_COOKIE_KEY": cookie},
            timeout=30,
        )

    with ThreadPoolExecutor(max_workers=60) as pool:
        answers = list(pool.map(send, range(60)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [202] * 50 + [503] * 10
    full = [a.json() for a in answers if a.status_code == 503]
    assert {f["error_code"] for f in full} == {"testbox.queue_full"}
    assert sim.counters["max_in_flight"] == 50
    assert sim.counters["queue_full_rejections"] == 10


def test_an_automated_test_created_through_rest_is_reused_by_uploads(
    sim: Any, api: requests.Session, make_xml: Callable[..., bytes], post_results: Upload
) -> None:
    body = {"data": [{"subtype": "test_automated", "name": "t", "package": "p", "class_name": "C"}]}
    made = api.post(f"{sim.api_url}/tests", json=body, timeout=10).json()["data"][0]["id"]
    post_results(api, sim, make_xml([{"package": "p", "class": "C", "name": "t"}]))
    sim.wait_for_tasks()
    assert [r["test_id"] for r in sim.runs()] == [int(made)]
    assert len(sim.tests()) == 1
