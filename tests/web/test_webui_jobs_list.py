"""The jobs page over HTTP: the JSON API, the list's filters and pages, the failed-test search,
the live script's policy, and the upload form with its access rules and refusals."""

from __future__ import annotations

import html
import http.client
import json
import re
import time
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
import requests
from webui_harness import JUNIT, World

from pytest_octane.model import SliceStatus
from pytest_octane.store.query import JobQuery
from pytest_octane.web.demo import seed_jobs
from pytest_octane.web.handler import PAGE_SIZE
from pytest_octane.web.server import JobsServer
from pytest_octane.web.upload import MAX_UPLOAD_BYTES

TIMEOUT = 60.0
TOKEN = "list-token-0d5a1c9e77f2b"
#: The harness's UPLOAD_FAST, as spaces file keys (serve takes connection options only).
FAST = {"queueFullRetrySeconds": 0.1, "pollTimeoutSeconds": 30, "backoffSeconds": 0.05}


def get(url: str, **kwargs: object) -> requests.Response:
    return requests.get(url, timeout=TIMEOUT, allow_redirects=False, **kwargs)  # type: ignore[arg-type]


def post(url: str, **kwargs: object) -> requests.Response:
    return requests.post(url, timeout=TIMEOUT, allow_redirects=False, **kwargs)  # type: ignore[arg-type]


def job_ids(page: str) -> list[str]:
    return re.findall(r'<tr id="job-([^"]+)">', page)


# ---------------------------------------------------------------- the JSON API


def test_the_api_gives_the_pages_data(world: World) -> None:
    job = world.upload_with_a_failed_slice()
    with world.serve() as server:
        listing = get(server.url + "/api/jobs")
        one = get(f"{server.url}/api/jobs/{job.job_id}")
        unknown = get(server.url + "/api/jobs/no-such-job")
        bad = get(server.url + "/api/jobs", params={"status": "Broken"})
    assert listing.status_code == 200
    assert listing.headers["Content-Type"] == "application/json"
    data = listing.json()
    assert data["total"] == 1 and data["jobs"][0]["job_id"] == job.job_id
    assert data["jobs"][0]["runs"] == {"total": 4, "passed": 3, "failed": 1, "skipped": 0}
    assert data["jobs"][0]["slices"] == {"total": 2, "success": 1, "failed": 1, "running": 0}
    detail = one.json()
    assert detail["status"] == "Failed" and detail["live"] is False
    for record in detail["slice_list"]:  # the engine recorded each slice's way
        assert record["spooled_at"] <= record["sent_at"] <= record["accepted_at"]
        assert record["accepted_at"] <= record["done_at"]
    (failure,) = detail["failures"]
    assert failure["name"].endswith("test_discount")
    assert failure["message"] == "discount must never be negative"
    assert unknown.status_code == 404 and "no-such-job" in unknown.json()["error"]
    assert bad.status_code == 400
    assert (
        bad.json()["error"] == "status='Broken' is not a job status: use Running, Success, Failed"
    )


def test_the_api_and_the_form_follow_the_token_rules(world: World) -> None:
    world.upload_with_a_failed_slice()
    with world.serve(token=TOKEN) as server:
        paths = ["/api/jobs", "/api/jobs/x", "/upload"]
        without = [get(server.url + p) for p in paths]
        posted = post(server.url + "/upload", files={"files": ("a.xml", JUNIT)})
        with_header = get(server.url + "/api/jobs", headers={"X-Octane-Token": TOKEN})
        wrong = get(server.url + "/api/jobs", headers={"X-Octane-Token": TOKEN + "x"})
        session = requests.Session()
        session.get(f"{server.url}/?token={TOKEN}", timeout=TIMEOUT)
        with_cookie = session.get(server.url + "/api/jobs", timeout=TIMEOUT)
    assert [a.status_code for a in without] == [401, 401, 401]
    assert "needs its token" in without[0].json()["error"]
    assert posted.status_code == 401
    assert with_header.status_code == 200 and with_header.json()["total"] == 1
    assert wrong.status_code == 401
    assert with_cookie.status_code == 200
    assert world.job_count() == 1  # the refused upload recorded nothing


def test_the_api_answers_only_to_loopback_names_without_a_token(world: World) -> None:
    with world.serve() as server:
        rebound = get(server.url + "/api/jobs", headers={"Host": f"evil.example:{server.port}"})
        fine = get(server.url + "/api/jobs", headers={"Host": f"localhost:{server.port}"})
    assert rebound.status_code == 403 and "open it by one of those names" in rebound.json()["error"]
    assert fine.status_code == 200


