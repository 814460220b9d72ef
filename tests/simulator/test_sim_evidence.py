"""The simulator's rules for evidence: CI servers, the build context, run links, attachments."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
import requests

Upload = Callable[..., requests.Response]
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
BUILD = {"server_id": "https://github.com/org/repo", "job_id": "ci/test", "build_id": "7-1"}


def _multipart(entity: Any, content: bytes, filename: str = "f") -> tuple[bytes, str]:
    boundary = "b0undary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="entity"; filename="blob"\r\n'
            "Content-Type: application/json\r\n\r\n"
            + json.dumps(entity)
            + f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="content"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def _run_id(sim: Any, api: requests.Session, make_xml: Callable[..., bytes], post: Upload) -> int:
    post(api, sim, make_xml([{"name": "test_ui", "status": "Failed", "error": "trace"}]))
    sim.wait_for_tasks()
    return int(sim.runs()[0]["id"])


def _attach(api: requests.Session, sim: Any, entity: Any, content: bytes) -> requests.Response:
    body, content_type = _multipart(entity, content)
    return api.post(
        f"{sim.api_url}/attachments",
        data=body,
        headers={"Content-Type": content_type, "Accept": "application/json"},
        timeout=10,
    )


def test_ci_servers_are_found_by_instance_id_and_created_once(
    sim: Any, api: requests.Session
) -> None:
    url = f"{sim.api_url}/ci_servers"
    query = {"query": "\"instance_id EQ 'https://github.com/org/repo'\"", "fields": "id"}
    assert api.get(url, params=query, timeout=10).json()["total_count"] == 0
    server = {
        "name": "org/repo",
        "instance_id": "https://github.com/org/repo",
        "server_type": "github_actions",
        "url": "https://github.com/org/repo",
    }
    created = api.post(url, json={"data": [server]}, timeout=10)
    assert created.status_code == 201
    assert api.get(url, params=query, timeout=10).json()["total_count"] == 1
    again = api.post(url, json={"data": [server]}, timeout=10)
    assert again.status_code == 409
    incomplete = api.post(url, json={"data": [{"name": "x", "instance_id": "y"}]}, timeout=10)
    assert incomplete.status_code == 400 and "server_type" in incomplete.json()["description"]


@pytest.mark.parametrize(("skip_errors", "status"), [(False, "failed"), (True, "warning")])
def test_a_build_context_of_an_unknown_ci_server_fails_or_is_dropped(
    sim: Any,
    api: requests.Session,
    make_xml: Callable[..., bytes],
    post_results: Upload,
    skip_errors: bool,
    status: str,
) -> None:
    post_results(api, sim, make_xml(build=BUILD), skip_errors=skip_errors)
    task = sim.wait_for_tasks()[0]
    assert task["status"] == status
    assert (
        "CI server (build context server_id) 'https://github.com/org/repo'"
        in (task["error_details"])
    )
    runs = sim.runs()
    assert len(runs) == (1 if skip_errors else 0)
    assert all(run["build"] is None for run in runs)


def test_a_registered_ci_server_keeps_the_build_context_and_links_are_kept(
    sim: Any, api: requests.Session, make_xml: Callable[..., bytes], post_results: Upload
) -> None:
    sim.add_ci_server(BUILD["server_id"], server_type="github_actions")
    link = "https://github.com/org/repo/actions/runs/7"
    post_results(api, sim, make_xml([{"name": "t", "external_report_url": link}], build=BUILD))
    assert sim.wait_for_tasks()[0]["status"] == "success"
    (run,) = sim.runs()
    assert run["build"] == BUILD
    assert run["external_report_url"] == link


def test_a_multipart_attachment_lands_on_its_run(
    sim: Any, api: requests.Session, make_xml: Callable[..., bytes], post_results: Upload
) -> None:
    run_id = _run_id(sim, api, make_xml, post_results)
    entity = {
        "name": "shot.png",
        "description": "at failure",
        "owner_run": {"type": "run", "id": str(run_id)},
    }
    answer = _attach(api, sim, entity, PNG)
    assert answer.status_code == 201, answer.text
    assert answer.json()["data"][0]["name"] == "shot.png"
    (stored,) = sim.attachments()
    assert (stored["run_id"], stored["content"], stored["description"]) == (
        run_id,
        PNG,
        "at failure",
    )
    assert sim.runs()[0]["attachments"][0]["name"] == "shot.png"


def test_the_octet_stream_form_is_accepted_too(
    sim: Any, api: requests.Session, make_xml: Callable[..., bytes], post_results: Upload
) -> None:
    run_id = _run_id(sim, api, make_xml, post_results)
    owner = json.dumps({"type": "run", "id": str(run_id)})
    answer = api.post(
        f"{sim.api_url}/attachments",
        params={"name": "out.log", "owner_run": owner},
        data=b"line 1\n",
        headers={"Content-Type": "application/octet-stream"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    assert sim.attachments()[0]["name"] == "out.log"


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("trace.har", b"{}", "platform.attachment_extension_not_allowed"),
        ("page.html", b"<html/>", "platform.attachment_extension_not_allowed"),
        ("noext", b"x", "platform.attachment_extension_not_allowed"),
        (".hidden.txt", b"x", "platform.invalid_attachment_name"),
        ("a:b.txt", b"x", "platform.invalid_attachment_name"),
        ("shot.png", b"not a png", "platform.attachment_content_mismatch"),
        ("log.txt", b"\x00\x01", "platform.attachment_content_mismatch"),
        ("t.zip", b"plain", "platform.attachment_content_mismatch"),
    ],
)
def test_names_extensions_and_content_follow_octanes_rules(
    sim: Any,
    api: requests.Session,
    make_xml: Callable[..., bytes],
    post_results: Upload,
    name: str,
    content: bytes,
    code: str,
) -> None:
    run_id = _run_id(sim, api, make_xml, post_results)
    answer = _attach(
        api, sim, {"name": name, "owner_run": {"type": "run", "id": str(run_id)}}, content
    )
    assert answer.status_code == 400
    assert answer.json()["error_code"] == code
    assert sim.attachments() == []


def test_a_zip_passes_and_the_owner_must_exist_and_be_bare(
    sim: Any, api: requests.Session, make_xml: Callable[..., bytes], post_results: Upload
) -> None:
    run_id = _run_id(sim, api, make_xml, post_results)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("trace.har", "{}")
    owner = {"type": "run", "id": str(run_id)}
    assert _attach(api, sim, {"name": "trace.har.zip", "owner_run": owner}, buffer.getvalue()).ok
    missing = _attach(
        api, sim, {"name": "a.txt", "owner_run": {"type": "run", "id": "99999"}}, b"x"
    )
    assert missing.status_code == 404
    wrapped = _attach(api, sim, {"data": [{"name": "a.txt", "owner_run": owner}]}, b"x")
    assert wrapped.status_code == 400 and "bare" in wrapped.json()["description"]
    no_owner = _attach(api, sim, {"name": "a.txt"}, b"x")
    assert no_owner.status_code == 400
    assert len(sim.attachments()) == 1
