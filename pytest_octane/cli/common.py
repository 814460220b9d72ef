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
from pytest_octane.model import JobRecord
from pytest_octane.settings import OPTIONS_BY_NAME, resolve_option

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "UsageError",
    "add_task_store_argument",
    "broken_pipe",
    "error",
    "flags_of",
    "get_job",
    "open_task_store",
    "print_outcome",
    "stamp",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a reader that went away
_TASK_STORE = OPTIONS_BY_NAME["task_store"]
#: Where the task store is when the command line does not say, for --help and errors.
_TASK_STORE_SOURCES = f"(default: {_TASK_STORE.default}; env {_TASK_STORE.env})"


def add_task_store_argument(parser: argparse.ArgumentParser) -> None:
    """``--task-store`` for commands that read jobs (the plugin's ``--octane-task-store``)."""
    parser.add_argument(
        "--task-store",
        "--octane-task-store",
        dest=_TASK_STORE.dest,
        metavar=_TASK_STORE.metavar,
        help=f"folder, sqlite:///file.db or postgresql://... {_TASK_STORE_SOURCES}",
    )


def open_task_store(args: argparse.Namespace, *, must_exist: bool = False) -> Any:
    """The task store the command line (or OCTANE_TASK_STORE) names; a bad location is exit 2.

    ``must_exist`` (commands that only read): a folder that is not there is a typo or the
    wrong working directory, not an empty store, so it is an error rather than "no jobs".
    """
    from pytest_octane.store import open_store

    location = resolve_option(_TASK_STORE.name, getattr(args, _TASK_STORE.dest, None), os.environ)
    if must_exist and "://" not in location and not Path(location).expanduser().is_dir():
        raise UsageError(
            f"the task store folder {location!r} does not exist (cwd {os.getcwd()}); "
            "pass --task-store with the folder or database URL the upload used "
            f"{_TASK_STORE_SOURCES}"
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