def test_get_api_and_upload_never_change_anything(world: World) -> None:
    with world.serve() as server:
        answers = [
            post(server.url + "/api/jobs", data={"csrf": server.csrf}),
            requests.put(server.url + "/upload", timeout=TIMEOUT),
        ]
    assert [a.status_code for a in answers] == [405, 501]
    assert world.job_count() == 0


# ---------------------------------------------------------------- the list


def test_the_list_filters_pages_and_keeps_the_filters_in_its_links(world: World) -> None:
    store = world.open_store()
    try:
        ids = seed_jobs(store, PAGE_SIZE + 12, now=time.time(), running=2)
        failed = [j.job_id for j in store.list_jobs() if j.status is SliceStatus.FAILED]
        named = next((j, f.name) for j in store.list_jobs() for s in j.slices for f in s.failures)
    finally:
        store.close()
    newest_first = list(reversed(ids))
    with world.serve() as server:
        first = get(server.url + "/").text
        second = get(server.url + "/", params={"page": "2"}).text
        only_failed = get(server.url + "/", params={"status": "Failed"}).text
        running = get(server.url + "/api/jobs", params={"status": "Running"}).json()
        space = get(server.url + "/api/jobs", params={"space": "2001"}).json()
        by_test = get(server.url + "/", params={"q": named[1].upper()}).text
        nothing = get(server.url + "/", params={"q": "no job has this"}).text
        past_end = get(server.url + "/", params={"page": "9"}).text
        bad_page = get(server.url + "/", params={"page": "0"})
    assert job_ids(first) == newest_first[:PAGE_SIZE]
    assert job_ids(second) == newest_first[PAGE_SIZE:]
    assert f"page 1 of 2 ({PAGE_SIZE + 12} jobs)" in first
    assert 'id="older" rel="next" href="/?page=2"' in first and 'id="newer"' not in first
    assert 'id="newer" rel="prev" href="/"' in second and 'id="older"' not in second
    assert job_ids(only_failed) == [i for i in newest_first if i in failed]
    assert '<option value="Failed" selected>' in only_failed
    assert [j["job_id"] for j in running["jobs"]] == newest_first[:2]
    assert {j["space_id"] for j in space["jobs"]} == {2001} and space["total"] > 0
    assert space["spaces"] == [1001, 2001, 3001]
    assert named[0].job_id in job_ids(by_test)
    assert job_ids(nothing) == [] and "No job matches these filters." in nothing
    assert job_ids(past_end) == [] and "This page is past the last one" in past_end
    assert bad_page.status_code == 400
    assert "page='0' is not a page number" in html.unescape(bad_page.text)


def test_list_links_keep_the_filters(world: World) -> None:
    from pytest_octane.web.render_list import list_href

    query = JobQuery(status=SliceStatus.FAILED, space=7, text="a&b", offset=100, limit=50)
    assert list_href(query) == "/?status=Failed&space=7&q=a%26b&page=3"
    assert list_href(query, offset=0) == "/?status=Failed&space=7&q=a%26b"


def test_a_job_page_searches_its_failed_tests(world: World) -> None:
    store = world.open_store()
    try:
        seed_jobs(store, 40, now=time.time(), running=0)
        job = max(store.list_jobs(), key=lambda j: sum(len(s.failures) for s in j.slices))
    finally:
        store.close()
    names = [f.name for s in job.slices for f in s.failures]
    assert len(names) >= 2
    target = names[-1]
    with world.serve() as server:
        everything = get(f"{server.url}/jobs/{job.job_id}").text
        found = get(f"{server.url}/jobs/{job.job_id}", params={"q": target.split("::")[-1]}).text
    table = everything.split('<table id="failures">')[1].split("</table>")[0]
    assert all(n in table for n in names)
    hits = found.split('<table id="failures">')[1].split("</table>")[0]
    assert target in hits and len(re.findall("<tr>", hits)) < len(names) + 1
    assert f'value="{target.split("::")[-1]}"' in found  # the search box keeps the text


# ---------------------------------------------------------------- the live script


