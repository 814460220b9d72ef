"""``pytest-octane``: convert, upload, and look after upload jobs outside a pytest run.

``main()`` is the CLI's only error boundary: library errors become one line on stderr and
an exit code (0 all slices succeeded, 1 some failed, 2 usage or configuration error;
141 when the reader of its output went away, as ``| head`` does).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from pytest_octane import __version__
from pytest_octane.errors import (
    ConfigError,
    CredentialsError,
    InputError,
    OctaneError,
    StoreError,
)
from pytest_octane.model import JobRecord, SliceStatus, TestRun
from pytest_octane.settings import (
    OPTIONS,
    OPTIONS_BY_NAME,
    OptionSpec,
    Settings,
    resolve_settings,
)
from pytest_octane.settings.ci import ci_defaults, detect_ci

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a reader that went away

EPILOG = """\
examples:
  pytest-octane convert junit.xml -o out/              # Octane XML slices, no network
  pytest-octane upload junit.xml --space 1001 --config spaces.json
  pytest-octane jobs                                   # jobs in ./octane_task_logs
  pytest-octane status 20261125-101500-ab12cd34
  pytest-octane retry 20261125-101500-ab12cd34         # re-upload failed slices
  pytest-octane resume 20261125-101500-ab12cd34        # finish an interrupted job
  pytest-octane delink 20261125-101500-ab12cd34 --jira QZ-1   # take a story link back
  pytest-octane simulator --port 8080                  # a local fake Octane to rehearse with
  pytest-octane serve                                  # jobs page on http://127.0.0.1:8765

