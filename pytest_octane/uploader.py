"""``python -m pytest_octane.uploader``: the uploader process the plugin starts (not for users).

It reads its settings and credentials from stdin (see ``job/run/pipe.py``), follows the job's
journal and uploads it (``job/run/session.py``), and reports on stdout: progress, the slice
counters and, last, the job's outcome.  It lives in pytest's process group, so a Ctrl-C at the
terminal reaches it too: it ignores SIGINT and stops sending only when pytest tells it to (the
first Ctrl-C of the upload phase; on the second, pytest ends it at once).  When pytest dies,
its end of the pipe closes: the uploader uploads every result journaled so far and exits.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import traceback
import warnings
from typing import IO, Any

from pytest_octane.job.events import COUNTERS, UploadState
from pytest_octane.job.run import pipe
from pytest_octane.job.run.journaled import open_job
from pytest_octane.job.run.pipe import Inbox

__all__ = ["main"]

log = logging.getLogger(__name__)


def _read_pipe(stream: IO[bytes], inbox: Inbox) -> None:
    """Turn the plugin's messages into the inbox; the pipe's end means pytest is gone."""
    try:
        while (message := pipe.receive(stream)) is not None:
            kind, fields = message
            if kind == "collected":
                inbox.expect(fields["tests"])
            elif kind == "journaled":
                inbox.journaled(int(fields["runs"]))
            elif kind == "end":
                inbox.end(fields.get("warnings", ()))
            elif kind == "stop":
                inbox.stop_sending()
    finally:
        inbox.close()


def _state_forwarder(send: pipe.Sender) -> Any:
    def forward(state: UploadState, event: str, notable: bool) -> None:
        send(
            "state",
            counters={name: getattr(state, name) for name in COUNTERS},
            event=event,
            notable=notable,
        )

    return forward


def _show_warning(send: pipe.Sender) -> Any:
    def show(message: Any, category: type[Warning], filename: str, lineno: int, *_: Any) -> None:
        send(
            "warning",
            message=str(message),
            category=category.__name__,
            filename=filename,
            lineno=lineno,
        )

    return show


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the pytest process says when to stop
    commands = pipe.unbuffered(os.dup(0), "rb")
    send = pipe.Sender(pipe.unbuffered(os.dup(1), "wb"))
    os.dup2(2, 1)  # a stray print must not break the messages: stdout is stderr from here
    sys.stdout = sys.stderr
    logging.basicConfig(level=logging.WARNING, format="pytest-octane uploader: %(message)s")
    warnings.showwarning = _show_warning(send)
    try:
        first = pipe.receive(commands)
        if first is None or first[0] != "start":
            return 2  # started by hand, or pytest died before saying anything
        start = first[1]
        inbox = Inbox()
        reader = threading.Thread(target=_read_pipe, args=(commands, inbox), daemon=True)
        reader.start()
        state = UploadState()
        state.listen(_state_forwarder(send))
        fields = start.get("credentials")

        def progress(line: str) -> None:
            send("text", line=line)

        # record the job first, with the light modules only: pytest waits for this "ready"
        # at the end of collection; the HTTP client and the engine are loaded afterwards
        opened = open_job(start["settings"], [], start["job_id"], journal=start["journal"])
        send("ready", location=opened[1].location, warning=opened[3])
        from pytest_octane.job.run.session import SessionUpload

        session = SessionUpload(
            opened[0],
            start["job_id"],
            start["journal"],
            inbox,
            credentials=pipe.credentials_from(fields) if fields else None,
            credentials_error=start.get("credentials_error"),
            progress=progress,
            state=state,
        )
        outcome = session.run(opened)
        outcome.warnings[:0] = inbox.warnings  # pytest's own (a journal in a private folder)
        send("outcome", report=outcome.report(strict=start["settings"].strict))
        return 0
    except BaseException as exc:  # the uploader's error boundary: pytest says what happened
        send("crash", error=f"{type(exc).__name__}: {exc}", trace=traceback.format_exc())
        return 1
    finally:
        send.close()


if __name__ == "__main__":
    code = main()
    logging.shutdown()  # the outcome is sent, the store closed: pytest waits for no teardown
    os._exit(code)
