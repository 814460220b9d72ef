"""``--octane-stream=on``: slices are sent while the tests run, and a killed or interrupted
session leaves every spooled slice for ``resume``, with every run in Octane once."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import textwrap
from pathlib import Path
from urllib.parse import unquote

import pytest
from cli_harness import Octane, wait_until

from pytest_octane.job.journal import read_journal
from pytest_octane.job.run.journaled import INTERRUPTED_EVENT, journal_of
from pytest_octane.model import JobRecord, SliceStatus

SLOW_SUITE = """
import time

import pytest


@pytest.mark.parametrize("n", range({tests}))
def test_slow(n):
    time.sleep({sleep})
    if n == {tests} - 1:
        with open("last-test-ended", "w") as fh:
            fh.write(repr(time.time()))
"""

#: A background job of a non-interactive shell (`bash .ci/run &`) ignores SIGINT, and so does
#: every process it starts: Python then installs no KeyboardInterrupt handler and the Ctrl-C
#: is lost (the session runs to its end, exit 0). The suite's conftest gives its pytest the
#: Ctrl-C of a terminal back.
TERMINAL_CTRL_C = """
import signal

signal.signal(signal.SIGINT, signal.default_int_handler)
"""

RERUN_SUITE = """
import pytest

ATTEMPTS = {{}}


@pytest.mark.parametrize("n", range({tests}))
def test_flaky(n):
    ATTEMPTS[n] = ATTEMPTS.get(n, 0) + 1
    assert n % 7 or ATTEMPTS[n] > 1, "fails once"
"""


#: The first slice's last test waits until the look-ahead has been to the simulator and the
#: simulator has then had no request for longer than its 0.3 s idle timeout: the first slice is
#: sent after that, on an expired session, however slowly a loaded machine runs either process.
IDLE_SUITE = """
import json
import time
import urllib.request

import pytest


def _requests():
    with urllib.request.urlopen("{state}", timeout=10) as answer:
        return [r["path"] for r in json.load(answer)["request_log"]]


