"""Hostile answers between the CLI and Octane (issue 17 points 2, 3, 9, 11).

A proxy on 127.0.0.1 (``hostile_proxy``) forwards to the simulator and then tampers with the
answer: it trickles it, rewrites a task's status, echoes secrets escaped, or makes it huge.
Each test checks the outcome a user sees and that every run still arrives exactly once.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from cli_harness import CLI_FAST, CliResult, Octane, lines_without_traceback, printed
from hostile_proxy import Answer, HostileProxy, hostile_proxy

from pytest_octane import cli
from pytest_octane.cli.common import open_task_store
from pytest_octane.model import SliceStatus
from pytest_octane.web.server import JobsServer

RUNS = 10  # the junit_xml fixture
SLICES = ("--slice-size=5", "--max-parallel=1")
#: deadline per request = connect + 2 * read = 3 s; retries after 0.05 s
SHORT = ("--connect-timeout=1", "--read-timeout=1", "--backoff=0.05")
TASK_PATH = re.compile(r".*/test-results/(\d+)$")


def upload_via(octane: Octane, proxy: HostileProxy, junit: Path, *args: str) -> CliResult:
    return octane.cli(
        "upload", str(junit), *octane.cli_args(*CLI_FAST), f"--url={proxy.url}", *args
    )


def first_posts(flag: str, count: int = 2) -> tuple[list[str], Callable[..., Answer]]:
    """A tamper that sets ``answer.<flag>`` on the first ``count`` test-results POSTs, and
    the paths it tampered with."""
    tampered: list[str] = []

    def tamper(method: str, path: str, answer: Answer) -> Answer:
        if method == "POST" and path.endswith("/test-results") and len(tampered) < count:
            tampered.append(path)
            setattr(answer, flag, True)
        return answer

    return tampered, tamper


def assert_ridden_out(octane: Octane, done: CliResult, trickled: list[str]) -> CliResult:
    """The upload succeeded after both trickled POSTs, every run arrived once: the job's log."""
    assert done.code == 0, done.text
    lines_without_traceback(done.text)
    assert len(trickled) == 2
    octane.assert_every_run_once(RUNS)
    return octane.cli("logs", octane.only_job().job_id, f"--task-store={octane.store}")


# ---------------------------------------------------------------- point 2: trickled answers


def test_a_trickled_answer_is_cut_at_the_deadline_and_retried(
    octane: Octane, junit_xml: Path
) -> None:
    """Headers at once, then a byte every 0.5 s: each socket read is quick, the whole is not."""
    trickled, tamper = first_posts("trickle")
    with hostile_proxy(octane.sim.url, tamper) as proxy:
        done = upload_via(octane, proxy, junit_xml, *SLICES, *SHORT)
    log = assert_ridden_out(octane, done, trickled)
    assert "did not finish within 3 s" in log.out, log.out


def test_trickled_headers_are_cut_at_the_deadline_and_retried(
    octane: Octane, junit_xml: Path
) -> None:
    """Issue 24 point 5: the status line and headers a byte at a time. ``requests`` reads
    them before it returns, each read within the read timeout: only the whole-request
    deadline (connect + 2 * read = 3 s) ends it."""
    trickled, tamper = first_posts("trickle_headers")
    with hostile_proxy(octane.sim.url, tamper) as proxy:
        proxy.trickle_interval = 0.2  # 5 reads per read timeout: never one too slow
        # 75 bytes of the headers (15 s), then the proxy hangs up: without a deadline on
        # the headers the client waits for all of them; with it, the client hangs up first
        proxy.trickle_limit = 75
        done = upload_via(octane, proxy, junit_xml, *SLICES, *SHORT)
    assert proxy.hung_up == trickled, "the client waited for the whole trickle"
    log = assert_ridden_out(octane, done, trickled)
    assert log.out.count("did not finish within 3 s") == 2, log.out


