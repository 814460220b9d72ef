"""The fault matrix: nothing lost, nothing duplicated, whatever Octane does to the upload.

Each test runs the generated 300-test suite in a real pytest process against the simulator,
with one fault armed at an exact request, follows the ``pytest-octane resume|retry`` command
the summary printed (at most one), and then requires:

* every test's run is in "Octane" exactly once for this build (identity + build context),
* the task store agrees: every slice Success, their run counts summing to what arrived, each
  slice's task holding exactly its runs,
* pytest's exit code is the suite's own (faults change it only with ``--octane-strict``).
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_octane.job.engine import JobOutcome
from pytest_octane.model import JobRecord, SliceStatus

SLOW_POST_MS = 1200
posix_only = pytest.mark.skipif(
    sys.platform == "win32", reason="SIGKILL and folder permission bits are POSIX"
)


def test_no_fault_is_the_control_row(harness) -> None:
    sim = harness.simulator()
    work = harness.work("control")
    first = harness.pytest(sim, sim.url, work, "control")
    assert first.follow_up() is None, first.describe()
    harness.check("no fault (control)", sim, work, "control", first=first)


def test_octane_down_at_session_start_then_resume(harness) -> None:
    gone = harness.simulator()
    url, port = gone.url, gone.port
    gone.stop()  # connection refused from the first request on
    work = harness.work("down")
    first = harness.pytest(None, url, work, "down", env=harness.env(gone))
    command = first.follow_up()
    assert command is not None and command[1] == "resume", first.describe()
    spooled = sorted((work / "spool").rglob("slice-*.xml"))
    assert len(spooled) == 12, first.describe()  # 300 runs in slices of 25, all on disk
    sim = harness.simulator(port=port)
    assert sim.url == url
    follow = harness.follow(command, sim)
    harness.check(
        "Octane down at session start (connection refused)",
        sim,
        work,
        "down",
        first=first,
        follow_up=follow,
    )


def test_octane_down_without_lookups_then_follow_summary(harness) -> None:
    """No JIRA keys and no application modules: the first request is a slice upload."""
    gone = harness.simulator()
    url, port = gone.url, gone.port
    gone.stop()
    work = harness.work("down-plain")
    env = harness.env(gone, REL_NO_JIRA="1")
    first = harness.pytest(None, url, work, "down-plain", root_module=False, env=env)
    command = first.follow_up()
    assert command is not None, first.describe()
    sim = harness.simulator(port=port)
    follow = harness.follow(command, sim)
    harness.check(
        "Octane down at session start, no JIRA/module lookups",
        sim,
        work,
        "down-plain",
        first=first,
        follow_up=follow,
    )


def test_session_expires_in_the_middle_of_the_job(harness) -> None:
    sim = harness.simulator(rotate_cookie_every=5)
    trigger = harness.trigger(sim, "POST */test-results", 3, sim.faults.expire_sessions)
    work = harness.work("expired")
    first = harness.pytest(sim, sim.url, work, "expired")
    assert trigger.fired.is_set()
    counters = sim.counters
    assert counters["unauthorized"] >= 1 and counters["sign_ins"] >= 2, counters
    harness.check(
        "401 in the middle of a job (sessions expired)", sim, work, "expired", first=first
    )


def test_queue_full_for_longer_than_all_slices_take(harness) -> None:
    """Octane's queue stays full for 3 s, longer than the whole upload needs when it is
    free (about 1 s); the uploader waits it out within its deadline."""
    sim = harness.simulator()

    def fill_queue() -> None:
        sim.faults.fail_next(
            "POST */test-results", 503, count=10_000, error_code="testbox.queue_full"
        )
        timer = threading.Timer(3.0, sim.faults.clear)
        timer.daemon = True
        timer.start()

    harness.trigger(sim, "POST */test-results", 1, fill_queue)
    work = harness.work("queue-wait")
    first = harness.pytest(sim, sim.url, work, "queue-wait")
    refused = [r for r in sim.request_log if r.error_code == "testbox.queue_full"]
    assert len(refused) >= 10, len(refused)
    harness.check(
        "queue full for longer than all slices take", sim, work, "queue-wait", first=first
    )


def test_queue_smaller_than_our_parallelism(harness) -> None:
    """Other uploaders leave room for two tasks; we run four uploads at once (sent after
    the tests, so all four surely start together: streamed slices may trickle out)."""
    sim = harness.simulator(queue_limit=2, processing_ms=100)
    work = harness.work("queue-small")
    first = harness.pytest(sim, sim.url, work, "queue-small", "--octane-stream=off")
    assert sim.counters["queue_full_rejections"] >= 1, sim.counters
    harness.check(
        "Octane queue (2) smaller than our parallelism (4)", sim, work, "queue-small", first=first
    )


def test_queue_full_past_the_deadline_then_resume(harness) -> None:
    sim = harness.simulator()
    sim.faults.fail_next("POST */test-results", 503, count=10_000, error_code="testbox.queue_full")
    work = harness.work("queue-deadline")
    first = harness.pytest(sim, sim.url, work, "queue-deadline", "--octane-queue-full-deadline=0.5")
    command = first.follow_up()
    assert command is not None and command[1] == "resume", first.describe()
    sim.faults.clear()
    follow = harness.follow(command, sim)
    harness.check(
        "queue full past the deadline", sim, work, "queue-deadline", first=first, follow_up=follow
    )


def test_burst_of_502_503_504(harness) -> None:
    sim = harness.simulator()

    def burst() -> None:
        sim.faults.fail_next("* *", 502, count=2)
        sim.faults.fail_next("* *", 503, count=2, json_body=False)  # a proxy's HTML page
        sim.faults.fail_next("* *", 504, count=1)

    harness.trigger(sim, "POST */test-results", 2, burst)
    work = harness.work("burst")
    first = harness.pytest(sim, sim.url, work, "burst")
    served = sorted(r.status for r in sim.request_log if r.status in (502, 503, 504))
    assert served == [502, 502, 503, 503, 504]
    harness.check("burst of 502/503/504", sim, work, "burst", first=first)


def test_connection_resets(harness) -> None:
    sim = harness.simulator()
    harness.trigger(sim, "POST */test-results", 2, lambda: sim.faults.reset_next("* *", count=4))
    work = harness.work("resets")
    first = harness.pytest(sim, sim.url, work, "resets")
    assert sum(1 for r in sim.request_log if r.status is None) == 4
    harness.check("connection resets", sim, work, "resets", first=first)


def test_answers_slower_than_the_read_timeout(harness) -> None:
    """Three answers come after the client gave up (the uploads are still processed)."""
    sim = harness.simulator()
    harness.trigger(
        sim,
        "POST */test-results",
        2,
        lambda: sim.faults.add_latency("* */test-results*", SLOW_POST_MS, count=3),
    )
    work = harness.work("slow")
    first = harness.pytest(sim, sim.url, work, "slow", "--octane-read-timeout=0.4")
    assert "did not answer" in (work / "store").joinpath(
        harness.job_id(work) + ".requests.jsonl"
    ).read_text(encoding="utf-8")
    harness.check("answers slower than the read timeout", sim, work, "slow", first=first)


def test_answers_slower_than_the_read_timeout_every_time_then_resume(harness) -> None:
    sim = harness.simulator()
    sim.faults.add_latency("POST */test-results", SLOW_POST_MS)
    work = harness.work("slow-always")
    first = harness.pytest(
        sim, sim.url, work, "slow-always", "--octane-read-timeout=0.3", "--octane-slice-size=100"
    )
    command = first.follow_up()
    assert command is not None and command[1] == "resume", first.describe()
    sim.faults.clear()
    _wait_for_late_posts(harness, sim, work)
    follow = harness.follow(command, sim)
    harness.check(
        "every answer slower than the read timeout",
        sim,
        work,
        "slow-always",
        first=first,
        follow_up=follow,
    )


def _wait_for_late_posts(harness, sim, work: Path) -> None:
    """The delayed uploads are handled after pytest gave up on them: wait until the
    simulator has logged as many uploads as the client sent (bounded)."""
    from pytest_octane.store import open_store

    store = open_store(str(work / "store"))
    try:
        sent = sum(
            1
            for e in store.read_requests(harness.job_id(work))
            if e.method == "POST" and e.url.split("?")[0].endswith("/test-results")
        )
    finally:
        store.close()
    deadline = time.monotonic() + 10 * SLOW_POST_MS / 1000
    while time.monotonic() < deadline:
        handled = sum(
            1 for r in sim.request_log if r.method == "POST" and r.path.endswith("/test-results")
        )
        if handled >= sent:
            break
        time.sleep(0.05)
    sim.wait_for_tasks(timeout=30)


def test_task_ends_failed_then_retry(harness) -> None:
    sim = harness.simulator()
    sim.faults.fail_next_tasks(2)
    work = harness.work("task-failed")
    first = harness.pytest(sim, sim.url, work, "task-failed")
    assert "Simulated processing failure" in first.stdout, first.describe()
    command = first.follow_up()
    assert command is not None and command[1] == "retry", first.describe()
    follow = harness.follow(command, sim)
    harness.check("a task ends `failed`", sim, work, "task-failed", first=first, follow_up=follow)


@posix_only
@pytest.mark.parametrize("stream", ["off", "on"])
def test_pytest_killed_mid_upload_then_resume(harness, stream: str) -> None:
    sim = harness.simulator(processing_ms=300)
    work = harness.work(f"killed-{stream}")
    argv = harness.pytest_argv(sim.url, work, f"killed-{stream}", f"--octane-stream={stream}")
    procs: list[subprocess.Popen[str]] = []
    # pytest and its uploader process (one process group, as a CI cancel kills them) are
    # killed while Octane receives the 5th slice. Off: after the tests, that upload is
    # processed, its task id never recorded; four earlier slices have task ids but are
    # unfinished; seven are unsent. On: while the tests still run, so what must arrive is
    # every result journaled by then (a test that never ended has no result to lose).
    trigger = harness.trigger(
        sim, "POST */test-results", 5, lambda: os.killpg(procs[0].pid, signal.SIGKILL)
    )
    proc = subprocess.Popen(
        argv,
        cwd=harness.suite.path,
        env=harness.env(sim),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    procs.append(proc)
    out, err = proc.communicate(timeout=120)
    assert trigger.fired.is_set() and proc.returncode == -signal.SIGKILL, (
        f"slices posted: {trigger.seen}, exit: {proc.returncode}\n{out[-3000:]}\n{err[-3000:]}"
    )
    job_id = harness.job_id(work)
    expected = harness.journaled_runs(work) if stream == "on" else None
    if expected is not None:
        assert len(expected) >= 5 * 25  # the five slices Octane was sent, at least
    command = shlex.split(
        _outcome_for(job_id, str(work / "store")).resume_command()
    )  # what the summary would have printed
    follow = harness.follow(command, sim)
    harness.check(
        f"pytest and its uploader killed mid-upload (SIGKILL to the group, stream {stream})",
        sim,
        work,
        f"killed-{stream}",
        first=None,
        follow_up=follow,
        expected=expected,
    )


def _outcome_for(job_id: str, store: str) -> JobOutcome:
    job = JobRecord(job_id=job_id, space_id=1001, workspace_id=1002, server="-", created_at=0)
    return JobOutcome(job=job, store_location=store)


def test_status_poll_answered_500_then_resume(harness) -> None:
    sim = harness.simulator()
    harness.trigger(
        sim, "GET */test-results/*", 3, lambda: sim.faults.fail_next("GET */test-results/*", 500)
    )
    work = harness.work("poll-500")
    first = harness.pytest(sim, sim.url, work, "poll-500")
    command = first.follow_up()
    assert command is not None and command[1] == "resume", first.describe()
    follow = harness.follow(command, sim)
    harness.check(
        "one status poll answered HTTP 500", sim, work, "poll-500", first=first, follow_up=follow
    )


def _read_only_store(harness, label: str, work_name: str, job: str, *extra: str) -> Any:
    """A session whose task store folder (``work/store``) is read-only, followed up and
    checked (the store cannot hold the job); what the session printed."""
    sim = harness.simulator()
    work = harness.work(work_name)
    folder = work / "store"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        prefix = harness.unprivileged_prefix(folder)
        first = harness.pytest(sim, sim.url, work, job, *extra, prefix=prefix)
        command = first.follow_up()
        follow = harness.follow(command, sim) if command else None
        harness.check(label, sim, work, job, first=first, follow_up=follow, check_store=False)
    finally:
        folder.chmod(0o755)
    return first


@posix_only
def test_task_store_folder_read_only(harness) -> None:
    first = _read_only_store(harness, "task store folder read-only", "read-only", "read-only")
    assert "task store" in first.stdout, first.describe()


@posix_only
def test_task_store_and_spool_share_a_read_only_folder(harness) -> None:
    folder = harness.work("read-only-shared") / "store"
    _read_only_store(
        harness,
        "task store and spool in one read-only folder (the default layout)",
        "read-only-shared",
        "ro-shared",
        f"--octane-spool-dir={folder}",
    )


@pytest.mark.parametrize(
    ("fault", "strict", "expected_exit"),
    [
        ("task-failed", False, pytest.ExitCode.OK),
        ("task-failed", True, pytest.ExitCode.TESTS_FAILED),
        ("burst", True, pytest.ExitCode.OK),
    ],
)
def test_exit_code_changes_only_with_strict(harness, fault, strict, expected_exit) -> None:
    """A green suite: an upload that ends with a failed slice keeps exit 0 unless
    ``--octane-strict``; a fault the uploader recovers from never changes it."""
    sim = harness.simulator()
    if fault == "task-failed":
        sim.faults.fail_next_tasks(1)
    else:
        harness.trigger(sim, "POST */test-results", 2, lambda: sim.faults.fail_next("* *", 503))
    work = harness.work("strict")
    extra = ["--octane-strict"] if strict else []
    first = harness.pytest(
        sim, sim.url, work, "strict", *extra, env=harness.env(sim, REL_GREEN="1")
    )
    assert first.returncode == expected_exit, first.describe()
    assert "Traceback" not in first.output
    job = _single_job(work)
    want = SliceStatus.FAILED if fault == "task-failed" else SliceStatus.SUCCESS
    assert job.status is want


def _single_job(work: Path) -> JobRecord:
    from pytest_octane.store import open_store

    store = open_store(str(work / "store"))
    try:
        (job,) = store.list_jobs()
    finally:
        store.close()
    return job


@pytest.mark.parametrize("kind", ["resume", "retry"])
def test_printed_command_survives_a_path_with_spaces(kind) -> None:
    location = "/home/ci user/octane task logs"
    outcome = _outcome_for("20261125-101500-ab12cd34", location)
    text = outcome.resume_command() if kind == "resume" else outcome.retry_command()
    assert shlex.split(text)[-2:] == ["--task-store", location], text