@pytest.mark.parametrize("n", range(20))
def test_idle(n):
    if n != 9:
        return
    deadline = time.monotonic() + 60
    seen, quiet_since = _requests(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = _requests()
        if now != seen:
            seen, quiet_since = now, time.monotonic()
        elif any(p.endswith("/stories") for p in seen) and time.monotonic() - quiet_since > 0.6:
            return
    raise AssertionError(f"the look-ahead never went quiet: {{seen}}")
"""


def write(octane: Octane, text: str) -> Path:
    folder = octane.root / "suite"
    folder.mkdir(exist_ok=True)
    (folder / "test_stream.py").write_text(textwrap.dedent(text))
    return folder


def result_posts(octane: Octane) -> list[float]:
    return [
        r.time
        for r in octane.sim.request_log
        if r.method == "POST" and r.path.endswith("/test-results")
    ]


@pytest.mark.octane_simulator(processing_ms=50)
@pytest.mark.parametrize("backend", ["json", "sqlite", "postgresql"], indirect=True)
def test_slices_are_sent_while_the_tests_run(octane: Octane) -> None:
    suite = write(octane, SLOW_SUITE.format(tests=400, sleep=0.005))
    done = octane.run_pytest(
        suite, "--octane-stream=on", "--octane-slice-size=50", "--octane-max-parallel=2"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    last_test_ended = float((suite / "last-test-ended").read_text())
    posts = result_posts(octane)
    assert len(posts) == 8
    assert min(posts) < last_test_ended, "no slice was sent before the last test ended"
    job = octane.only_job()
    assert job.status is SliceStatus.SUCCESS and job.finished_at is not None
    assert [s.index for s in job.slices] == list(range(1, 9))
    assert octane.sim.counters["max_in_flight"] <= 2
    octane.assert_every_run_once(400)
    assert "runs: 400 Passed" in done.stdout


@pytest.mark.octane_simulator(processing_ms=30)
@pytest.mark.parametrize("args", [("-n", "2"), ("-p", "no:xdist", "--reruns", "1")])
def test_xdist_and_reruns_stream_each_final_run_once(octane: Octane, args: tuple[str]) -> None:
    suite = write(octane, RERUN_SUITE.format(tests=120))
    extra = ("--reruns", "1") if args[0] == "-n" else ()
    done = octane.run_pytest(suite, "--octane-stream=on", "--octane-slice-size=25", *args, *extra)
    assert done.returncode == 0, done.stdout + done.stderr
    job = octane.only_job()
    assert job.status is SliceStatus.SUCCESS
    assert sum(s.run_count for s in job.slices) == 120
    octane.assert_every_run_once(120)
    assert all(r["status"] == "Passed" for r in octane.sim.runs())


def _started(octane: Octane, tests: int) -> subprocess.Popen[bytes]:
    suite = write(octane, SLOW_SUITE.format(tests=tests, sleep=0.01))
    (suite / "conftest.py").write_text(TERMINAL_CTRL_C)
    return octane.start_pytest(
        suite,
        "--octane-stream=on",
        "--octane-slice-size=50",
        "--octane-max-parallel=2",
        "-p",
        "no:xdist",
    )


def _some_slice_sent(octane: Octane) -> bool:
    jobs = octane.jobs()
    return bool(jobs) and any(s.task_id is not None for s in jobs[0].slices)


def _journaled(octane: Octane, job: JobRecord) -> int:
    """How many results the job's journal holds (every test that finished)."""
    path = journal_of(job)
    assert path is not None, job.settings
    return len(read_journal(path).runs)


def _killed_mid_run(octane: Octane, *, group: bool) -> JobRecord:
    """SIGKILL pytest (``group``: and its uploader) once a streamed slice was sent."""
    process = _started(octane, tests=3000)
    try:
        wait_until(lambda: _some_slice_sent(octane), timeout=60, what="a streamed slice")
        if group:
            os.killpg(process.pid, signal.SIGKILL)  # a CI cancel: pytest and its uploader
        else:
            os.kill(process.pid, signal.SIGKILL)  # the OOM killer, a timeout's os._exit
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return octane.only_job()


@pytest.mark.octane_simulator(processing_ms=50)
@pytest.mark.parametrize("backend", ["json", "sqlite"], indirect=True)
def test_a_session_killed_mid_run_is_uploaded_by_its_uploader(octane: Octane) -> None:
    _killed_mid_run(octane, group=False)
    # no command afterwards: the uploader saw pytest go and sends every journaled result
    wait_until(
        lambda: octane.only_job().finished_at is not None, timeout=120, what="the uploader's end"
    )
    job = octane.only_job()
    journaled = _journaled(octane, job)
    assert 0 < journaled < 3000, "the kill did not land while the tests ran"
    assert job.status is SliceStatus.SUCCESS
    assert sum(s.run_count for s in job.slices) == journaled
    [interrupted] = [e for e in job.history if e["event"] == INTERRUPTED_EVENT]
    assert interrupted["runs"] == journaled
    octane.sim.wait_for_tasks()
    octane.assert_every_run_once(journaled)


@pytest.mark.octane_simulator(processing_ms=50)
@pytest.mark.parametrize("backend", ["json", "sqlite"], indirect=True)
def test_a_session_group_killed_mid_run_is_finished_by_resume(octane: Octane) -> None:
    job = _killed_mid_run(octane, group=True)
    octane.sim.wait_for_tasks()
    assert job.finished_at is None
    spooled = sum(s.run_count for s in job.slices)
    journaled = _journaled(octane, job)
    assert 0 < spooled <= journaled < 3000, "the kill did not land while the tests ran"
    resumed = octane.cli("resume", job.job_id, f"--task-store={octane.store}")
    assert resumed.code == 0, resumed.text
    after = octane.only_job()
    assert after.status is SliceStatus.SUCCESS
    assert sum(s.run_count for s in after.slices) == journaled
    octane.assert_every_run_once(journaled)


@pytest.mark.octane_simulator(processing_ms=50)
def test_ctrl_c_mid_run_uploads_what_ran_and_resume_has_nothing_left(octane: Octane) -> None:
    process = _started(octane, tests=3000)
    try:
        wait_until(lambda: _some_slice_sent(octane), timeout=60, what="a streamed slice")
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=60) == 2  # pytest's "interrupted"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    job = octane.only_job()
    ran = sum(s.run_count for s in job.slices)
    assert 0 < ran < 3000
    if job.status is not SliceStatus.SUCCESS:
        resumed = octane.cli("resume", job.job_id, f"--task-store={octane.store}")
        assert resumed.code == 0, resumed.text
    assert octane.only_job().status is SliceStatus.SUCCESS
    octane.sim.wait_for_tasks()
    octane.assert_every_run_once(ran)


STOP_SUITE = """
import pytest


@pytest.mark.parametrize("n", range(100))
def test_until(n):
    assert n != 60, "stops the session with -x"
"""


@pytest.mark.parametrize("broken", [False, True], ids=["dash-x", "collection-error"])
def test_x_and_a_collection_error_still_upload_what_ran(octane: Octane, broken: bool) -> None:
    suite = write(octane, STOP_SUITE)
    if broken:
        (suite / "test_broken.py").write_text("def test_(:\n")
    done = octane.run_pytest(suite, "--octane-stream=on", "--octane-slice-size=25", "-x")
    assert done.returncode in (1, 2), done.stdout + done.stderr
    job = octane.only_job()
    assert job.status is SliceStatus.SUCCESS, done.stdout
    expected = 1 if broken else 61  # the collection error's run; or 60 passed, 1 failed
    assert sum(s.run_count for s in job.slices) == expected
    octane.assert_every_run_once(expected)


