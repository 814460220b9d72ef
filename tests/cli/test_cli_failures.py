"""Failure paths of a real pytest run: one-line reasons, Failed vs resumable, credentials, strict.

Each test runs pytest as a subprocess, because what it prints is the point.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from cli_harness import FAST_RETRIES, Octane

from pytest_octane.model import SliceStatus
from tests.octane_env import run_child

JIRA_TEST = 'import pytest\n\n\n@pytest.mark.jira("QZ-404")\ndef test_ok():\n    pass\n'


def _quiet_line(out: str) -> str:
    lines = [line for line in out.splitlines() if line.startswith("octane: job ")]
    assert len(lines) == 1, out
    return lines[0]


def _command(line: str) -> list[str]:
    match = re.search(r"run: (pytest-octane .*)$", line)
    assert match, line
    return shlex.split(match.group(1))


def _suite(octane: Octane) -> Path:
    folder = octane.root / "suite"
    folder.mkdir(exist_ok=True)
    (folder / "test_jira.py").write_text(JIRA_TEST)
    return folder


def test_a_wrong_shared_space_fails_the_job_and_retry_with_the_right_space_works(
    octane: Octane,
) -> None:
    suite = octane.write_suite(params=1)
    args = [a for a in octane.pytest_args(*FAST_RETRIES) if not a.startswith("--octane-space")]
    done = octane.run_pytest(suite, "-q", *args, "--octane-space=9999", upload=False)
    assert done.returncode == 1, done.stdout  # one test of the suite fails: pytest's own 1
    line = _quiet_line(done.stdout)
    assert "shared space 9999 does not exist" in line, line
    assert "retry with the right --space/--workspace" in line, line
    command = _command(line)
    assert command[1] == "retry", line
    job = octane.only_job()
    assert {s.status for s in job.slices} == {SliceStatus.FAILED}
    assert job.finished_at is not None
    assert "9999" in (job.slice(1).last_error or "")

    fixed = octane.cli(*command[1:], f"--space={octane.sim.space_id}")
    assert fixed.code == 0, fixed.text
    assert "using --space 1001 instead of the job's recorded shared space 9999" in fixed.out
    assert octane.only_job().status is SliceStatus.SUCCESS
    octane.assert_every_run_once(4)
    again = octane.cli("resume", job.job_id, f"--task-store={octane.store}")
    assert again.code == 0, again.text  # the override is remembered by the job


def test_refused_credentials_fail_the_job_with_the_reason_in_quiet_mode(octane: Octane) -> None:
    suite = octane.write_suite(params=1)
    env = {**octane.env(), "OCTANE_CLIENT_SECRET": "not-the-secret"}
    done = run_child(octane.pytest_command(suite, "-q"), cwd=suite, env=env)
    line = _quiet_line(done.stdout)
    assert "HTTP 401" in line and "fix the client id/secret" in line, line
    assert "not-the-secret" not in done.stdout + done.stderr
    job = octane.only_job()
    assert {s.status for s in job.slices} == {SliceStatus.FAILED}
    status = octane.cli("status", job.job_id, f"--task-store={octane.store}")
    assert "Failed" in status.out and "401" in status.out


def test_missing_credentials_run_the_tests_and_spool_for_a_later_upload(octane: Octane) -> None:
    suite = octane.write_suite(params=1)
    env = {k: v for k, v in octane.env().items() if not k.startswith("OCTANE_CLIENT")}
    done = run_child(
        [*octane.pytest_command(suite), f"--octane-credentials-path={octane.root}/none.json"],
        cwd=suite,
        env=env,
    )
    assert done.returncode == 1, done.stdout + done.stderr  # the suite's own failing test
    assert "1 failed, 2 passed, 1 skipped" in done.stdout, done.stdout
    out = done.stdout
    assert out.count("no Octane credentials") == 1, out
    assert "no Octane credentials for shared space 1001: tried" in out
    assert "environment variables OCTANE_CLIENT_ID/OCTANE_CLIENT_SECRET" in out
    assert f"{octane.root}/none.json (missing)" in out
    assert "to fix: provide the credentials, then upload the spooled results" in out
    match = re.search(r"^to re-upload the failed slices after the fix run: (.*)$", out, re.M)
    assert match, out
    assert octane.posts() == 0
    job = octane.only_job()
    assert {s.status for s in job.slices} == {SliceStatus.FAILED}

    # the credentials now exist: the printed command uploads the spooled results
    uploaded = octane.cli(*shlex.split(match.group(1))[1:])
    assert uploaded.code == 0, uploaded.text
    octane.assert_every_run_once(4)


def test_strict_names_every_reason_it_changed_the_exit_code(octane: Octane) -> None:
    suite = _suite(octane)
    for quiet in ((), ("-q",)):
        done = octane.run_pytest(suite, *quiet, "--octane-strict")
        assert done.returncode == 1, done.stdout
        lines = [line for line in done.stdout.splitlines() if "--octane-strict changed" in line]
        assert len(lines) == 1, done.stdout
        assert lines[0].endswith(
            "--octane-strict changed the exit code from 0 to 1: "
            "JIRA keys with no Octane story: QZ-404"
        ), lines[0]
    plain = octane.run_pytest(suite)
    assert plain.returncode == 0 and "--octane-strict" not in plain.stdout
