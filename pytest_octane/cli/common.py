"""What every verb of ``pytest-octane`` shares: argument builders, exit codes, the task store,
usage errors, and the error boundary that turns library errors into one line and a code."""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_octane.errors import StoreError, UsageError
from pytest_octane.job.recorded import given_options, settings_from_options
from pytest_octane.model import JobRecord
from pytest_octane.settings import OPTIONS, OptionSpec, Settings

__all__ = [
    "EXIT_BROKEN_PIPE",
    "UsageError",
    "add_settings_arguments",
    "add_task_store_argument",
    "broken_pipe",
    "error",
    "flags_of",
    "get_job",
    "open_task_store",
    "option_help",
    "print_outcome",
    "settings_from_args",
    "stamp",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a reader that went away


def _cli_flag(spec: OptionSpec) -> str:
    assert spec.flag is not None
    return "--" + spec.flag.removeprefix("--octane-")


def option_help(spec: OptionSpec) -> str:
    """The option's help with its default and environment variable, as ``--help`` shows it."""
    extra = []
    if spec.default is not None and spec.default is not False and not spec.is_switch:
        default = spec.default
        if isinstance(default, bool):
            default = "true" if default else "false"
        extra.append(f"default: {default}")
    if spec.env:
        extra.append(f"env {spec.env}")
    text = spec.help + (f" ({'; '.join(extra)})" if extra else "")
    return text.replace("%", "%%")  # argparse formats help strings


def add_settings_arguments(
    parser: argparse.ArgumentParser, *, groups: Sequence[str], skip: Sequence[str] = ()
) -> None:
    """The plugin's options, without the ``octane-`` prefix (both spellings accepted)."""
    for group_name in groups:
        group = parser.add_argument_group(f"{group_name} settings")
        for spec in OPTIONS:
            if spec.group != group_name or not spec.flag or spec.name in skip:
                continue
            flags = [_cli_flag(spec), spec.flag]
            dest = f"octane_{spec.name}"
            text = option_help(spec)
            if spec.is_switch:
                group.add_argument(*flags, dest=dest, action="store_true", help=text)
            elif spec.multiple:
                group.add_argument(
                    *flags, dest=dest, action="append", metavar=spec.metavar, help=text
                )
            else:
                group.add_argument(*flags, dest=dest, metavar=spec.metavar, help=text)


def add_task_store_argument(parser: argparse.ArgumentParser) -> None:
    """``--task-store`` for commands that read jobs (the plugin's ``--octane-task-store``)."""
    parser.add_argument(
        "--task-store",
        "--octane-task-store",
        dest="octane_task_store",
        metavar="LOCATION",
        help="folder, sqlite:///file.db or postgresql://... "
        "(default: octane_task_logs; env OCTANE_TASK_STORE)",
    )


def settings_from_args(args: argparse.Namespace, **overrides: Any) -> Settings:
    return settings_from_options(given_options(args), **overrides)


def open_task_store(args: argparse.Namespace, *, must_exist: bool = False) -> Any:
    """The task store the command line (or OCTANE_TASK_STORE) names; a bad location is exit 2.

    ``must_exist`` (commands that only read): a folder that is not there is a typo or the
    wrong working directory, not an empty store, so it is an error rather than "no jobs".
    """
    from pytest_octane.store import open_store

    location = (
        getattr(args, "octane_task_store", None)
        or os.environ.get("OCTANE_TASK_STORE")
        or "octane_task_logs"
    )
    if must_exist and "://" not in location and not Path(location).expanduser().is_dir():
        raise UsageError(
            f"the task store folder {location!r} does not exist (cwd {os.getcwd()}); "
            "pass --task-store with the folder or database URL the upload used "
            "(default: octane_task_logs, or OCTANE_TASK_STORE)"
        )
    try:
        return open_store(location)
    except StoreError as exc:  # only the location itself is checked here: a setting's fault
        raise UsageError(str(exc)) from None


def get_job(store: Any, job_id: str) -> JobRecord:
    """The job, or a usage error when the store does not have it (a typo, another store)."""
    try:
        job: JobRecord = store.get_job(job_id)
    except StoreError:
        if store.scan_jobs().has(job_id):
            raise  # the job is there but cannot be read: a store problem, not a usage one
        raise UsageError(
            f"job {job_id!r} is not in the task store '{store.location}'; "
            "'pytest-octane jobs --task-store LOCATION' lists the jobs there"
        ) from None
    return job


def stamp(epoch: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch)) if epoch else "-"


def print_outcome(outcome: Any) -> int:
    for line in outcome.summary_lines():
        print(line)
    return EXIT_OK if outcome.ok else EXIT_FAILED


# ---------------------------------------------------------------- the error boundary


def _own_flags(message: str, known: Sequence[str]) -> str:
    """Name the flag the user can type here: ``--octane-slice-size`` -> ``--slice-size``.

    The CLI takes both spellings; its messages come from the shared settings code, which
    names the plugin's. Only flags this command line's parser knows are renamed.
    """

    def short(match: re.Match[str]) -> str:
        flag = "--" + match.group(1)
        return flag if flag in known else match.group(0)

    return re.sub(r"--octane-([a-z][a-z0-9-]*)", short, message)


def error(exc: BaseException, args: argparse.Namespace, code: int, text: str) -> int:
    """One line on stderr; with --debug the traceback too, and the same exit code."""
    if getattr(args, "debug", False):
        traceback.print_exception(exc)
    print(f"pytest-octane: error: {_own_flags(text, args.known_flags)}", file=sys.stderr)
    return code


def flags_of(parser: argparse.ArgumentParser, command: str | None) -> list[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            sub = action.choices[command]
            return [flag for a in sub._actions for flag in a.option_strings]
    return []


def broken_pipe() -> int:
    """The reader went away (``| head``): stop quietly, and keep Python's exit-time flush of
    stdout from failing again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # stdout is not a real file (tests): nothing to flush at exit
    return EXIT_BROKEN_PIPE