def test_stream_is_on_by_default_and_off_from_every_source() -> None:
    from pytest_octane.settings import OPTIONS, resolve_settings

    assert resolve_settings(cli={}, environ={}, ini={}).stream is True
    assert resolve_settings(cli={"stream": "off"}, environ={}, ini={}).stream is False
    assert resolve_settings(cli={}, environ={"OCTANE_STREAM": "off"}, ini={}).stream is False
    assert resolve_settings(cli={}, environ={}, ini={"stream": "false"}).stream is False
    [spec] = [o for o in OPTIONS if o.name == "stream"]
    assert (spec.flag, spec.ini, spec.spaces_key) == (
        "--octane-stream",
        "octane_stream",
        "streamUploads",
    )


FIRST_FILE = """
import pytest

pytestmark = pytest.mark.jira("LA-1")


@pytest.mark.parametrize("n", range(30))
def test_first(n):
    if n == {stop_at}:
        pytest.exit("enough for today", returncode=0)
"""

SECOND_FILE = """
import pytest

pytestmark = pytest.mark.jira("{key}")


@pytest.mark.parametrize("n", range(30))
def test_second(n):
    pass
"""


def _look_ahead_suite(octane: Octane, *, stop_at: int, second_key: str) -> Path:
    folder = octane.root / "suite"
    folder.mkdir(exist_ok=True)
    (folder / "test_a_first.py").write_text(textwrap.dedent(FIRST_FILE.format(stop_at=stop_at)))
    (folder / "test_b_second.py").write_text(textwrap.dedent(SECOND_FILE.format(key=second_key)))
    return folder


