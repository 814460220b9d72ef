"""The jobs page's HTTP server (``JobsServer``), which ``pytest-octane serve`` starts.

It shows the task store's jobs, their slices, errors, history and request logs, and has a
"Re-upload failed slices" button that does what ``pytest-octane retry JOB`` does.  The
pages are in ``render``, the requests in ``handler``, the rules below in ``access``.

Access rules: without ``--token`` the page listens on loopback only and answers only to
loopback host names (a DNS-rebinding page cannot reach it).  With a token every request
must carry it (``?token=`` once, then an HttpOnly cookie; or the ``X-Octane-Token``
header).  The button is a POST with a per-server CSRF token and a same-origin check, and
no GET changes anything.
"""

from __future__ import annotations

import argparse
import secrets
import socket
import socketserver
import threading
from http.server import ThreadingHTTPServer

from pytest_octane.store import TaskStore
from pytest_octane.web.access import check_token, cookie_value
from pytest_octane.web.handler import Handler
from pytest_octane.web.retry import Notice
from pytest_octane.web.upload import join_uploads

__all__ = ["DEFAULT_PORT", "TOKEN_ENV", "JobsServer"]

DEFAULT_PORT = 8765
#: Where ``--token`` is read from when not given (keeps it out of ``ps`` listings).
TOKEN_ENV = "OCTANE_SERVE_TOKEN"


class JobsServer(ThreadingHTTPServer):
    """The jobs page over one open task store; ``start()`` serves it in a thread."""

    daemon_threads = True

    def __init__(
        self,
        args: argparse.Namespace,
        store: TaskStore,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        token: str | None = None,
        quiet: bool = False,
    ) -> None:
        if token is not None:
            check_token(token, "the jobs page token")
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.args = args
        self.store = store
        self.token = token
        self.quiet = quiet
        #: Hidden in every form and checked on every POST; new per server start.
        self.csrf = secrets.token_urlsafe(32)
        self.notices: dict[str, Notice] = {}
        #: Uploads started from the page's form; ``stop`` waits for them (bounded).
        self.uploads: list[threading.Thread] = []
        self._job_locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None
        super().__init__((host.strip("[]"), port), Handler)
        self.port: int = self.server_address[1]
        self.cookie_name = f"octane_jobs_{self.port}"  # cookies ignore ports; tokens do not
        self.cookie_value = cookie_value(token) if token is not None else ""

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup of the host (slow without DNS)."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    @property
    def url(self) -> str:
        host = str(self.server_address[0])
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def job_lock(self, job_id: str) -> threading.Lock:
        with self._guard:
            return self._job_locks.setdefault(job_id, threading.Lock())

    def start(self) -> JobsServer:
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.1}, name="octane-jobs-page"
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self, upload_wait_s: float = 60.0) -> None:
        """Stop serving; wait at most ``upload_wait_s`` for uploads started from the form
        (an upload cut short is resumable: every slice's state is recorded)."""
        join_uploads(self.uploads, upload_wait_s)
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        self.server_close()

    def __enter__(self) -> JobsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