exit codes: 0 all slices succeeded, 1 some slices failed, 2 usage or configuration error
(pytest itself exits 4 for a configuration error of the plugin, and keeps its own exit code
when an upload fails unless --octane-strict is given)
"""


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
    cli = {spec.name: getattr(args, f"octane_{spec.name}", None) for spec in OPTIONS}
    cli.update({k: v for k, v in overrides.items() if v is not None})
    info = detect_ci(os.environ)
    return resolve_settings(
        cli=cli, environ=os.environ, ini={}, detected=ci_defaults(info) if info else None
    )


class UsageError(ConfigError):
    """What the user asked for does not exist (a job id, a slice number): exit code 2."""


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


def _get_job(store: Any, job_id: str) -> JobRecord:
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


# ---------------------------------------------------------------- commands


def _read_inputs(files: Sequence[str], settings: Settings) -> list[TestRun]:
    """Every run of the given JUnit/Octane XML files, in order."""
    from pytest_octane.octane.inputs import read_results_file

    started = settings.started or int(time.time() * 1000)
    module = settings.module or ""
    return [
        run
        for path in files
        for run in read_results_file(Path(path), started_ms=started, module=module)
    ]


def cmd_convert(args: argparse.Namespace) -> int:
    from pytest_octane.octane.results_xml import header_from_settings, write_slices

    settings = replace(settings_from_args(args), from_pytest=False)  # any tool's files
    runs = _read_inputs(args.files, settings)
    out = Path(args.output)
    try:
        files = write_slices(
            out,
            header_from_settings(settings),
            runs,
            slice_size=settings.slice_size,
            max_trace=settings.max_trace,
        )
    except OSError as exc:
        raise UsageError(
            f"cannot write the slices to {str(out)!r} ({exc.strerror}: {exc.filename}); "
            "pick a writable -o DIR"
        ) from None
    print(f"{len(runs)} test runs in {len(files)} slice(s) written to {out}")
    return EXIT_OK


def _print_outcome(outcome: Any) -> int:
    for line in outcome.summary_lines():
        print(line)
    return EXIT_OK if outcome.ok else EXIT_FAILED


def cmd_upload(args: argparse.Namespace) -> int:
    from pytest_octane.job.engine import upload_session

    settings = replace(settings_from_args(args), from_pytest=False)  # any tool's files
    runs = _read_inputs(args.files, settings)
    if not runs:
        print("no test runs in the given files; nothing to upload", file=sys.stderr)
        return EXIT_FAILED
    _check_credentials(settings)
    return _print_outcome(upload_session(settings, runs, progress=print))


def _check_credentials(settings: Settings) -> None:
    """Fail with exit code 2 before a job is recorded, not with an unfinished job (1)."""
    from pytest_octane.octane.credentials import resolve_credentials
    from pytest_octane.settings import require_connection

    _, space, _ = require_connection(settings)
    resolve_credentials(
        space,
        path_template=settings.credentials_path,
        environ=os.environ,
        command=settings.credentials_command,
    )


def _job_counts(job: JobRecord) -> dict[str, int]:
    counts = {status.value: 0 for status in SliceStatus}
    for record in job.slices:
        counts[record.status.value] += 1
    return counts


def _stamp(epoch: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch)) if epoch else "-"


def cmd_jobs(args: argparse.Namespace) -> int:
    store = open_task_store(args, must_exist=True)
    try:
        listing = store.scan_jobs()
    finally:
        store.close()
    jobs = listing.jobs
    for damaged in listing.damaged:  # the healthy jobs are still listed, on stdout
        print(f"pytest-octane: damaged job {damaged.job_id}: {damaged.problem}", file=sys.stderr)
    code = EXIT_FAILED if listing.damaged else EXIT_OK
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "job_id": j.job_id,
                        "space_id": j.space_id,
                        "workspace_id": j.workspace_id,
                        "created_at": j.created_at,
                        "status": j.status.value,
                        "slices": _job_counts(j),
                    }
                    for j in jobs
                ],
                indent=2,
            )
        )
        return code
    if not jobs:
        print(f"no readable jobs in {store.location}" if code else f"no jobs in {store.location}")
        return code
    print(f"{'JOB':<28} {'SPACE':>6} {'STARTED':<19} {'OK':>4} {'FAILED':>6} {'RUNNING':>7}")
    for job in jobs:
        c = _job_counts(job)
        print(
            f"{job.job_id:<28} {job.space_id:>6} {_stamp(job.created_at):<19} "
            f"{c['Success']:>4} {c['Failed']:>6} {c['Running']:>7}"
        )
    return code


def cmd_status(args: argparse.Namespace) -> int:
    store = open_task_store(args, must_exist=True)
    try:
        job = _get_job(store, args.job)
    finally:
        store.close()
    if args.json:
        data = asdict(job)
        data["status"] = job.status.value
        print(json.dumps(data, indent=2, default=str))
    else:
        print(
            f"job {job.job_id}: {job.status.value}; shared space {job.space_id}, workspace "
            f"{job.workspace_id} at {job.server}; created {_stamp(job.created_at)}, "
            f"finished {_stamp(job.finished_at)}"
        )
        for record in job.slices:
            detail = record.error_details or record.last_error or ""
            print(
                f"  slice {record.index:>4}: {record.status.value:<8} runs={record.run_count:<5}"
                f" task={record.task_id if record.task_id is not None else '-':<8}"
                f" attempts={record.attempts}" + (f"  {detail}" if detail else "")
            )
        for event in job.history:
            print(f"  history: {_stamp(event.get('time'))} {event.get('event')}")
    return EXIT_OK if job.status is SliceStatus.SUCCESS else EXIT_FAILED


def job_settings(args: argparse.Namespace, job: JobRecord, *, store: Any = None) -> Settings:
    """Settings to retry or resume ``job``: its server, space and recorded options, with
    this command line's options on top (also what the jobs page's button uses).

    ``--url``/``--space``/``--workspace`` given here replace the recorded ones (said on
    stdout, and kept in the job's history when ``store`` is given).
    """
    from pytest_octane.job.recorded import apply_overrides, recorded_connection, recorded_options

    space_given = getattr(args, "octane_space", None) is not None
    space = args.octane_space if space_given else recorded_connection(job).space
    given = lambda name: getattr(args, f"octane_{name}", None) not in (None, False)  # noqa: E731
    settings = settings_from_args(args, space=str(space), **recorded_options(job, given))
    record = (lambda event: store.add_history(job.job_id, event)) if store is not None else None
    return apply_overrides(settings, job, space_given=space_given, record=record, say=print)


def _finish_job(args: argparse.Namespace, mode: str) -> int:
    from pytest_octane.job.engine import execute_job

    only_slice: int | None = getattr(args, "slice", None)
    store = open_task_store(args)
    try:
        job = _get_job(store, args.job)
        if only_slice is not None:
            indexes = [s.index for s in job.slices]
            if only_slice not in indexes:
                have = f"{min(indexes)} to {max(indexes)}" if indexes else "none"
                raise UsageError(
                    f"job {job.job_id} has no slice {only_slice} (its slices: {have}); "
                    f"'pytest-octane status {job.job_id}' lists them"
                )
            if job.slice(only_slice).status is SliceStatus.SUCCESS:
                print(
                    f"slice {only_slice} of job {job.job_id} already succeeded; "
                    "nothing to re-upload"
                )
        settings = job_settings(args, job, store=store)
        wanted = SliceStatus.FAILED if mode == "retry" else SliceStatus.RUNNING
        if any(s.status is wanted and only_slice in (None, s.index) for s in job.slices):
            _check_credentials(settings)
        outcome = execute_job(
            settings, store, job, mode=mode, only_slice=only_slice, progress=print
        )
    finally:
        store.close()
    if mode == "retry" and not any(s.status is not SliceStatus.SUCCESS for s in job.slices):
        print(f"job {job.job_id}: every slice already succeeded; nothing to re-upload")
    return _print_outcome(outcome)


def cmd_retry(args: argparse.Namespace) -> int:
    return _finish_job(args, "retry")


def cmd_resume(args: argparse.Namespace) -> int:
    return _finish_job(args, "resume")


def cmd_logs(args: argparse.Namespace) -> int:
    store = open_task_store(args, must_exist=True)
    try:
        _get_job(store, args.job)
        entries = store.read_requests(args.job)
    finally:
        store.close()
    for e in entries:
        status = e.status if e.status is not None else "---"
        line = f"{_stamp(e.time)} {e.method:<6} {status} {e.duration_ms:>6} ms {e.url}"
        print(line + (f"  [{e.correlation_id}]" if e.correlation_id else ""))
        if e.error:
            print(f"    error: {e.error}")
        if e.body and args.bodies:
            print(e.body)
    return EXIT_OK


def cmd_simulator(args: argparse.Namespace) -> int:
    from pytest_octane.simulator.cli import run

    return run(args)


# ---------------------------------------------------------------- parser and main


FILES_HELP = "JUnit XML (pytest --junitxml, other tools) or Octane test_result XML files"
JOB_HELP = "job id, as 'pytest-octane jobs' lists them (e.g. 20261125-101500-ab12cd34)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pytest-octane",
        description="Upload test results to OpenText ALM Octane and look after upload jobs.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pytest-octane {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("convert", help="convert JUnit/Octane XML into Octane XML slices")
    p.add_argument("files", nargs="+", metavar="FILE", help=FILES_HELP)
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="folder for the slices")
    add_settings_arguments(p, groups=["results"])
    p.add_argument(
        "--slice-size",
        dest="octane_slice_size",
        metavar="N",
        help=option_help(OPTIONS_BY_NAME["slice_size"]),
    )
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("upload", help="upload JUnit or Octane XML files as one job")
    p.add_argument("files", nargs="+", metavar="FILE", help=FILES_HELP)
    add_settings_arguments(p, groups=["connection", "upload", "results"])
    p.set_defaults(func=cmd_upload)

    p = sub.add_parser("jobs", help="list upload jobs")
    add_task_store_argument(p)
    p.add_argument("--json", action="store_true", help="print the jobs as JSON")
    p.set_defaults(func=cmd_jobs)

    p = sub.add_parser("status", help="show one job's slices, task ids and errors")
    p.add_argument("job", help=JOB_HELP)
    add_task_store_argument(p)
    p.add_argument("--json", action="store_true", help="print the whole job record as JSON")
    p.set_defaults(func=cmd_status)

    for name, func, text in (
        ("retry", cmd_retry, "re-upload the failed slices of a job (never a successful one)"),
        ("resume", cmd_resume, "finish an interrupted job: poll sent slices, send the rest"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("job", help=JOB_HELP)
        if name == "retry":
            p.add_argument("--slice", type=int, metavar="N", help="only this slice")
        add_settings_arguments(p, groups=["connection", "upload"])
        p.set_defaults(func=func)

    from pytest_octane.job.suites import configure_delink_parser

    p = sub.add_parser(
        "delink", help="remove a job's JIRA stories from exactly that job's automated runs"
    )
    configure_delink_parser(p)

    p = sub.add_parser("logs", help="show a job's request log")
    p.add_argument("job", help=JOB_HELP)
    add_task_store_argument(p)
    p.add_argument("--bodies", action="store_true", help="also print logged request bodies")
    p.set_defaults(func=cmd_logs)

    p = sub.add_parser("simulator", help="run the bundled Octane simulator on 127.0.0.1")
    from pytest_octane.simulator.cli import configure_parser

    configure_parser(p)
    p.set_defaults(func=cmd_simulator)

    from pytest_octane.web.server import configure_parser as configure_serve_parser

    p = sub.add_parser("serve", help="the jobs page: jobs, slices, errors, re-upload button")
    configure_serve_parser(p)
    for command in sub.choices.values():
        # also after the command; SUPPRESS keeps a --debug given before it
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
    return parser


def _own_flags(message: str, known: Sequence[str]) -> str:
    """Name the flag the user can type here: ``--octane-slice-size`` -> ``--slice-size``.

    The CLI takes both spellings; its messages come from the shared settings code, which
    names the plugin's. Only flags this command line's parser knows are renamed.
    """

    def short(match: re.Match[str]) -> str:
        flag = "--" + match.group(1)
        return flag if flag in known else match.group(0)

    return re.sub(r"--octane-([a-z][a-z0-9-]*)", short, message)


def _error(exc: BaseException, args: argparse.Namespace, code: int, text: str) -> int:
    """One line on stderr; with --debug the traceback too, and the same exit code."""
    if getattr(args, "debug", False):
        traceback.print_exception(exc)
    print(f"pytest-octane: error: {_own_flags(text, args.known_flags)}", file=sys.stderr)
    return code


def _flags_of(parser: argparse.ArgumentParser, command: str | None) -> list[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            sub = action.choices[command]
            return [flag for a in sub._actions for flag in a.option_strings]
    return []


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    args.known_flags = _flags_of(parser, args.command)
    try:
        result: int = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler below
        return result
    except BrokenPipeError:
        return _broken_pipe()
    except (ConfigError, CredentialsError, InputError) as exc:
        return _error(exc, args, EXIT_USAGE, str(exc))
    except OctaneError as exc:
        return _error(exc, args, EXIT_FAILED, str(exc))
    except OSError as exc:  # a file or folder the user named cannot be read or written
        where = f"{exc.filename}: " if exc.filename else ""
        return _error(exc, args, EXIT_USAGE, f"{where}{exc.strerror or exc}")
    except KeyboardInterrupt:
        print("pytest-octane: interrupted", file=sys.stderr)
        return 130


def _broken_pipe() -> int:
    """The reader went away (``| head``): stop quietly, and keep Python's exit-time flush of
    stdout from failing again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # stdout is not a real file (tests): nothing to flush at exit
    return EXIT_BROKEN_PIPE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
