"""``pytest-octane serve`` over HTTP: pages, escaping, the button, CSRF, tokens, binding.

Jobs come from real uploads to the simulator (``upload`` with a task that fails) or are
written straight into the task store when a test needs data no upload would produce.
"""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time

import pytest
import requests
from webui_harness import World, csrf_of, slice_statuses

from pytest_octane import cli
from pytest_octane.model import JobRecord, RequestLogEntry, SliceRecord, SliceStatus
from pytest_octane.web.access import is_loopback
from pytest_octane.web.layout import LIVE_SCRIPT
from pytest_octane.web.render import BODY_CHARS, LOG_ROWS, RETRY_BUTTON, render_job
from pytest_octane.web.server import TOKEN_ENV

TIMEOUT = 30  # bounds a hang only; every answer here takes milliseconds
TOKEN = "webui-token-0123456789abcdef"


def get(url: str, **kwargs: object) -> requests.Response:
    return requests.get(url, timeout=TIMEOUT, allow_redirects=False, **kwargs)  # type: ignore[arg-type]


def post(url: str, **kwargs: object) -> requests.Response:
    return requests.post(url, timeout=TIMEOUT, allow_redirects=False, **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------- pages


def test_jobs_page_and_job_page_show_the_failed_job(world: World) -> None:
    job = world.upload_with_a_failed_slice()
    failed = next(s for s in job.slices if s.status is SliceStatus.FAILED)
    with world.serve() as server:
        jobs = get(server.url + "/")
        page = get(f"{server.url}/jobs/{job.job_id}")
    assert jobs.status_code == 200
    assert jobs.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "frame-ancestors 'none'" in jobs.headers["Content-Security-Policy"]
    assert jobs.headers["X-Frame-Options"] == "DENY"
    row = jobs.text.split(f'<tr id="job-{job.job_id}">')[1].split("</tr>")[0]
    assert f'href="/jobs/{job.job_id}"' in row
    assert f">{world.sim.space_id} / {world.sim.workspace_id}<" in row
    assert 'aria-label="3 passed, 1 failed, 0 skipped"' in row  # the outcome bar
    assert '<rect class="bar-passed"' in row and '<rect class="bar-failed"' in row
    assert '2: 1 ok, <span class="failed">1 failed</span>' in row
    assert 'class="status failed">Failed<' in row

    assert page.status_code == 200
    text = page.text
    assert 'id="job-status" class="status failed">Failed<' in text
    slice_row = text.split(f'<tr id="slice-{failed.index}">')[1].split("</tr>")[0]
    assert f'<td class="num">{failed.task_id}</td>' in slice_row
    assert "Simulated processing failure" in slice_row
    assert f">{RETRY_BUTTON}</button>" in text
    assert f"pytest-octane retry {job.job_id} --task-store {world.store}" in text
    assert "/test-results" in text.split('<table id="requests">')[1]
    assert world.sim.client_secret not in text
    # the failed test with its message, and the timeline of both slices
    failures = text.split('<table id="failures">')[1].split("</table>")[0]
    assert "test_shop.TestBasket.test_discount" in failures or "test_discount" in failures
    assert "discount must never be negative" in failures
    timeline = text.split('<svg id="timeline"')[1].split("</svg>")[0]
    assert timeline.count('class="tl-octane"') == 2  # both slices were taken by Octane
    assert 'class="tl-ok"' in timeline and 'class="tl-bad"' in timeline
    assert "2 slices, 2 ended" in timeline  # the text alternative
    assert 'id="live"' not in text  # a finished job is not polled


def test_unknown_pages_jobs_and_methods(world: World) -> None:
    with world.serve() as server:
        assert get(server.url + "/jobs/no-such-job").status_code == 404
        assert get(server.url + "/nothing/here").status_code == 404
        assert get(server.url + "/jobs/..%2F..%2Fetc").status_code == 404
        refused = post(server.url + "/", data={"csrf": server.csrf})
        assert refused.status_code == 405 and refused.headers["Allow"] == "GET"
        empty = get(server.url + "/")
    assert empty.status_code == 200
    assert "No jobs in the task store" in empty.text


HOSTILE = '<script>alert("pwn")</script>"\'><img src=x onerror=alert(1)>'
ESCAPED = "&lt;script&gt;alert(&quot;pwn&quot;)&lt;/script&gt;&quot;&#x27;&gt;&lt;img src=x"


OWN_SCRIPT = re.compile(r'<script nonce="[A-Za-z0-9_-]+">' + re.escape(LIVE_SCRIPT) + "</script>")


def without_own_script(page: str) -> str:
    """The page without the one script it may have: the live updater, by its nonce."""
    return OWN_SCRIPT.sub("", page, count=1)


def assert_inert(page: str) -> None:
    __tracebackhide__ = True
    page = without_own_script(page)
    assert "<script" not in page.lower()
    assert "<img" not in page.lower()
    assert 'href="javascript:' not in page.lower()
    assert ESCAPED in page


def test_hostile_job_data_is_escaped_everywhere(world: World) -> None:
    job = world.upload_with_a_failed_slice(error_details=HOSTILE)  # from "Octane" itself
    store = world.open_store()
    try:
        store.add_history(job.job_id, {"time": time.time(), "event": HOSTILE, "why": HOSTILE})
        store.append_requests(
            job.job_id,
            [
                RequestLogEntry(
                    time=time.time(), method=HOSTILE, url=f"https://proxy/{HOSTILE}",
                    status=502, duration_ms=3, correlation_id=HOSTILE, error=HOSTILE,
                    body=HOSTILE,
                )
            ],
        )  # fmt: skip
        store.update_slice(job.job_id, job.slices[0].index, server_status=HOSTILE)
        forged = JobRecord(
            job_id="forged-job",
            space_id=1001,
            workspace_id=1002,
            server="javascript:alert(1)",
            created_at=time.time(),
            build={"build_id": HOSTILE},
            settings={"tag": HOSTILE, HOSTILE: 1},
            slices=(SliceRecord(index=0, path=str(world.root / "nowhere.xml"), run_count=1),),
        )
        store.create_job(forged)
        store.update_slice(
            "forged-job", 0, status=SliceStatus.FAILED, last_error=HOSTILE, error_details=HOSTILE
        )
    finally:
        store.close()
    with world.serve() as server:
        pages = [
            get(server.url + "/").text,
            get(f"{server.url}/jobs/{job.job_id}").text,
            get(server.url + "/jobs/forged-job").text,
        ]
    assert ESCAPED in pages[0]  # the hostile build id, as text
    for page in pages:
        page = without_own_script(page)
        assert "<script" not in page.lower() and "<img" not in page.lower()
        assert 'href="javascript:' not in page.lower()
    for page in pages[1:]:
        assert_inert(page)
    assert "open in Octane" not in pages[2]  # only http(s) servers get a link
    assert "open in Octane" in pages[1]


# ---------------------------------------------------------------- the button


def test_button_reuploads_the_failed_slice_as_retry_does(world: World) -> None:
    job = world.upload_with_a_failed_slice()
    failed = next(s for s in job.slices if s.status is SliceStatus.FAILED)
    posts = world.results_posts()
    with world.serve() as server:
        page = get(f"{server.url}/jobs/{job.job_id}").text
        pressed = post(
            f"{server.url}/jobs/{job.job_id}/retry",
            data={"csrf": csrf_of(page)},
            headers={"Origin": server.url, "Referer": f"{server.url}/jobs/{job.job_id}"},
        )
        assert pressed.status_code == 303, pressed.text
        assert pressed.headers["Location"] == f"/jobs/{job.job_id}"
        after_page = get(f"{server.url}/jobs/{job.job_id}").text
        again = post(f"{server.url}/jobs/{job.job_id}/retry", data={"csrf": server.csrf})
        assert again.status_code == 303
    after = world.job(job.job_id)
    assert slice_statuses(after) == [SliceStatus.SUCCESS, SliceStatus.SUCCESS]
    assert world.results_posts() - posts == 1  # one new task for the one failed slice
    renewed = after.slice(failed.index)
    assert renewed.task_id != failed.task_id and renewed.attempts == failed.attempts + 1
    assert [e["event"] for e in after.history] == ["retry"]  # the second press sent nothing
    assert after.history[0]["slices"] == [failed.index]
    assert 'id="job-status" class="status success">Success<' in after_page
    assert 'id="notice" class="notice ok"' in after_page
    assert "slices: 2 ok, 0 failed, 0 unfinished" in after_page
    assert f">{RETRY_BUTTON}</button>" not in after_page  # nothing left to re-upload


def test_a_failing_reupload_is_reported_on_the_page(world: World) -> None:
    job = world.upload_with_a_failed_slice()
    world.sim.faults.fail_next_tasks(1, error_details="still broken on the Octane side")
    with world.serve() as server:
        page = get(f"{server.url}/jobs/{job.job_id}").text
        pressed = post(f"{server.url}/jobs/{job.job_id}/retry", data={"csrf": csrf_of(page)})
        assert pressed.status_code == 303
        after_page = get(f"{server.url}/jobs/{job.job_id}").text
    assert 'id="notice" class="notice bad"' in after_page
    assert "still broken on the Octane side" in after_page.split('id="notice"')[1]
    assert f">{RETRY_BUTTON}</button>" in after_page
    assert world.job(job.job_id).status is SliceStatus.FAILED


@pytest.mark.parametrize(
    ("form", "headers"),
    [
        pytest.param({"button": "1"}, {}, id="no-csrf-token"),
        pytest.param({"csrf": "guessed"}, {}, id="wrong-csrf-token"),
        pytest.param({"csrf": "<real>"}, {"Origin": "http://evil.example"}, id="foreign-origin"),
        pytest.param({"csrf": "<real>"}, {"Origin": "null"}, id="null-origin"),
        pytest.param(
            {"csrf": "<real>"}, {"Referer": "http://evil.example/page"}, id="foreign-referer"
        ),
    ],
)
def test_cross_site_posts_are_refused(
    world: World, form: dict[str, str], headers: dict[str, str]
) -> None:
    job = world.upload_with_a_failed_slice()
    posts = world.results_posts()
    with world.serve() as server:
        data = {k: (server.csrf if v == "<real>" else v) for k, v in form.items()}
        refused = post(f"{server.url}/jobs/{job.job_id}/retry", data=data, headers=headers)
        as_json = post(
            f"{server.url}/jobs/{job.job_id}/retry", json={"csrf": server.csrf}, headers=headers
        )
    assert refused.status_code == 403, refused.text
    assert "press the button again" in refused.text
    assert as_json.status_code == 415
    assert world.job(job.job_id) == job
    assert world.results_posts() == posts


def test_get_never_changes_anything(world: World) -> None:
    job = world.upload_with_a_failed_slice()
    posts = world.results_posts()
    with world.serve() as server:
        base = f"{server.url}/jobs/{job.job_id}"
        answers = [
            get(f"{base}/retry"),
            get(f"{base}/retry", params={"csrf": server.csrf}),
            get(base, params={"csrf": server.csrf, "retry": "1"}),
            get(server.url + "/", params={"csrf": server.csrf}),
        ]
    assert [a.status_code for a in answers] == [405, 405, 200, 200]
    assert answers[0].headers["Allow"] == "POST"
    assert world.job(job.job_id) == job
    assert world.results_posts() == posts


# ---------------------------------------------------------------- tokens and binding


def test_token_is_required_on_every_request(
    world: World, capfd: pytest.CaptureFixture[str]
) -> None:
    job = world.upload_with_a_failed_slice()
    posts = world.results_posts()
    capfd.readouterr()
    with world.serve(token=TOKEN, quiet=False) as server:
        url = server.url
        anonymous = [get(url + "/"), get(f"{url}/jobs/{job.job_id}"), get(url + "/nothing")]
        wrong = get(url + "/", params={"token": "guess"})
        forged_cookie = get(url + "/", cookies={server.cookie_name: TOKEN})
        by_header = get(url + "/", headers={"X-Octane-Token": TOKEN})
        by_bearer = get(url + "/", headers={"Authorization": f"Bearer {TOKEN}"})
        anonymous_post = post(f"{url}/jobs/{job.job_id}/retry", data={"csrf": server.csrf})
        sent_without_token = world.results_posts() - posts

        first = get(f"{url}/jobs/{job.job_id}", params={"token": TOKEN, "x": "1"})
        session = requests.Session()
        landed = session.get(url + "/", params={"token": TOKEN}, timeout=TIMEOUT)
        page = session.get(f"{url}/jobs/{job.job_id}", timeout=TIMEOUT)
        pressed = session.post(
            f"{url}/jobs/{job.job_id}/retry", data={"csrf": csrf_of(page.text)}, timeout=TIMEOUT
        )
    assert [r.status_code for r in anonymous] == [401, 401, 401]
    assert "open /?token=TOKEN once" in anonymous[0].text
    assert wrong.status_code == 401 and forged_cookie.status_code == 401
    assert by_header.status_code == 200 and by_bearer.status_code == 200
    assert anonymous_post.status_code == 401
    assert sent_without_token == 0

    assert first.status_code == 303
    assert first.headers["Location"] == f"/jobs/{job.job_id}?x=1"  # the token leaves the URL
    cookie = first.headers["Set-Cookie"]
    assert cookie.startswith(f"{server.cookie_name}=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
    assert landed.status_code == 200 and landed.url == url + "/"
    assert pressed.status_code == 200 and pressed.url == f"{url}/jobs/{job.job_id}"
    assert world.job(job.job_id).status is SliceStatus.SUCCESS
    logged = capfd.readouterr()
    assert "GET /jobs/" in logged.err  # requests are logged, the query string never
    assert TOKEN not in logged.out + logged.err


def test_without_token_only_loopback_host_names_are_answered(world: World) -> None:
    """A DNS-rebinding page reaches 127.0.0.1 under its own name: refuse that name."""
    with world.serve() as server:
        port = server.port
        by_name = {
            host: get(server.url + "/", headers={"Host": host}).status_code
            for host in (
                f"localhost:{port}", f"127.0.0.1:{port}", f"attacker.example:{port}",
                "attacker.example", f"127.0.0.1.attacker.example:{port}",
            )
        }  # fmt: skip
    assert list(by_name.values()) == [200, 200, 403, 403, 403]
    with world.serve(token=TOKEN) as server:
        renamed = get(
            server.url + "/", headers={"Host": "jobs.example:80", "X-Octane-Token": TOKEN}
        )
    assert renamed.status_code == 200  # with a token the name does not matter


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "jobs.example"])
def test_binding_beyond_loopback_without_token_is_refused(
    host: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    code = cli.main(["serve", "--host", host, "--port", "0"])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("pytest-octane: error: refusing to serve")
    assert "--token" in err


def test_loopback_names() -> None:
    assert all(map(is_loopback, ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "10.0.0.1", "example.com", ""]))