def test_answers_trickled_every_time_leave_a_job_that_resume_finishes(
    octane: Octane, junit_xml: Path
) -> None:
    hostile = True

    def tamper(method: str, path: str, answer: Answer) -> Answer:
        answer.trickle = hostile and method == "POST" and path.endswith("/test-results")
        return answer

    with hostile_proxy(octane.sim.url, tamper) as proxy:
        done = upload_via(octane, proxy, junit_xml, "--slice-size=10", *SHORT)
        out = done.text
        lines = lines_without_traceback(out)
        assert done.code != 0
        assert any("did not finish within 3 s" in line for line in lines), out
        job = octane.only_job()
        # a deadline is transient trouble: the slice stays unfinished and resumable
        assert [s.status for s in job.slices] == [SliceStatus.RUNNING]
        hostile = False
        again = octane.cli(*printed(out, "resume"))
    assert again.code == 0, again.text
    octane.assert_every_run_once(RUNS)


# ---------------------------------------------------------------- point 3: unknown task states


def with_status(answer: Answer, status: str) -> Answer:
    data = json.loads(answer.body)
    data["status"] = status
    answer.body = json.dumps(data).encode()
    return answer


@pytest.mark.parametrize("status", ["processing", "pending", "finished", "", " Running "])
def test_unknown_task_states_keep_polling(octane: Octane, junit_xml: Path, status: str) -> None:
    """The first polls of every task answer a state we do not know; the task then succeeds."""
    polls: dict[str, int] = {}

    def tamper(method: str, path: str, answer: Answer) -> Answer:
        task = TASK_PATH.fullmatch(path)
        if method == "GET" and task and answer.status == 200:
            polls[task[1]] = polls.get(task[1], 0) + 1
            if polls[task[1]] <= 3:
                return with_status(answer, status)
        return answer

    with hostile_proxy(octane.sim.url, tamper) as proxy:
        done = upload_via(octane, proxy, junit_xml, *SLICES)
    assert done.code == 0, done.text
    assert all(n > 3 for n in polls.values()) and len(polls) == 2, polls
    assert [s.status for s in octane.only_job().slices] == [SliceStatus.SUCCESS] * 2
    octane.assert_every_run_once(RUNS)


def test_a_task_that_never_reaches_a_known_state_stays_resumable(
    octane: Octane, junit_xml: Path
) -> None:
    hostile = True

    def tamper(method: str, path: str, answer: Answer) -> Answer:
        if hostile and method == "GET" and TASK_PATH.fullmatch(path) and answer.status == 200:
            return with_status(answer, "finished")
        return answer

    with hostile_proxy(octane.sim.url, tamper) as proxy:
        done = upload_via(octane, proxy, junit_xml, *SLICES, "--poll-timeout=0.5")
        lines_without_traceback(done.text)
        job = octane.only_job()
        assert [s.status for s in job.slices] == [SliceStatus.RUNNING] * 2, done.text
        assert all(s.task_id is not None for s in job.slices)
        assert "still 'finished'" in done.text
        hostile = False
        again = octane.cli(*printed(done.text, "resume"))
    assert again.code == 0, again.text
    assert len(octane.sim.tasks()) == 2  # polled, never sent again
    octane.assert_every_run_once(RUNS)


def test_resume_adopts_a_task_still_in_an_unknown_state(octane: Octane, junit_xml: Path) -> None:
    """The upload's answers were lost (502 every time), so the slice is unfinished without a
    task id; Octane still processes it. ``resume`` re-sends the same bytes and Octane answers
    with that task, in a state we do not know: it must be polled, not replaced by new bytes."""
    phase = "lose answers"
    polls = 0

    def tamper(method: str, path: str, answer: Answer) -> Answer:
        nonlocal polls
        if phase == "lose answers" and method == "POST" and path.endswith("/test-results"):
            return Answer(502, [("Content-Type", "text/html")], b"<html>Bad gateway</html>")
        if phase == "retry" and method == "POST" and path.endswith("/test-results"):
            return with_status(answer, "processing")
        if phase == "retry" and method == "GET" and TASK_PATH.fullmatch(path):
            polls += 1
            return with_status(answer, "processing") if polls <= 2 else answer
        return answer

    with hostile_proxy(octane.sim.url, tamper) as proxy:
        done = upload_via(octane, proxy, junit_xml, "--slice-size=10", "--backoff=0.01")
        assert [s.status for s in octane.only_job().slices] == [SliceStatus.RUNNING], done.text
        octane.sim.wait_for_tasks()
        phase = "retry"
        again = octane.cli(*printed(done.text, "resume"))
    assert again.code == 0, again.text
    assert len(octane.sim.tasks()) == 1, octane.sim.tasks()  # no second payload
    octane.assert_every_run_once(RUNS)