def test_only_a_running_job_page_carries_the_live_script(world: World) -> None:
    store = world.open_store()
    try:
        seed_jobs(store, 3, now=time.time(), running=1)
        running, done = store.list_jobs()[0], store.list_jobs()[1]
    finally:
        store.close()
    with world.serve() as server:
        live = get(f"{server.url}/jobs/{running.job_id}")
        ended = get(f"{server.url}/jobs/{done.job_id}")
        listing = get(server.url + "/")
    nonce = re.search(r'<script nonce="([^"]+)">', live.text)
    assert nonce is not None
    policy = live.headers["Content-Security-Policy"]
    assert f"script-src 'nonce-{nonce.group(1)}'" in policy and "connect-src 'self'" in policy
    assert f'data-api="/api/jobs/{running.job_id}"' in live.text
    assert (
        "<script" not in ended.text and "script-src" not in ended.headers["Content-Security-Policy"]
    )
    assert "<script nonce=" in listing.text  # new jobs appear in the list by themselves


# ---------------------------------------------------------------- the upload form


def spaces_file(world: World) -> Path:
    path = world.root / "spaces.json"
    entry = {
        "url": world.sim.url,
        "workspaceId": world.sim.workspace_id,
        "autoRunsSliceSize": 2,  # four runs: two slices
        "spoolDir": str(world.spool),
        **FAST,
    }
    path.write_text(json.dumps({str(world.sim.space_id): entry}), encoding="utf-8")
    return path


def serve_with_spaces(world: World) -> AbstractContextManager[JobsServer]:
    return world.serve(f"--config={spaces_file(world)}")


def test_an_upload_from_the_form_runs_as_the_cli_does(world: World) -> None:
    with serve_with_spaces(world) as server:
        form = get(server.url + "/upload").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)
        assert csrf is not None
        assert f'<option value="{world.sim.space_id}">' in form
        started = post(
            server.url + "/upload",
            data={"csrf": csrf.group(1), "space": str(world.sim.space_id)},
            files=[("files", ("junit.xml", JUNIT, "text/xml"))],
        )
        assert started.status_code == 303, started.text
        job_id = started.headers["Location"].rsplit("/", 1)[1]
        for thread in server.uploads:
            thread.join(TIMEOUT)
        page = get(server.url + started.headers["Location"]).text
        listed = get(server.url + "/api/jobs").json()
    job = world.job(job_id)
    assert job.status is SliceStatus.SUCCESS
    assert [s.run_count for s in job.slices] == [2, 2]
    assert sum(s.runs_failed for s in job.slices) == 1
    assert world.results_posts() == 2
    assert 'id="notice" class="notice ok"' in page and "Upload started from this page" in page
    assert [j["job_id"] for j in listed["jobs"]] == [job_id]


@pytest.mark.parametrize(
    ("fields", "files", "expected"),
    [
        pytest.param(
            {"space": "999"},
            [("files", ("a.xml", JUNIT))],
            "shared space '999' is not in the spaces file",
            id="unknown-space",
        ),
        pytest.param({"space": "<sim>"}, [], "no files", id="no-files"),
        pytest.param(
            {"space": "<sim>"},
            [("files", ("broken.xml", "<testsuites><testcase"))],
            "broken.xml",
            id="bad-xml",
        ),
        pytest.param(
            {"space": "<sim>"},
            [("files", ("evil.xml", '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x/>'))],
            "evil.xml",
            id="doctype",
        ),
        pytest.param(
            {"space": "<sim>", "jira": "PROJ-1"},
            [("files", ("a.xml", JUNIT))],
            "suite",
            id="story-without-suite",
        ),
    ],
)
def test_a_bad_upload_is_refused_with_one_line_and_records_nothing(
    world: World, fields: dict[str, str], files: list[tuple[str, tuple[str, str]]], expected: str
) -> None:
    with serve_with_spaces(world) as server:
        data = {k: (str(world.sim.space_id) if v == "<sim>" else v) for k, v in fields.items()}
        data["csrf"] = server.csrf
        answer = post(server.url + "/upload", data=data, files=files or {"x": ("", b"")})
    assert answer.status_code == 400, answer.text
    error = html.unescape(answer.text.split('id="upload-error"')[1].split("</p>")[0])
    assert expected in error and "Traceback" not in answer.text
    assert "pytest-octane-form-" not in error  # the file's own name, not the temporary one
    assert world.job_count() == 0 and world.results_posts() == 0


