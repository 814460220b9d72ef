"""Ctrl-C during the upload phase of a real pytest process (issue 17 point 4).

The simulator processes each task slowly, so the upload is surely under way when SIGINT
arrives (after the first slice reached it). Every wait is bounded.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import time

import pytest
from cli_harness import SUBPROCESS_TIMEOUT, Octane, wait_until

from pytest_octane.model import SliceStatus
from pytest_octane.simulator.faults import FaultAction

TESTS = 10  # write_suite(params=7)
FLAGS = ("--octane-slice-size=1", "--octane-max-parallel=2", "--octane-poll-timeout=60")


def start(octane: Octane) -> subprocess.Popen[bytes]:
    return octane.start_pytest(octane.write_suite(params=7), *FLAGS, output=subprocess.PIPE)


def finish(process: subprocess.Popen[bytes]) -> tuple[int, str]:
    try:
        out, err = process.communicate(timeout=SUBPROCESS_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"pytest did not stop after Ctrl-C:\n{out!r}\n{err!r}") from None
    return process.returncode, (out + err).decode("utf-8", "replace")


def resume(octane: Octane, output: str) -> None:
    match = re.search(r"run: (pytest-octane resume \S+ --task-store \S+)", output)
    assert match, output
    done = octane.cli(*shlex.split(match.group(1))[1:])
    assert done.code == 0, done.text


def assert_consistent(octane: Octane) -> None:
    """Every slice is done, or Running and resumable; none was marked Failed by the stop."""
    job = octane.only_job()
    statuses = {s.status for s in job.slices}
    assert SliceStatus.FAILED not in statuses, job
    assert SliceStatus.RUNNING in statuses, "the interrupt came too late to test anything"


@pytest.mark.octane_simulator(processing_ms=1500)
def test_first_ctrl_c_stops_sending_and_prints_the_resume_command(octane: Octane) -> None:
    process = start(octane)
    wait_until(lambda: octane.posts() >= 1, timeout=SUBPROCESS_TIMEOUT, what="the first upload")
    os.kill(process.pid, signal.SIGINT)
    code, text = finish(process)
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
    assert code == pytest.ExitCode.INTERRUPTED, text
    assert "Ctrl-C: sending no more slices" in text
    assert "error: interrupted (Ctrl-C)" in text
    assert octane.posts() < TESTS  # it stopped sending
    assert_consistent(octane)
    resume(octane, text)
    octane.assert_every_run_once(TESTS)


def test_second_ctrl_c_exits_at_once_and_the_store_stays_resumable(octane: Octane) -> None:
    # status polls answered after 8 s: after the first Ctrl-C they are still in flight
    octane.sim.faults.add_latency("GET */test-results/*", 8000)
    arrived: list[str] = []
    on_request = octane.sim.faults.on_request

    def noting(method: str, path: str) -> FaultAction:
        arrived.append(f"{method} {path}")  # before the latency: the request is in flight
        return on_request(method, path)

    octane.sim.faults.on_request = noting  # type: ignore[method-assign]
    process = start(octane)
    wait_until(
        lambda: any(re.fullmatch(r"GET .*/test-results/\d+", r) for r in arrived),
        timeout=SUBPROCESS_TIMEOUT,
        what="a status poll in flight",
    )
    os.kill(process.pid, signal.SIGINT)
    time.sleep(0.3)  # not a timing assertion: only lets the first one be handled first
    os.kill(process.pid, signal.SIGINT)
    code, text = finish(process)
    assert code == 130, text
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
    assert "Ctrl-C again: stopped at once; to finish the upload later run:" in text
    assert_consistent(octane)
    octane.sim.faults.clear()
    resume(octane, text)
    octane.assert_every_run_once(TESTS)