def test_serve_cannot_start_exits_2_with_one_line(
    tmp_path: object, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = cli.main(["serve", "--port", str(port), "--task-store", str(tmp_path)])
        busy_err = capsys.readouterr().err
    bad_store = cli.main(["serve", "--port", "0", "--task-store", "ftp://example/x"])
    store_err = capsys.readouterr().err
    empty_token = cli.main(["serve", "--port", "0", "--token", " "])
    token_err = capsys.readouterr().err
    assert (busy, bad_store, empty_token) == (2, 2, 2)
    for err in (busy_err, store_err, token_err):
        assert err.count("\n") == 1 and err.startswith("pytest-octane: error: "), err
    assert f"cannot listen on 127.0.0.1:{port}" in busy_err
    assert "unknown scheme 'ftp'" in store_err


def test_the_command_serves_until_sigterm(world: World) -> None:
    """The real ``pytest-octane serve`` process: banner with the URL, a page, clean stop."""
    env = {**os.environ, TOKEN_ENV: TOKEN}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest_octane", "serve", "--port", "0", "--quiet",
         "--task-store", world.store],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert banner.startswith("pytest-octane jobs page on http://127.0.0.1:"), banner
        url = banner.split(" on ")[1].strip().rstrip("/")
        assert get(url + "/").status_code == 401
        assert get(url + "/", headers={"X-Octane-Token": TOKEN}).status_code == 200
        proc.terminate()
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "jobs page stopped." in out
    assert TOKEN not in banner + out + err