@pytest.mark.parametrize(
    ("csrf", "headers"),
    [
        pytest.param(None, {}, id="no-csrf-token"),
        pytest.param("guessed", {}, id="wrong-csrf-token"),
        pytest.param("<real>", {"Origin": "http://evil.example"}, id="foreign-origin"),
        pytest.param("<real>", {"Referer": "http://evil.example/x"}, id="foreign-referer"),
    ],
)
def test_cross_site_uploads_are_refused(
    world: World, csrf: str | None, headers: dict[str, str]
) -> None:
    with serve_with_spaces(world) as server:
        data = {"space": str(world.sim.space_id)}
        if csrf is not None:
            data["csrf"] = server.csrf if csrf == "<real>" else csrf
        answer = post(
            server.url + "/upload", data=data, files={"files": ("a.xml", JUNIT)}, headers=headers
        )
    assert answer.status_code == 403
    assert "reload the upload page" in answer.text
    assert world.job_count() == 0 and world.results_posts() == 0


def test_an_oversized_or_foreign_body_is_refused_before_it_is_read(world: World) -> None:
    with serve_with_spaces(world) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
        connection.putrequest("POST", "/upload")
        connection.putheader("Content-Type", "multipart/form-data; boundary=b")
        connection.putheader("Content-Length", str(MAX_UPLOAD_BYTES + 1))
        connection.endheaders()  # and no body: the answer comes before it is read
        answer = connection.getresponse()
        too_big = (answer.status, answer.read().decode("utf-8"))
        connection.close()
        urlencoded = post(server.url + "/upload", data={"csrf": server.csrf, "space": "1"})
    assert too_big[0] == 413 and "MiB" in too_big[1]
    assert urlencoded.status_code == 415
    assert world.job_count() == 0


def test_without_a_spaces_file_the_form_says_how_to_get_one(world: World) -> None:
    with world.serve() as server:
        form = get(server.url + "/upload").text
        answer = post(
            server.url + "/upload",
            data={"csrf": server.csrf, "space": "1001"},
            files={"files": ("a.xml", JUNIT)},
        )
    assert "start 'pytest-octane serve' with --config spaces.json" in html.unescape(form)
    assert 'id="upload"' not in form
    assert answer.status_code == 400 and "--config spaces.json" in answer.text
    assert world.job_count() == 0


def test_the_timeline_marks_waits_and_has_a_text_alternative() -> None:
    from pytest_octane.model import JobRecord, SliceRecord, SliceWait
    from pytest_octane.web.render import render_job

    t0 = 1_700_000_000.0
    sent = SliceRecord(
        index=1, path="p", run_count=2, status=SliceStatus.SUCCESS, task_id=7, created_at=t0,
        updated_at=t0 + 20, sent_at=t0 + 6, accepted_at=t0 + 12, done_at=t0 + 20,
        waits=(SliceWait(kind="budget", start=t0 + 1, seconds=5.0),
               SliceWait(kind="queue-full", start=t0 + 6.5, seconds=5.0)),
    )  # fmt: skip
    unsent = SliceRecord(index=2, path="q", run_count=2, created_at=t0, updated_at=t0)
    job = JobRecord(
        job_id="j", space_id=1, workspace_id=2, server="http://o", created_at=t0,
        slices=(sent, unsent),
    )  # fmt: skip
    page = render_job(job, [], location="store", csrf="c", now=t0 + 30)
    svg = page.split('<svg id="timeline"')[1].split("</svg>")[0]
    assert svg.count('class="tl-budget"') == 1 and svg.count('class="tl-queuefull"') == 1
    assert "waiting for a queue budget slot: 5.0 s" in svg
    assert "Octane queue full: 5.0 s" in svg
    assert svg.count('class="tl-ok"') == 1  # the unsent slice has no end yet
    desc = svg.split("<desc")[1].split("</desc>")[0]
    assert "2 slices, 1 ended, the last after 20 s" in desc
    assert "5.0 s waited for queue budget slots" in desc
    assert "5.0 s waited while Octane&#x27;s queue was full" in desc
    table = page.split('<table id="timeline-table">')[1].split("</table>")[0]
    row = table.split('<th scope="row">1</th>')[1].split("</tr>")[0]
    cells = re.findall(r'<td class="num">([^<]*)</td>', row)
    assert cells == ["0 s", "5.0 s", "6.0 s", "5.0 s", "12 s", "20 s"]
    assert 'id="live"' in page  # slice 2 is unfinished: the page follows the job