# ---------------------------------------------------------------- point 9: escaped echoes


def escaped_forms(secret: str) -> dict[str, str]:
    entities = "".join(f"&#{ord(c)};" for c in secret)
    return {
        "html entities": entities,
        "html hex entities, mixed": secret[:3] + "".join(f"&#x{ord(c):x};" for c in secret[3:]),
        "url-encoded": quote(secret, safe="").replace("-", "%2D"),
        "url-encoded lower case": "".join(f"%{ord(c):02x}" for c in secret),
        "json unicode escapes": "".join(f"\\u{ord(c):04x}" for c in secret),
        "json escapes in html": html.escape(json.dumps(secret + '/"')),
    }


def test_secrets_echoed_in_escaped_forms_are_redacted(octane: Octane, junit_xml: Path) -> None:
    """Error answers echo the client secret and the session cookie, escaped six ways."""
    secrets = octane.sim.client_secret, *octane.cookies
    seen: list[str] = []

    def tamper(method: str, path: str, answer: Answer) -> Answer:
        if method == "POST" and path.endswith("/test-results") and len(seen) < 3:
            current = [octane.sim.client_secret, *octane.cookies]
            forms = [f for s in current for f in escaped_forms(s).values()]
            seen.append(path)
            text = "<html><body>bad gateway; you sent: " + " | ".join(forms) + "</body></html>"
            return Answer(502, [("Content-Type", "text/html")], text.encode())
        return answer

    with hostile_proxy(octane.sim.url, tamper) as proxy:
        done = upload_via(octane, proxy, junit_xml, "--slice-size=10", "--backoff=0.01")
    assert done.code == 0, done.text
    assert len(seen) == 3
    job_id = octane.only_job().job_id
    log = octane.cli("logs", job_id, f"--task-store={octane.store}", "--bodies")
    assert log.out.count("HTTP 502") == 3 and "<hidden>" in log.out, log.out
    every_form = [f for s in (*secrets, *octane.cookies) for f in (s, *escaped_forms(s).values())]
    for form in every_form:
        assert form not in log.out
        for path in octane.root.rglob("*"):
            if path.is_file():
                assert form.encode() not in path.read_bytes(), f"{form!r} is in {path}"
    octane.assert_no_secret(done.text, log.text)


def base64_forms(secret: str) -> dict[str, str]:
    """The secret base64-encoded the ways a server may echo it: alone and inside a longer
    blob at each of the three alignments, standard and URL-safe, padded and not."""
    forms: dict[str, str] = {}
    for before in (b"", b"x", b"xy"):
        for after in (b"", b"!", b"!?"):
            blob = before + secret.encode() + after
            for alphabet, encode in (("std", base64.b64encode), ("url", base64.urlsafe_b64encode)):
                text = encode(blob).decode()
                key = f"{alphabet} +{len(before)}/{len(after)}"
                forms[key] = text
                forms[f"{key} unpadded"] = text.rstrip("=")
    return forms


