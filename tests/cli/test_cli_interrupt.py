"""Ctrl-C during the upload phase of a real pytest process (issue 17 point 4).

The simulator processes each task slowly, so the upload is surely under way when SIGINT
arrives: after the tests are over (the uploader says so) and the first slice reached it.
Ctrl-C while the tests still run is pytest's own; see test_cli_stream. Every wait is bounded.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import threading
import time
from typing import IO

import pytest
from cli_harness import SUBPROCESS_TIMEOUT, Octane, wait_until

from pytest_octane.job.stream import FINISHING
from pytest_octane.model import SliceStatus
from pytest_octane.simulator.faults import FaultAction

TESTS = 10  # write_suite(params=7)
FLAGS = ("--octane-slice-size=1", "--octane-max-parallel=2", "--octane-poll-timeout=60")


class Session:
    """A pytest process whose output is read as it comes, so a test can wait for a line."""

    def __init__(self, octane: Octane) -> None:
        self.process = octane.start_pytest(
            octane.write_suite(params=7), *FLAGS, output=subprocess.PIPE
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self.readers = [
            threading.Thread(target=self._read, args=(pipe, into), daemon=True)
            for pipe, into in ((self.process.stdout, self.out), (self.process.stderr, self.err))
        ]
        for reader in self.readers:
            reader.start()

    @staticmethod
    def _read(pipe: IO[bytes] | None, into: list[str]) -> None:
        assert pipe is not None
        for line in pipe:
            into.append(line.decode("utf-8", "replace"))

    def wait_for_upload_phase(self) -> None:
        """Until the tests are over and the upload goes on (Ctrl-C then stops sending)."""
        wait_until(
            lambda: any(FINISHING in line for line in self.out) or self.process.poll() is not None,
            timeout=SUBPROCESS_TIMEOUT,
            what="the end of the tests",
        )
        assert self.process.poll() is None, "pytest ended before the upload phase"

    def finish(self) -> tuple[int, str]:
        try:
            self.process.wait(timeout=SUBPROCESS_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"pytest did not stop after Ctrl-C:\n{self.text}") from None
        for reader in self.readers:
            reader.join(timeout=10)
        return self.process.returncode, self.text

    @property
    def text(self) -> str:
        return "".join(self.out) + "".join(self.err)


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
    session = Session(octane)
    session.wait_for_upload_phase()
    wait_until(lambda: octane.posts() >= 1, timeout=SUBPROCESS_TIMEOUT, what="the first upload")
    os.kill(session.process.pid, signal.SIGINT)
    code, text = session.finish()
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
    session = Session(octane)
    session.wait_for_upload_phase()
    wait_until(
        lambda: any(re.fullmatch(r"GET .*/test-results/\d+", r) for r in arrived),
        timeout=SUBPROCESS_TIMEOUT,
        what="a status poll in flight",
    )
    os.kill(session.process.pid, signal.SIGINT)
    time.sleep(0.3)  # not a timing assertion: only lets the first one be handled first
    os.kill(session.process.pid, signal.SIGINT)
    code, text = session.finish()
    assert code == 130, text
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
    assert "Ctrl-C again: stopped at once; to finish the upload later run:" in text
    assert_consistent(octane)
    octane.sim.faults.clear()
    resume(octane, text)
    octane.assert_every_run_once(TESTS)


# ---------------------------------------------------------------- issue 24 point 5

#: An inner conftest that presses Ctrl-C (SIGINT to its own process) when the first slice
#: file is being written: deterministic, whichever thread spools.
CTRL_C_WHILE_SPOOLING = """
import os
import signal

from pytest_octane.octane import results_xml

_real = results_xml.write_document
_pressed = []


def _pressing(*args, **kwargs):
    if not _pressed:
        _pressed.append(True)
        os.kill(os.getpid(), signal.SIGINT)
    return _real(*args, **kwargs)


results_xml.write_document = _pressing
"""


@pytest.mark.parametrize(
    ("stream", "size"),
    # streaming: one slice, so that it is spooled only after the tests (a Ctrl-C while the
    # tests still run is pytest's own)
    [("off", 4), ("on", 20)],
)
def test_ctrl_c_while_the_slices_are_spooled_prints_one_line_and_the_resume_command(
    octane: Octane, stream: str, size: int
) -> None:
    """No traceback: what was spooled is recorded, nothing is sent, and the printed
    ``resume`` uploads every run once."""
    suite = octane.write_suite(params=7)
    (suite / "conftest.py").write_text(CTRL_C_WHILE_SPOOLING)
    done = octane.run_pytest(
        suite, f"--octane-stream={stream}", f"--octane-slice-size={size}",
        "--octane-max-parallel=1",
    )  # fmt: skip
    text = done.stdout + done.stderr
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
    assert done.returncode == pytest.ExitCode.INTERRUPTED, text
    assert "error: interrupted (Ctrl-C)" in text, text
    if stream == "off":
        assert octane.posts() == 0, text  # stopped before the first request
    resume(octane, text)
    octane.assert_every_run_once(TESTS)


@pytest.mark.parametrize("first", ["while spooling", "none"])
def test_a_ctrl_c_in_pytest_unconfigure_prints_one_line(octane: Octane, first: str) -> None:
    """A Ctrl-C that lands in pytest's ``pytest_unconfigure``, after the summary (the second
    one, after a first while spooling; or the only one): one line, exit 130, no traceback."""
    suite = octane.write_suite(params=7)
    (suite / "conftest.py").write_text(
        (CTRL_C_WHILE_SPOOLING if first != "none" else "import os\nimport signal\n")
        + "\n\ndef pytest_unconfigure(config):\n    os.kill(os.getpid(), signal.SIGINT)\n"
    )
    done = octane.run_pytest(suite, "--octane-stream=off")
    text = done.stdout + done.stderr
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
    assert done.returncode == 130, text
    last = done.stderr.strip().splitlines()[-1]
    if first == "none":
        assert "slices: 1 ok" in done.stdout  # the summary was not lost
        assert last == "pytest-octane: Ctrl-C: stopped at once (the upload had ended)", text
        octane.assert_every_run_once(TESTS)
        return
    assert "error: interrupted (Ctrl-C)" in done.stdout  # the summary was not lost
    assert last.startswith("pytest-octane: Ctrl-C again: stopped at once; to finish"), text
    assert "pytest-octane resume" in last
    resume(octane, text)
    octane.assert_every_run_once(TESTS)
