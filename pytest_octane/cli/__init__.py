"""``pytest-octane``: convert, upload, and look after upload jobs outside a pytest run.

``main()`` is the CLI's only error boundary: library errors become one line on stderr and
an exit code (0 all slices succeeded, 1 some failed, 2 usage or configuration error;
141 when the reader of its output went away, as ``| head`` does).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pytest_octane import __version__
from pytest_octane.cli.common import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    add_task_store_argument,
    broken_pipe,
    error,
    flags_of,
    open_task_store,
)
from pytest_octane.cli.delink import configure_delink_parser
from pytest_octane.cli.files import cmd_convert, cmd_upload
from pytest_octane.cli.finish import cmd_resume, cmd_retry, job_settings
from pytest_octane.cli.jobs import cmd_jobs, cmd_logs, cmd_status
from pytest_octane.cli.serve import configure_parser as configure_serve_parser
from pytest_octane.cli.simulate import cmd_simulator
from pytest_octane.errors import ConfigError, CredentialsError, InputError, OctaneError, UsageError
from pytest_octane.settings import DEFAULT_TASK_STORE, OPTIONS_BY_NAME, Settings, option_help

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "UsageError",
    "add_task_store_argument",
    "build_parser",
    "job_settings",
    "main",
    "open_task_store",
    "option_help",
]


EPILOG = f"""\
examples:
  pytest-octane convert junit.xml -o out/              # Octane XML slices, no network
  pytest-octane upload junit.xml --space 1001 --config spaces.json
  pytest-octane jobs                                   # jobs in ./{DEFAULT_TASK_STORE}
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


FILES_HELP = "JUnit XML (pytest --junitxml, other tools) or Octane test_result XML files"
JOB_HELP = "job id, as 'pytest-octane jobs' lists them (e.g. 20261125-101500-ab12cd34)"
#: Settings of the pytest session only (the CLI uploads finished results)
PLUGIN_ONLY = ("stream",)


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
    Settings.register_argparse_arguments(p, groups=["results"])
    p.add_argument(
        "--slice-size",
        dest="octane_slice_size",
        metavar="N",
        help=option_help(OPTIONS_BY_NAME["slice_size"]),
    )
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("upload", help="upload JUnit or Octane XML files as one job")
    p.add_argument("files", nargs="+", metavar="FILE", help=FILES_HELP)
    Settings.register_argparse_arguments(
        p, groups=["connection", "upload", "results"], skip=PLUGIN_ONLY
    )
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
        Settings.register_argparse_arguments(p, groups=["connection", "upload"], skip=PLUGIN_ONLY)
        p.set_defaults(func=func)

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

    p = sub.add_parser("serve", help="the jobs page: jobs, slices, errors, re-upload button")
    configure_serve_parser(p)
    for command in sub.choices.values():
        # also after the command; SUPPRESS keeps a --debug given before it
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    args.known_flags = flags_of(parser, args.command)
    try:
        result: int = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler below
        return result
    except BrokenPipeError:
        return broken_pipe()
    except (ConfigError, CredentialsError, InputError) as exc:
        return error(exc, args, EXIT_USAGE, str(exc))
    except OctaneError as exc:
        return error(exc, args, EXIT_FAILED, str(exc))
    except OSError as exc:  # a file or folder the user named cannot be read or written
        where = f"{exc.filename}: " if exc.filename else ""
        return error(exc, args, EXIT_USAGE, f"{where}{exc.strerror or exc}")
    except KeyboardInterrupt:
        print("pytest-octane: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