def test_secrets_echoed_base64_encoded_are_redacted(octane: Octane, junit_xml: Path) -> None:
    """Error answers echo the secret, the cookie and the Basic form of ``id:secret`` in
    base64 (issue 24 point 2): hidden in the request log, ``logs --bodies``, every file of
    the store and spool, and the job page."""
    seen: list[str] = []
    shown: list[str] = []

    def tamper(method: str, path: str, answer: Answer) -> Answer:
        if method == "POST" and path.endswith("/test-results") and len(seen) < 2:
            basic = f"{octane.sim.client_id}:{octane.sim.client_secret}"
            current = [octane.sim.client_secret, basic, *octane.cookies]
            forms = [f for s in current for f in base64_forms(s).values()]
            shown.extend(forms)
            seen.append(path)
            body = {"error_code": "proxy.echo", "description": " | ".join(forms)}
            text = json.dumps(body) + f" Authorization: Basic {forms[0]}"
            return Answer(502, [("Content-Type", "text/plain")], text.encode())
        return answer

    with hostile_proxy(octane.sim.url, tamper) as proxy:
        done = upload_via(octane, proxy, junit_xml, "--slice-size=10", "--backoff=0.01")
    assert done.code == 0, done.text
    assert len(seen) == 2 and len(shown) == 2 * 3 * 36
    job_id = octane.only_job().job_id
    log = octane.cli("logs", job_id, f"--task-store={octane.store}", "--bodies")
    assert log.out.count("HTTP 502") == 2 and "<hidden>" in log.out, log.out
    page = job_page(octane, job_id)
    assert "<hidden>" in page or "&lt;hidden&gt;" in page
    files = [p for p in octane.root.rglob("*") if p.is_file()]
    for form in shown:
        assert form not in log.out, form
        assert form not in page, form
        for path in files:
            assert form.encode() not in path.read_bytes(), f"{form!r} is in {path}"
    octane.assert_no_secret(done.text, log.text, page)


def job_page(octane: Octane, job_id: str) -> str:
    """The jobs page's ``/jobs/JOB`` for this test's store, served on 127.0.0.1."""
    args = cli.build_parser().parse_args(["serve", f"--task-store={octane.store}", "--port=0"])
    store = open_task_store(args)
    try:
        with JobsServer(args, store, port=0, quiet=True) as server:
            answer = requests.get(f"{server.url}/jobs/{job_id}", timeout=30)
    finally:
        store.close()
    assert answer.status_code == 200, answer.text
    return answer.text


# ---------------------------------------------------------------- point 11: huge answers

HUGE = 20 * 1024 * 1024


def test_a_huge_answer_is_not_read_in_full(octane: Octane, junit_xml: Path) -> None:
    """A 20 MB status answer: reading stops at the cap, the error says so, retry finishes."""
    hostile = True

    def tamper(method: str, path: str, answer: Answer) -> Answer:
        if hostile and method == "GET" and TASK_PATH.fullmatch(path):
            data = json.loads(answer.body)
            answer.body = json.dumps({**data, "padding": "x" * HUGE}).encode()
        return answer

    with hostile_proxy(octane.sim.url, tamper) as proxy:
        done = upload_via(octane, proxy, junit_xml, "--slice-size=10")
        lines = lines_without_traceback(done.text)
        assert done.code != 0
        assert any("is larger than 8 MiB, the most pytest-octane reads" in x for x in lines), lines
        hostile = False
        again = octane.cli(*printed(done.text, "retry"))
    assert again.code == 0, again.text
    assert len(octane.sim.tasks()) == 1
    octane.assert_every_run_once(RUNS)


def test_a_huge_error_answer_is_cut_and_the_error_says_so(octane: Octane, junit_xml: Path) -> None:
    def tamper(method: str, path: str, answer: Answer) -> Answer:
        if method == "POST" and path.endswith("/test-results"):
            body = b'{"error_code": "platform.bad", "description": "' + b"y" * HUGE + b'"}'
            return Answer(400, [("Content-Type", "application/json")], body)
        return answer

    with hostile_proxy(octane.sim.url, tamper) as proxy:
        done = upload_via(octane, proxy, junit_xml, "--slice-size=10")
    lines = lines_without_traceback(done.text)
    assert done.code != 0
    note = "(the answer was longer than 64 KiB; only that much was read)"
    assert any(note in line for line in lines), lines
    assert note in (octane.only_job().slices[0].last_error or "")