def test_collected_tests_stories_and_modules_are_ready_before_the_first_slice(
    octane: Octane,
) -> None:
    octane.sim.add_story("LA-1")
    octane.sim.add_story("LA-2")
    suite = _look_ahead_suite(octane, stop_at=-1, second_key="LA-2")
    done = octane.run_pytest(
        suite, "--octane-slice-size=25", "--octane-root-module=Look Ahead", "-p", "no:xdist"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    log = octane.sim.request_log
    first_post = next(
        i for i, r in enumerate(log) if r.method == "POST" and r.path.endswith("/test-results")
    )
    before = log[:first_post]
    # the second file's tests end in the second and third slices: without the look-ahead
    # its key and its module would wait for the second slice
    assert any(r.path.endswith("/stories") and "LA-2" in unquote(r.query) for r in before)
    assert sum(r.method == "POST" and r.path.endswith("/application_modules") for r in before)
    assert not any(r.path.endswith("/stories") for r in log[first_post:])
    octane.assert_every_run_once(60)
    assert len({tuple(r["product_areas"]) for r in octane.sim.runs()}) == 2  # one per file


@pytest.mark.parametrize("strict", [False, True], ids=["plain", "strict"])
def test_keys_of_tests_that_never_ran_are_not_unmapped(octane: Octane, strict: bool) -> None:
    octane.sim.add_story("LA-1")
    suite = _look_ahead_suite(octane, stop_at=10, second_key="LA-404")
    args = ["--octane-strict"] if strict else []
    done = octane.run_pytest(suite, "--octane-slice-size=25", "-p", "no:xdist", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "LA-404" not in done.stdout.split("octane ---")[-1]  # looked up, never reported
    assert "no Octane story" not in done.stdout
    job = octane.only_job()
    assert job.status is SliceStatus.SUCCESS
    ran = sum(s.run_count for s in job.slices)
    assert ran == 10
    octane.assert_every_run_once(ran)


@pytest.mark.parametrize("stream", ["on", "off"])
def test_a_session_with_no_test_sends_nothing(octane: Octane, stream: str) -> None:
    suite = write(octane, "def helper():\n    pass\n")
    done = octane.run_pytest(suite, f"--octane-stream={stream}")
    assert done.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, done.stdout + done.stderr
    assert "runs: none" in done.stdout
    assert "finishing the upload" not in done.stdout
    assert octane.sim.request_log == []


@pytest.mark.octane_simulator(idle_timeout_s=0.3)
def test_a_session_that_idles_out_after_the_look_ahead_signs_in_again(octane: Octane) -> None:
    # the first slice is sent after Octane's idle timeout has run out: the sign-in made at the
    # end of collection has expired when it is sent (VALIDATION_TOKEN_EXPIRED_IDLE_TIME_OUT)
    octane.sim.add_story("LA-1")
    suite = write(octane, IDLE_SUITE.format(state=octane.sim.url + "/__simulator__/state"))
    (suite / "conftest.py").write_text(
        "import pytest\n\n\ndef pytest_collection_modifyitems(items):\n"
        "    for item in items:\n        item.add_marker(pytest.mark.jira('LA-1'))\n"
    )
    done = octane.run_pytest(suite, "--octane-slice-size=10", "-p", "no:xdist")
    assert done.returncode == 0, done.stdout + done.stderr
    log = octane.sim.request_log
    first_post = next(
        i for i, r in enumerate(log) if r.method == "POST" and r.path.endswith("/test-results")
    )
    assert any(r.path.endswith("/stories") for r in log[:first_post])  # looked up ahead
    assert sum(r.path.endswith("/sign_in") for r in log) >= 2
    assert any(r.status == 401 for r in log)
    assert octane.only_job().status is SliceStatus.SUCCESS
    octane.assert_every_run_once(20)


#: The test after the cut waits (at most 60 s) until the first slice's POST has reached the
#: simulator, and writes down that it saw it: the slice is sent while tests still run.
TAIL_SUITE = """
import json
import time
import urllib.request

import pytest


def _posts():
    with urllib.request.urlopen("{state}", timeout=10) as answer:
        log = json.load(answer)["request_log"]
    return [r for r in log if r["method"] == "POST" and r["path"].endswith("/test-results")]


@pytest.mark.parametrize("n", range(250))
def test_tail(n):
    if n != {first_after_cut}:
        return
    deadline = time.monotonic() + 60
    while not _posts():
        assert time.monotonic() < deadline, "the first slice was not sent at its cut"
        time.sleep(0.02)
    with open("posted-before-the-last-tests", "w") as fh:
        fh.write("yes")
"""


@pytest.mark.parametrize("stream", ["on", "off"])
def test_the_last_slice_is_cut_in_two_and_most_of_it_sent_before_the_end(
    octane: Octane, stream: str
) -> None:
    """Issue 28: 250 tests in slices of 1,000 would be one slice sent when the session ends;
    all but its last eighth (31 runs) are sent while the last tests still run, so the
    session waits for the task of 31 runs only.  With streaming off nothing is sent before
    the end: one slice, as before."""
    cut = 250 - 250 // 8
    state = octane.sim.url + "/__simulator__/state"
    first_after_cut = cut if stream == "on" else -1
    suite = write(octane, TAIL_SUITE.format(state=state, first_after_cut=first_after_cut))
    done = octane.run_pytest(suite, "-p", "no:xdist", f"--octane-stream={stream}")
    assert done.returncode == 0, done.stdout + done.stderr
    job = octane.only_job()
    assert job.status is SliceStatus.SUCCESS
    journal_path = journal_of(job)
    assert journal_path is not None
    if stream == "on":
        assert (suite / "posted-before-the-last-tests").read_text() == "yes"
        assert [(s.index, s.run_count) for s in job.slices] == [(1, cut), (2, 250 - cut)]
        assert read_journal(journal_path).expected == 250
    else:
        assert [(s.index, s.run_count) for s in job.slices] == [(1, 250)]
        assert read_journal(journal_path).expected is None
    octane.assert_every_run_once(250)


def _uploader_of(pid: int) -> int | None:
    """The uploader process pytest ``pid`` started (Linux /proc), if it runs."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            if b"pytest_octane.uploader" in Path(f"/proc/{child}/cmdline").read_bytes():
                return int(child)
    return None


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the child in /proc")
@pytest.mark.octane_simulator(processing_ms=50)
def test_an_uploader_killed_mid_run_leaves_its_job_to_resume_from_the_journal(
    octane: Octane,
) -> None:
    suite = write(octane, SLOW_SUITE.format(tests=600, sleep=0.01))
    process = octane.start_pytest(
        suite, "--octane-slice-size=50", "-p", "no:xdist", output=subprocess.PIPE
    )
    try:
        wait_until(lambda: _some_slice_sent(octane), timeout=60, what="a streamed slice")
        uploader = _uploader_of(process.pid)
        assert uploader is not None
        os.kill(uploader, signal.SIGKILL)  # the OOM killer picks the uploader
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    text = out.decode() + err.decode()
    assert process.returncode == 0, text  # the tests passed: the upload is not a test
    assert "Traceback" not in text, text
    assert "the uploader process ended (exit -9) before it finished" in text, text
    match = re.search(r"to upload them run (pytest-octane resume \S+ --task-store \S+)", text)
    assert match, text
    job = octane.only_job()
    assert sum(s.run_count for s in job.slices) < 600  # the rest is in the journal only
    resumed = octane.cli(*shlex.split(match.group(1))[1:])
    assert resumed.code == 0, resumed.text
    assert octane.only_job().status is SliceStatus.SUCCESS
    octane.sim.wait_for_tasks()
    octane.assert_every_run_once(600)
