"""The CLI's manners: quiet broken pipes, --debug keeps exit codes, missing stores, own flag
names in messages, --help with defaults and environment variables for every option."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_harness import SUBPROCESS_TIMEOUT, Octane

from pytest_octane import cli


def test_a_closed_pipe_is_quiet(octane: Octane, junit_xml: Path) -> None:
    assert octane.upload(junit_xml).code == 0  # a job to list
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first write: EPIPE every time
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest_octane",
                "jobs",
                f"--task-store={octane.store}",
            ],
            stdout=write,
            stderr=subprocess.PIPE,
            env=octane.env(),
            text=True,
            timeout=SUBPROCESS_TIMEOUT,
            check=False,
        )
    finally:
        os.close(write)
    assert done.stderr == ""
    assert done.returncode == cli.EXIT_BROKEN_PIPE


def test_debug_keeps_the_exit_code_and_adds_the_traceback(octane: Octane) -> None:
    store = f"--task-store={octane.root}"
    plain = octane.cli("status", "no-such-job", store)
    debug = octane.cli("--debug", "status", "no-such-job", store)
    assert plain.code == debug.code == cli.EXIT_USAGE
    assert "Traceback" not in plain.err and "Traceback" in debug.err
    assert plain.err.splitlines()[-1] == debug.err.splitlines()[-1]


@pytest.mark.parametrize("command", [["jobs"], ["jobs", "--json"], ["status", "j"], ["logs", "j"]])
def test_reading_a_store_folder_that_does_not_exist_is_an_error(
    octane: Octane, command: list[str]
) -> None:
    missing = octane.root / "no" / "such" / "dir"
    done = octane.cli(*command, f"--task-store={missing}")
    assert done.code == cli.EXIT_USAGE
    assert f"the task store folder '{missing}' does not exist" in done.err
    assert not missing.exists()  # a read command creates nothing


def test_messages_name_the_flag_the_cli_takes(octane: Octane, junit_xml: Path) -> None:
    done = octane.cli("convert", str(junit_xml), "-o", str(octane.root / "out"), "--slice-size=0")
    assert done.code == cli.EXIT_USAGE
    assert "option --slice-size: 0 is out of range" in done.err
    assert "--octane-slice-size" not in done.err


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


def test_every_argument_has_help_and_settings_show_default_and_env() -> None:
    from pytest_octane.settings import OPTIONS_BY_NAME

    missing = []
    for name, sub in _subparsers(cli.build_parser()).items():
        for action in sub._actions:
            if action.help == argparse.SUPPRESS:
                continue
            label = f"{name} {action.option_strings or action.dest}"
            if not action.help:
                missing.append(label)
            spec = OPTIONS_BY_NAME.get(action.dest.removeprefix("octane_"))
            if spec is not None and spec.env and action.dest.startswith("octane_"):
                assert f"env {spec.env}" in action.help, label
                if spec.default not in (None, False):
                    assert "default: " in action.help, label
    assert not missing, f"arguments without help: {missing}"
    text = _subparsers(cli.build_parser())["upload"].format_help()
    assert "(default: 20000; env OCTANE_MAX_TRACE)" in " ".join(text.split())


@pytest.mark.parametrize("flag", ["--space=1001", "--workspace=1002", "--url=http://127.0.0.1:9"])
def test_serve_refuses_connection_overrides_instead_of_ignoring_them(
    octane: Octane, flag: str
) -> None:
    done = octane.cli("serve", "--port=0", f"--task-store={octane.root}", flag)
    assert done.code == cli.EXIT_USAGE
    assert f"serve does not take {flag.split('=')[0]}" in done.err
    assert "pytest-octane retry JOB --space ID" in done.err
