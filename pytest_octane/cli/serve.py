"""The ``serve`` verb: its options, and starting and stopping the jobs page (``web/``)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from types import FrameType

from pytest_octane.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    add_task_store_argument,
    open_task_store,
)
from pytest_octane.errors import ConfigError
from pytest_octane.job.recorded import CONNECTION_FIELDS
from pytest_octane.settings import Settings
from pytest_octane.store import TaskStore
from pytest_octane.web.access import check_token, is_loopback
from pytest_octane.web.server import DEFAULT_PORT, TOKEN_ENV, JobsServer

__all__ = ["configure_parser", "refuse_connection_flags", "run"]


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """``pytest-octane serve``'s options: where to listen, the token, the store, and the
    connection settings a re-upload from the page uses (as ``retry``'s do)."""
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1); any other than loopback needs --token",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT}; 0 = any)"
    )
    parser.add_argument(
        "--token",
        metavar="T",
        help=f"secret every request must carry: open /?token=T once, the browser keeps it in a "
        f"cookie (default: ${TOKEN_ENV})",
    )
    parser.add_argument("--quiet", action="store_true", help="do not log requests to the console")
    add_task_store_argument(parser)
    # What a re-upload needs and a job does not record (credentials, proxy, TLS, timeouts);
    # the upload options are recorded with each job, or come from OCTANE_* variables.
    Settings.register_argparse_arguments(parser, groups=["connection"])
    parser.set_defaults(func=run)


def refuse_connection_flags(args: argparse.Namespace) -> None:
    """``serve`` handles many jobs: one server/space/workspace for all of them is a trap."""
    given = [flag for name, flag, _ in CONNECTION_FIELDS if getattr(args, f"octane_{name}", None)]
    if given:
        raise ConfigError(
            f"serve does not take {'/'.join(given)}: each job is re-uploaded to its recorded "
            "server, shared space and workspace; correct one job with "
            "'pytest-octane retry JOB --space ID --workspace ID --url URL'"
        )


def _token(args: argparse.Namespace) -> str | None:
    given: str | None = getattr(args, "token", None)
    if given is not None:
        return check_token(given, "--token")
    from_env = os.environ.get(TOKEN_ENV, "").strip()
    return check_token(from_env, TOKEN_ENV) if from_env else None


def _fail(message: str) -> int:
    print(f"pytest-octane: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def run(args: argparse.Namespace) -> int:
    """Serve the jobs page until Ctrl-C or SIGTERM (exit 0); 2 when it cannot start."""
    host: str = args.host
    try:
        token = _token(args)
    except ConfigError as exc:
        return _fail(str(exc))
    if token is None and not is_loopback(host):
        return _fail(
            f"refusing to serve the jobs page on {host!r} without a token: anyone who reaches "
            f"it could re-upload; pass --token SECRET (or set {TOKEN_ENV}) or use --host 127.0.0.1"
        )
    try:
        refuse_connection_flags(args)
        Settings.from_argparse(args)  # a bad setting fails now, not at the first click
        store: TaskStore = open_task_store(args)
    except ConfigError as exc:
        return _fail(str(exc))
    try:
        server = JobsServer(args, store, host=host, port=args.port, token=token, quiet=args.quiet)
    except OSError as exc:
        store.close()
        return _fail(
            f"cannot listen on {host}:{args.port} ({exc.strerror or exc}): "
            "pick another --port or --host"
        )
    stop = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop.set()

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, on_term) if in_main else None
    try:
        server.start()
        print(f"pytest-octane jobs page on {server.url}/", flush=True)
        print(f"  task store: {store.location}", flush=True)
        if token is not None:
            print(
                f"  token required: open {server.url}/?token=<your token> once; "
                "the browser keeps it in a cookie",
                flush=True,
            )
        print("Press Ctrl-C to stop.", flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
        server.stop()
        store.close()
    print("jobs page stopped.", flush=True)
    return EXIT_OK
