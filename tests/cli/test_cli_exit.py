"""Exit codes (0 all ok, 1 some slices failed, 2 usage or configuration error), help, version.

Every error is one line on stderr, never a traceback (``--debug`` shows one).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_harness import Octane, lines_without_traceback

from pytest_octane import __version__

COMMANDS = ["convert", "upload", "jobs", "status", "retry", "resume", "logs", "simulator"]


def test_help_shows_examples_and_exit_codes(octane: Octane) -> None:
    shown = octane.cli("--help")
    assert shown.code == 0
    assert "examples:" in shown.out
    for command in ("convert", "upload", "jobs", "status", "retry", "resume", "simulator"):
        assert f"pytest-octane {command}" in shown.out
    assert "exit codes: 0 all slices succeeded, 1 some slices failed, 2 usage" in shown.out


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(octane: Octane, command: str) -> None:
    shown = octane.cli(command, "--help")
    assert shown.code == 0, shown.text
    assert shown.out.startswith(f"usage: pytest-octane {command}")


def test_version(octane: Octane) -> None:
    shown = octane.cli("--version")
    assert (shown.code, shown.out.strip()) == (0, f"pytest-octane {__version__}")


def test_no_command_prints_help_and_is_a_usage_error(octane: Octane) -> None:
    shown = octane.cli()
    assert shown.code == 2
    assert shown.out.startswith("usage: pytest-octane")


@pytest.mark.parametrize(
    "argv",
    [
        ["frobnicate"],
        ["status"],  # JOB missing
        ["retry", "x", "--slice", "one"],
        ["convert", "junit.xml"],  # -o missing
    ],
)
def test_argument_errors_are_exit_code_2(octane: Octane, argv: list[str]) -> None:
    result = octane.cli(*argv)
    assert result.code == 2, result.text
    assert "Traceback" not in result.text


@pytest.mark.parametrize("command", ["status", "retry", "resume", "logs"])
@pytest.mark.parametrize("job_id", ["20990101-000000-deadbeef", "../etc/passwd"])
def test_an_unknown_job_is_a_usage_error(
    octane: Octane, junit_xml: Path, command: str, job_id: str
) -> None:
    assert octane.upload(junit_xml).code == 0  # a store with another job in it
    assert len(octane.jobs()) == 1
    posts = octane.posts()
    result = octane.cli(command, job_id, f"--task-store={octane.store}")
    assert result.code == 2, result.text
    (line,) = lines_without_traceback(result.err)
    assert line.startswith("pytest-octane: error: ") and job_id in line
    assert octane.posts() == posts


def test_an_unknown_job_in_sqlite_is_a_usage_error(octane: Octane) -> None:
    store = f"--task-store=sqlite:///{octane.root / 'empty.db'}"
    result = octane.cli("retry", "20990101-000000-deadbeef", store)
    assert result.code == 2, result.text
    (line,) = lines_without_traceback(result.err)
    assert "20990101-000000-deadbeef" in line


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["jobs", "--task-store=mongodb://localhost/x"], "unknown scheme 'mongodb'"),
        (["upload", "{junit}", "--slice-size=0"], "option --slice-size: 0"),
        (["upload", "{junit}", "--task-store=x", "--url=http://127.0.0.1:9"], "shared space"),
        (["upload", "{junit}", "--space=1001", "--url=ftp://x"], "http(s) URL"),
    ],
)
def test_configuration_errors_are_exit_code_2(
    octane: Octane, junit_xml: Path, argv: list[str], expected: str
) -> None:
    result = octane.cli(*(a.replace("{junit}", str(junit_xml)) for a in argv))
    assert result.code == 2, result.text
    (line,) = lines_without_traceback(result.err)
    assert expected in line
    assert octane.sim.request_log == []


def test_missing_credentials_are_exit_code_2_before_any_job(
    octane: Octane, junit_xml: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OCTANE_CLIENT_ID")
    monkeypatch.delenv("OCTANE_CLIENT_SECRET")
    result = octane.upload(junit_xml, args=[f"--credentials-path={octane.root}/S-{{space_id}}"])
    assert result.code == 2, result.text
    (line,) = lines_without_traceback(result.err)
    assert "no Octane credentials for shared space" in line
    assert octane.jobs() == [] and octane.sim.request_log == []


def test_retry_without_credentials_is_exit_code_2(
    octane: Octane, junit_xml: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    octane.sim.faults.fail_next_tasks(1)
    assert octane.upload(junit_xml, args=["--slice-size=5"]).code == 1
    job = octane.only_job()
    monkeypatch.delenv("OCTANE_CLIENT_SECRET")
    posts = octane.posts()
    result = octane.cli(
        "retry",
        job.job_id,
        f"--task-store={octane.store}",
        f"--credentials-path={octane.root}/S-{{space_id}}",
    )
    assert result.code == 2, result.text
    (line,) = lines_without_traceback(result.err)
    assert "OCTANE_CLIENT_SECRET" in line
    assert octane.posts() == posts
    assert octane.only_job() == job  # nothing recorded


def test_status_exit_code_follows_the_job(octane: Octane, junit_xml: Path) -> None:
    store = f"--task-store={octane.store}"
    octane.sim.faults.fail_next_tasks(1)
    assert octane.upload(junit_xml, args=["--slice-size=5", "--max-parallel=1"]).code == 1
    job = octane.only_job()
    failed = octane.cli("status", job.job_id, store)
    assert failed.code == 1
    assert failed.out.startswith(f"job {job.job_id}: Failed")
    assert "Simulated processing failure" in failed.out
    as_json = octane.cli("status", job.job_id, "--json", store)
    assert as_json.code == 1
    assert json.loads(as_json.out)["status"] == "Failed"
    assert octane.cli("retry", job.job_id, store).code == 0
    assert octane.cli("status", job.job_id, store).code == 0


def test_the_module_entry_point_exits_with_the_same_codes(octane: Octane) -> None:
    version = octane.cli_subprocess("--version")
    assert (version.code, version.out.strip()) == (0, f"pytest-octane {__version__}")
    Path(octane.store).mkdir(parents=True, exist_ok=True)
    unknown = octane.cli_subprocess(
        "status", "20990101-000000-deadbeef", f"--task-store={octane.store}"
    )
    assert unknown.code == 2
    (line,) = lines_without_traceback(unknown.err)
    assert "20990101-000000-deadbeef" in line


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_is_accepted_before_and_after_the_command(octane: Octane, where: str) -> None:
    command = ["status", "20990101-000000-deadbeef", f"--task-store={octane.store}"]
    argv = ["--debug", *command] if where == "before" else [*command, "--debug"]
    Path(octane.store).mkdir(parents=True, exist_ok=True)
    result = octane.cli(*argv)
    assert result.code == 2  # the same code as without --debug, with the traceback too
    assert "Traceback" in result.err and "not in the task store" in result.err
