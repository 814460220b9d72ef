"""What the terminal shows during and after an upload, on a TTY and in a CI log."""

from __future__ import annotations

import pytest

import pytest_octane.job.engine  # noqa: F401  (see test_plugin_upload.py)
from pytest_octane.job.events import UploadState
from pytest_octane.plugin.uploading import TerminalProgress
from pytest_octane.simulator import Simulator
from tests.octane_env import OctaneEnv

pytestmark = pytest.mark.octane_simulator(processing_ms=10)


def drive(state: UploadState) -> None:
    state.started(3)
    for index in (1, 2, 3):
        state.slice_begins()
        state.slice_sent(index, 100 + index)
    state.waited(
        "queue_full",
        10.0,
        "POST test-results (slice 3): HTTP 503 testbox.queue_full; retry 1 in 10 s",
    )
    state.slice_ends(1, True, "task 101 success")
    state.slice_ends(2, False, "task 102 failed")
    state.slice_ends(3, True, "task 103 success")


def test_a_tty_gets_one_line_rewritten_in_place() -> None:
    lines: list[str] = []
    rewrites: list[str] = []
    state = UploadState()
    state.listen(TerminalProgress(write_line=lines.append, rewrite=rewrites.append, verbosity=0))
    drive(state)
    assert lines == []  # nothing scrolls at normal verbosity
    assert rewrites[-1] == "octane: 3/3 slices done, 1 failed, 0 in flight, 1 queue-full waits"


def test_a_ci_log_gets_one_line_per_event_that_matters() -> None:
    lines: list[str] = []
    state = UploadState()
    state.listen(TerminalProgress(write_line=lines.append, rewrite=None, verbosity=0))
    drive(state)
    assert lines == [
        "octane: POST test-results (slice 3): HTTP 503 testbox.queue_full; retry 1 in 10 s",
        "octane: slice 1: task 101 success (1/3)",
        "octane: slice 2: task 102 failed (2/3)",
        "octane: slice 3: task 103 success (3/3)",
    ]


def test_verbose_adds_each_sent_slice_and_quiet_shows_nothing() -> None:
    verbose: list[str] = []
    quiet: list[str] = []
    state = UploadState()
    state.listen(TerminalProgress(write_line=verbose.append, rewrite=None, verbosity=1))
    state.listen(TerminalProgress(write_line=quiet.append, rewrite=None, verbosity=-1))
    drive(state)
    assert sum("sent, task" in line for line in verbose) == 3
    assert quiet == []


def test_the_final_block_and_the_quiet_line(
    pytester: pytest.Pytester, sim: Simulator, octane_env: OctaneEnv
) -> None:
    pytester.makepyfile(
        "import pytest\n@pytest.mark.parametrize('n', range(5))\ndef test_n(n):\n    pass\n"
    )
    result = pytester.runpytest(*octane_env.pytest_args("--octane-slice-size=2"))
    result.stdout.fnmatch_lines(
        [
            "*- octane -*",
            "runs: 5 Passed",
            "job *: 5 runs in 3 slice(s) to shared space 1001, workspace 1002*",
            "slices: 3 ok, 0 failed, 0 unfinished",
            f"Octane: {sim.url}/ui/?p=1001/1002",
            "task ids (slice:task): 1:*, 2:*, 3:*",
        ]
    )
    sim.faults.fail_next_tasks(1)
    quiet = pytester.runpytest(*octane_env.pytest_args("--octane-slice-size=2"), "-q")
    quiet.stdout.fnmatch_lines(
        ["octane: job *: 2/3 slices uploaded: slice *: *; run: pytest-octane retry *"]
    )
    assert "- octane -" not in quiet.stdout.str()


def test_a_retry_line_names_the_request_the_cause_and_the_retry(
    pytester: pytest.Pytester, sim: Simulator, octane_env: OctaneEnv
) -> None:
    pytester.makepyfile("def test_one():\n    pass\n")
    sim.faults.fail_next("POST */test-results", 503, count=2, error_code="testbox.queue_full")
    sim.faults.fail_next("GET */test-results/*", 502, count=1)
    result = pytester.runpytest(
        *octane_env.pytest_args("--octane-slice-size=2"), "--octane-queue-full-retry=0.1"
    )
    result.stdout.fnmatch_lines(
        [
            "octane: POST test-results (slice 1): HTTP 503 testbox.queue_full; retry 1 in 0.1 s",
            "octane: POST test-results (slice 1): HTTP 503 testbox.queue_full; retry 2 in 0.1 s",
            "octane: GET test-results/*: HTTP 502 *; retry 1 in * s",
        ]
    )
    assert "trying again" not in result.stdout.str()