def test_long_request_logs_show_their_last_rows_and_short_bodies() -> None:
    job = JobRecord(
        job_id="big-job", space_id=1, workspace_id=2, server="https://o", created_at=1.0
    )
    entries = [
        RequestLogEntry(
            time=1.0, method="GET", url=f"https://o/poll/{n}", status=200, duration_ms=1,
            correlation_id=f"c{n}", body="x" * (BODY_CHARS + 10) if n == 599 else None,
        )
        for n in range(600)
    ]  # fmt: skip
    page = render_job(job, entries, location="/tmp/my store", csrf="c")
    assert page.count("https://o/poll/") == LOG_ROWS
    assert "https://o/poll/99<" not in page and "https://o/poll/100<" in page
    assert f"The last {LOG_ROWS} of 600 requests" in page
    assert "pytest-octane logs big-job --task-store &#x27;/tmp/my store&#x27;" in page
    assert "x" * BODY_CHARS + "\n... (10 more characters)" in page


@pytest.mark.parametrize("backend", ["folder", "sqlite"])
def test_a_damaged_request_log_line_shows_the_healthy_entries_and_one_line_for_it(
    world: World, backend: str
) -> None:
    """Issue 24 point 3: one damaged line (a folder store) or row (SQLite) in a request log
    made ``/jobs/JOB`` answer 500 with a traceback; ``jobs`` shows damaged job files the
    same way the page now shows damaged log lines."""
    location = (
        str(world.root / "store") if backend == "folder" else f"sqlite:///{world.root}/jobs.db"
    )
    world = dataclasses.replace(world, store=location)
    job = JobRecord(job_id="job-1", space_id=1, workspace_id=2, server="https://o", created_at=1.0)
    store = world.open_store()
    try:
        store.create_job(job)
        store.append_requests(
            "job-1",
            [
                RequestLogEntry(
                    time=1.0, method="GET", url=f"https://o/healthy/{n}", status=200,
                    duration_ms=1, correlation_id=f"c{n}",
                )
                for n in range(3)
            ],
        )  # fmt: skip
    finally:
        store.close()
    if backend == "folder":
        log = world.root / "store" / "job-1.requests.jsonl"
        lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
        log.write_text(lines[0] + '{"time": 1.0, "method": "GE\n' + "".join(lines[1:]))
        expected = "job-1.requests.jsonl&#x27; has a bad line 2 ("
    else:
        with sqlite3.connect(world.root / "jobs.db") as conn:
            conn.execute("UPDATE octane_request_log SET duration_ms = 'lots' WHERE url LIKE '%/1'")
        expected = "in sqlite:///"
    with world.serve() as server:
        answer = get(f"{server.url}/jobs/job-1")
    assert answer.status_code == 200, answer.text
    page = answer.text
    healthy = [n for n in range(3) if f"https://o/healthy/{n}<" in page]
    assert healthy == ([0, 1, 2] if backend == "folder" else [0, 2])
    damaged = re.findall(r"<li>([^<]*)</li>", page.split('id="damaged-requests"')[1])
    assert len(damaged) == 1 and expected in damaged[0], damaged
    assert "repair or delete that" in damaged[0]
