"""``pytest-octane serve``: the jobs page.

It shows the task store's jobs, their slices, errors, history and request logs, and has a
"Re-upload failed slices" button that does what ``pytest-octane retry JOB`` does.  The
HTML is rendered on the server with the standard library; every value from the store is
escaped, because error texts and request logs hold whatever Octane or a proxy answered.

Access rules: without ``--token`` the page listens on loopback only and answers only to
loopback host names (a DNS-rebinding page cannot reach it).  With a token every request
must carry it (``?token=`` once, then an HttpOnly cookie; or the ``X-Octane-Token``
header).  The button is a POST with a per-server CSRF token and a same-origin check, and
no GET changes anything.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import html
import ipaddress
import json
import os
import secrets
import shlex
import signal
import socket
import socketserver
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from pytest_octane import cli
from pytest_octane.errors import ConfigError, OctaneError, StoreError
from pytest_octane.model import JobRecord, RequestLogEntry, SliceRecord, SliceStatus
from pytest_octane.store import DamagedJob, TaskStore
from pytest_octane.web.access import check_token, local_path, same_origin

if TYPE_CHECKING:
    from pytest_octane.job.engine import JobOutcome

__all__ = [
    "DEFAULT_PORT",
    "TOKEN_ENV",
    "JobsServer",
    "Notice",
    "configure_parser",
    "is_loopback",
    "render_job",
    "render_jobs",
    "retry_failed_slices",
    "run",
]

DEFAULT_PORT = 8765
#: Where ``--token`` is read from when not given (keeps it out of ``ps`` listings).
TOKEN_ENV = "OCTANE_SERVE_TOKEN"
TOKEN_HEADER = "X-Octane-Token"
RETRY_BUTTON = "Re-upload failed slices"
#: Request log rows shown on a job page; ``pytest-octane logs JOB`` prints them all.
LOG_ROWS = 500
#: Characters of a logged request body shown (inside a collapsed block).
BODY_CHARS = 4000
#: The button's form is a few dozen bytes; anything much larger is not ours.
MAX_FORM_BYTES = 16 * 1024

_SECURITY_HEADERS = (
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'",
    ),
    ("X-Frame-Options", "DENY"),  # the button must not be clickable through a frame
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Cache-Control", "no-store"),
)


# ---------------------------------------------------------------- the re-upload


def retry_failed_slices(
    args: argparse.Namespace,
    store: TaskStore,
    job_id: str,
    *,
    progress: Callable[[str], None] | None = None,
) -> JobOutcome:
    """Re-send the job's Failed slices exactly as ``pytest-octane retry JOB`` would.

    The job's recorded settings are used, with the options ``serve`` was started with on
    top (``cli.job_settings``), so a re-upload from the page and one from a terminal send
    the same bytes.  Raises StoreError for an unknown job, ConfigError for a bad setting.
    """
    from pytest_octane.job.engine import execute_job

    job = store.get_job(job_id)
    settings = cli.job_settings(args, job)
    return execute_job(settings, store, job, mode="retry", progress=progress)


@dataclass(frozen=True, slots=True)
class Notice:
    """The outcome of the last re-upload started from the page, shown on the job page."""

    when: float
    ok: bool
    lines: tuple[str, ...]
    progress: tuple[str, ...] = ()


# ---------------------------------------------------------------- access rules


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address literal; any other name needs a token."""
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _cookie_value(token: str) -> str:
    """What the cookie holds: a digest of the token, so the token itself is never stored."""
    return hashlib.sha256(b"pytest-octane serve\0" + token.encode("utf-8")).hexdigest()


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _cookies(header: str | None) -> dict[str, str]:
    """Cookie header parsed leniently (``http.cookies`` drops every cookie after a bad one)."""
    found: dict[str, str] = {}
    for part in (header or "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name:
            found.setdefault(name, value.strip().strip('"'))
    return found


# ---------------------------------------------------------------- HTML

_e = html.escape

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right}
.status{font-weight:600}.success{color:#1a7f37}.failed{color:#c62828}.running{color:#9a6700}
.notice{border:1px solid #ccc;padding:.5em 1em;margin:1em 0}
.notice.ok{border-color:#1a7f37}.notice.bad{border-color:#c62828}
pre{white-space:pre-wrap;word-break:break-word;margin:0}
code{background:#f3f3f3;padding:0 .2em}
button{font-size:1em;padding:.35em 1em}
.muted{color:#666}
"""


def _stamp(epoch: object) -> str:
    if isinstance(epoch, bool) or not isinstance(epoch, int | float) or epoch <= 0:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def _job_href(job_id: str, suffix: str = "") -> str:
    return "/jobs/" + quote(job_id, safe="") + suffix


def _status(status: SliceStatus | str, element_id: str = "") -> str:
    value = str(status)
    attr = f' id="{_e(element_id)}"' if element_id else ""
    return f'<span{attr} class="status {_e(value.lower())}">{_e(value)}</span>'


def _octane_link(job: JobRecord) -> str:
    """A link to the workspace in Octane's UI, only for an http(s) server URL."""
    server = job.server.rstrip("/")
    if urlsplit(server).scheme.lower() not in ("http", "https"):
        return ""
    href = f"{server}/ui/?p={job.space_id}/{job.workspace_id}"
    return f' (<a href="{_e(href)}" rel="noopener noreferrer">open in Octane</a>)'


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)} - pytest-octane</title><style>{_CSS}</style></head>"
        f'<body><p class="muted"><a href="/">all jobs</a></p>{body}</body></html>\n'
    )


def render_message(title: str, text: str) -> str:
    return _page(title, f"<h1>{_e(title)}</h1><p>{_e(text)}</p>")


def _counts(job: JobRecord) -> Counter[SliceStatus]:
    return Counter(record.status for record in job.slices)


def render_jobs(
    jobs: Sequence[JobRecord], location: str, damaged: Sequence[DamagedJob] = ()
) -> str:
    """The jobs table, newest first (the store's order), then one line per damaged job."""
    if not jobs:
        table = f"<p>No jobs in the task store <code>{_e(location)}</code> yet.</p>"
    else:
        rows = []
        for job in jobs:
            counts = _counts(job)
            rows.append(
                f'<tr id="job-{_e(job.job_id)}">'
                f'<td><a href="{_e(_job_href(job.job_id))}">{_e(job.job_id)}</a></td>'
                f"<td>{_e(str(job.space_id))} / {_e(str(job.workspace_id))}</td>"
                f"<td>{_e(job.server)}</td>"
                f"<td>{_e(_stamp(job.created_at))}</td>"
                f'<td class="num">{sum(s.run_count for s in job.slices)}</td>'
                f'<td class="num">{counts[SliceStatus.SUCCESS]}</td>'
                f'<td class="num">{counts[SliceStatus.FAILED]}</td>'
                f'<td class="num">{counts[SliceStatus.RUNNING]}</td>'
                f"<td>{_status(job.status)}</td></tr>"
            )
        table = (
            '<table id="jobs"><tr><th>Job</th><th>Space / workspace</th><th>Server</th>'
            "<th>Created</th><th>Runs</th><th>Slices OK</th><th>Failed</th><th>Running</th>"
            "<th>Status</th></tr>" + "".join(rows) + "</table>"
        )
    body = (
        f'<h1>Upload jobs</h1><p class="muted">Task store: <code>{_e(location)}</code></p>{table}'
    )
    if damaged:
        items = "".join(f"<li><code>{_e(d.job_id)}</code>: {_e(d.problem)}</li>" for d in damaged)
        body += f'<h2>Damaged jobs</h2><ul id="damaged" class="failed">{items}</ul>'
    return _page("Upload jobs", body)


def _slice_row(record: SliceRecord) -> str:
    task = "-" if record.task_id is None else str(record.task_id)
    index = _e(str(record.index))
    return (
        f'<tr id="slice-{index}"><td class="num">{index}</td>'
        f'<td class="num">{_e(str(record.run_count))}</td><td class="num">{_e(task)}</td>'
        f"<td>{_status(record.status)}</td>"
        f'<td class="num">{_e(str(record.attempts))}</td>'
        f"<td>{_e(record.server_status or '')}</td>"
        f"<td><pre>{_e(record.last_error or '')}</pre></td>"
        f"<td><pre>{_e(record.error_details or '')}</pre></td>"
        f"<td>{_e(_stamp(record.updated_at))}</td></tr>"
    )


def _history_rows(history: Iterable[Mapping[str, Any]]) -> str:
    rows = []
    for event in history:
        rest = {k: v for k, v in event.items() if k not in ("time", "event")}
        details = json.dumps(rest, default=str, sort_keys=True) if rest else ""
        rows.append(
            f"<tr><td>{_e(_stamp(event.get('time')))}</td><td>{_e(str(event.get('event')))}</td>"
            f"<td><pre>{_e(details)}</pre></td></tr>"
        )
    return "".join(rows)


def _request_rows(entries: Sequence[RequestLogEntry]) -> str:
    rows = []
    for entry in entries:
        body = ""
        if entry.body:
            shown = entry.body[:BODY_CHARS]
            more = (
                f"\n... ({len(entry.body) - BODY_CHARS} more characters)"
                if shown != entry.body
                else ""
            )
            body = f"<details><summary>body</summary><pre>{_e(shown + more)}</pre></details>"
        status = "---" if entry.status is None else str(entry.status)
        rows.append(
            f"<tr><td>{_e(_stamp(entry.time))}</td><td>{_e(entry.method)}</td>"
            f'<td class="num">{_e(status)}</td><td class="num">{entry.duration_ms}</td>'
            f"<td><pre>{_e(entry.url)}</pre>{body}</td><td>{_e(entry.correlation_id)}</td>"
            f"<td><pre>{_e(entry.error or '')}</pre></td></tr>"
        )
    return "".join(rows)


def _commands(job: JobRecord, location: str) -> tuple[str, str]:
    from pytest_octane.job.engine import JobOutcome

    outcome = JobOutcome(job=job, store_location=location)
    return outcome.retry_command(), outcome.resume_command()


def _notice_block(notice: Notice) -> str:
    title = "succeeded" if notice.ok else "did not succeed"
    lines = "\n".join(notice.lines)
    progress = ""
    if notice.progress:
        progress = (
            "<details><summary>progress</summary>"
            f"<pre>{_e(chr(10).join(notice.progress))}</pre></details>"
        )
    return (
        f'<div id="notice" class="notice {"ok" if notice.ok else "bad"}">'
        f"<p><strong>Re-upload started from this page at {_e(_stamp(notice.when))} "
        f"{title}.</strong></p><pre>{_e(lines)}</pre>{progress}</div>"
    )


def render_job(
    job: JobRecord,
    requests: Sequence[RequestLogEntry],
    *,
    location: str,
    csrf: str,
    notice: Notice | None = None,
    busy: bool = False,
) -> str:
    """One job: summary, the re-upload button, slices, history and the request log."""
    counts = _counts(job)
    retry_command, resume_command = _commands(job, location)
    build = ", ".join(f"{k}={v}" for k, v in sorted(job.build.items())) or "-"
    parts = [
        f"<h1>Job {_e(job.job_id)} {_status(job.status, 'job-status')}</h1>",
        "<table>",
        f"<tr><th>Server</th><td>{_e(job.server)}{_octane_link(job)}</td></tr>",
        f"<tr><th>Shared space / workspace</th><td>{_e(str(job.space_id))} / "
        f"{_e(str(job.workspace_id))}</td></tr>",
        f"<tr><th>Created</th><td>{_e(_stamp(job.created_at))}</td></tr>",
        f"<tr><th>Finished</th><td>{_e(_stamp(job.finished_at))}</td></tr>",
        f"<tr><th>Build</th><td>{_e(build)}</td></tr>",
        f"<tr><th>Slices</th><td>{len(job.slices)}: {counts[SliceStatus.SUCCESS]} ok, "
        f"{counts[SliceStatus.FAILED]} failed, {counts[SliceStatus.RUNNING]} unfinished "
        f"({sum(s.run_count for s in job.slices)} runs)</td></tr>",
        f"<tr><th>Task store</th><td><code>{_e(location)}</code></td></tr>",
        "</table>",
    ]
    if notice is not None:
        parts.append(_notice_block(notice))
    if busy:
        parts.append(
            '<p id="busy" class="notice">A re-upload of this job started from this page is '
            "running; reload to see its progress.</p>"
        )
    if counts[SliceStatus.FAILED]:
        parts.append(
            f'<form method="post" action="{_e(_job_href(job.job_id, "/retry"))}">'
            f'<input type="hidden" name="csrf" value="{_e(csrf)}">'
            f'<button type="submit" id="retry">{_e(RETRY_BUTTON)}</button></form>'
            f'<p class="muted">Sends each Failed slice again as a new Octane task, never a '
            f"successful one; the same as <code>{_e(retry_command)}</code></p>"
        )
    if counts[SliceStatus.RUNNING]:
        parts.append(
            '<p class="muted">Some slices are unfinished. If the upload that started this job '
            f"is no longer running, finish it with <code>{_e(resume_command)}</code></p>"
        )
    parts += [
        "<h2>Slices</h2>",
        '<table id="slices"><tr><th>Slice</th><th>Runs</th><th>Task id</th><th>Status</th>'
        "<th>Attempts</th><th>Octane status</th><th>Error</th><th>Error details</th>"
        "<th>Updated</th></tr>",
        *(_slice_row(record) for record in sorted(job.slices, key=lambda s: s.index)),
        "</table>",
        "<h2>History</h2>",
    ]
    if job.history:
        parts.append(
            '<table id="history"><tr><th>Time</th><th>Event</th><th>Details</th></tr>'
            + _history_rows(job.history)
            + "</table>"
        )
    else:
        parts.append('<p class="muted">No re-uploads, resumes or delinks yet.</p>')
    if job.settings:
        rows = "".join(
            f"<tr><th>{_e(str(k))}</th><td>{_e(json.dumps(v, default=str))}</td></tr>"
            for k, v in sorted(job.settings.items())
        )
        parts.append(
            f"<details><summary>Recorded upload settings</summary><table>{rows}</table></details>"
        )
    parts.append("<h2>Request log</h2>")
    shown = requests[-LOG_ROWS:]
    if len(requests) > len(shown):
        parts.append(
            f'<p class="muted">The last {len(shown)} of {len(requests)} requests; '
            f"<code>{_e(f'pytest-octane logs {job.job_id} --task-store {shlex.quote(location)}')}"
            "</code> prints them all.</p>"
        )
    if shown:
        parts.append(
            '<table id="requests"><tr><th>Time</th><th>Method</th><th>Status</th><th>ms</th>'
            "<th>URL</th><th>Correlation id</th><th>Error</th></tr>"
            + _request_rows(shown)
            + "</table>"
        )
    else:
        parts.append('<p class="muted">No requests logged.</p>')
    return _page(f"Job {job.job_id}", "".join(parts))


# ---------------------------------------------------------------- the server


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
        self._job_locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None
        super().__init__((host.strip("[]"), port), _Handler)
        self.port: int = self.server_address[1]
        self.cookie_name = f"octane_jobs_{self.port}"  # cookies ignore ports; tokens do not
        self.cookie_value = _cookie_value(token) if token is not None else ""

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

    def stop(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        self.server_close()

    def __enter__(self) -> JobsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    server: JobsServer
    server_version = "pytest-octane-jobs-page"
    sys_version = ""

    # -- logging: never the query string (it may hold ?token=)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # http.server's messages can quote the raw request line

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if self.server.quiet:
            return
        path = urlsplit(getattr(self, "path", "") or "").path
        code = code.value if isinstance(code, HTTPStatus) else code
        sys.stderr.write(f"{time.strftime('%H:%M:%S')} {self.command or '-'} {path} {code}\n")

    # -- entry points

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        try:
            self._route(method)
        except Exception:
            if not self.server.quiet:
                traceback.print_exc()
            self._send_html(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                render_message("Internal error", "the jobs page failed; see its console"),
            )

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        query = parse_qsl(url.query, keep_blank_values=True)
        if not self._host_allowed():
            self._send_html(
                HTTPStatus.FORBIDDEN,
                render_message(
                    "Forbidden",
                    "without --token the jobs page answers only to localhost, 127.0.0.1 "
                    "or [::1]; open it by one of those names",
                ),
            )
            return
        if self.server.token is not None:
            given = [v for k, v in query if k == "token"]
            if given and method == "GET" and _same(given[-1], self.server.token):
                rest = urlencode([(k, v) for k, v in query if k != "token"])
                self._redirect(local_path(url.path) + (f"?{rest}" if rest else ""), set_cookie=True)
                return
            if not self._authorized():
                self._send_html(
                    HTTPStatus.UNAUTHORIZED,
                    render_message(
                        "Token required",
                        "this jobs page needs its token: open /?token=TOKEN once (the token "
                        "'pytest-octane serve' was started with); the browser then keeps it",
                    ),
                )
                return
        parts = [unquote(p) for p in url.path.split("/")[1:]]
        if parts == [""]:
            if method != "GET":
                self._not_allowed("GET")
                return
            self._jobs_page()
        elif len(parts) == 2 and parts[0] == "jobs" and parts[1]:
            if method != "GET":
                self._not_allowed("GET")
                return
            self._job_page(parts[1])
        elif len(parts) == 3 and parts[0] == "jobs" and parts[1] and parts[2] == "retry":
            if method != "POST":
                self._not_allowed("POST")
                return
            self._retry(parts[1])
        else:
            self._send_html(HTTPStatus.NOT_FOUND, render_message("Not found", "no such page"))

    # -- access

    def _host_allowed(self) -> bool:
        """Without a token, only loopback names: a rebound DNS name must not get in."""
        if self.server.token is not None:
            return True
        host = self.headers.get("Host")
        if host is None:
            return True  # not a browser
        try:
            name = urlsplit("//" + host).hostname
        except ValueError:
            return False
        return name is not None and is_loopback(name)

    def _authorized(self) -> bool:
        token = self.server.token
        if token is None:
            return True
        header = self.headers.get(TOKEN_HEADER)
        if header is None:
            scheme, _, value = (self.headers.get("Authorization") or "").partition(" ")
            header = value.strip() if scheme.lower() == "bearer" else None
        if header is not None:
            return _same(header, token)
        cookie = _cookies(self.headers.get("Cookie")).get(self.server.cookie_name)
        return cookie is not None and _same(cookie, self.server.cookie_value)

    def _cross_site(self, form: Mapping[str, str]) -> str | None:
        """Why this POST may come from another site, or None when it is our own form."""
        host = self.headers.get("Host") or ""
        origin = self.headers.get("Origin")
        if origin is not None:
            if not same_origin(origin, host):
                return "the request came from another site (Origin)"
        else:
            referer = self.headers.get("Referer")
            if referer and not same_origin(referer, host):
                return "the request came from another site (Referer)"
        if not _same(form.get("csrf", ""), self.server.csrf):
            return "the form's CSRF token is missing or stale"
        return None

    # -- pages

    def _jobs_page(self) -> None:
        store = self.server.store
        listing = store.scan_jobs()
        page = render_jobs(listing.jobs, store.location, listing.damaged)
        self._send_html(HTTPStatus.OK, page)

    def _read_job(self, job_id: str) -> JobRecord | None:
        """The job, or None after answering 404 (unknown) or 500 (unreadable)."""
        store = self.server.store
        try:
            return store.get_job(job_id)
        except StoreError as exc:
            if store.scan_jobs().has(job_id):
                self._send_html(
                    HTTPStatus.INTERNAL_SERVER_ERROR, render_message("Task store error", str(exc))
                )
            else:
                self._send_html(
                    HTTPStatus.NOT_FOUND,
                    render_message(
                        "No such job",
                        f"job {job_id!r} is not in the task store '{store.location}'",
                    ),
                )
            return None

    def _job_page(self, job_id: str) -> None:
        job = self._read_job(job_id)
        if job is None:
            return
        server = self.server
        lock = server.job_lock(job_id)
        busy = lock.locked()
        page = render_job(
            job,
            server.store.read_requests(job_id),
            location=server.store.location,
            csrf=server.csrf,
            notice=server.notices.get(job_id),
            busy=busy,
        )
        self._send_html(HTTPStatus.OK, page)

    def _retry(self, job_id: str) -> None:
        form = self._read_form()
        if form is None:
            return
        problem = self._cross_site(form)
        if problem is not None:
            self._send_html(
                HTTPStatus.FORBIDDEN,
                render_message(
                    "Refused",
                    f"{problem}: reload the job page and press the button again",
                ),
            )
            return
        if self._read_job(job_id) is None:
            return
        server = self.server
        lock = server.job_lock(job_id)
        if not lock.acquire(blocking=False):
            self._redirect(_job_href(job_id))  # the page says a re-upload is running
            return
        progress: list[str] = []
        try:
            outcome = retry_failed_slices(
                server.args, server.store, job_id, progress=progress.append
            )
            notice = Notice(
                time.time(), outcome.ok, tuple(outcome.summary_lines()), tuple(progress)
            )
        except OctaneError as exc:
            notice = Notice(time.time(), False, (f"error: {exc}",), tuple(progress))
        finally:
            lock.release()
        server.notices[job_id] = notice
        if not server.quiet:
            print(f"re-upload of job {job_id} from the jobs page:", flush=True)
            for line in notice.lines:
                print(f"  {line}", flush=True)
        self._redirect(_job_href(job_id))

    # -- plumbing

    def _read_form(self) -> dict[str, str] | None:
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            self._send_html(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                render_message("Refused", "expected the page's own form"),
            )
            return None
        try:
            length = int(self.headers.get("Content-Length") or "")
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_FORM_BYTES:
            self.close_connection = True
            self._send_html(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE
                if length > MAX_FORM_BYTES
                else HTTPStatus.LENGTH_REQUIRED,
                render_message("Refused", "expected the page's own small form"),
            )
            return None
        body = self.rfile.read(length).decode("utf-8", "replace")
        return dict(parse_qsl(body, keep_blank_values=True))

    def _not_allowed(self, allowed: str) -> None:
        text = (
            "this address only takes the job page's button (POST)"
            if allowed == "POST"
            else "this page is read-only"
        )
        self._send_html(
            HTTPStatus.METHOD_NOT_ALLOWED,
            render_message("Method not allowed", text),
            headers=[("Allow", allowed)],
        )

    def _redirect(self, location: str, *, set_cookie: bool = False) -> None:
        self.send_response(HTTPStatus.SEE_OTHER)
        self.send_header("Location", location)
        if set_cookie:
            self.send_header(
                "Set-Cookie",
                f"{self.server.cookie_name}={self.server.cookie_value}; Path=/; HttpOnly; "
                "SameSite=Strict",
            )
        for name, value in _SECURITY_HEADERS:
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send_html(
        self, status: HTTPStatus, page: str, *, headers: Sequence[tuple[str, str]] = ()
    ) -> None:
        data = page.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (*_SECURITY_HEADERS, *headers):
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


# ---------------------------------------------------------------- command line


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
    cli.add_task_store_argument(parser)
    # What a re-upload needs and a job does not record (credentials, proxy, TLS, timeouts);
    # the upload options are recorded with each job, or come from OCTANE_* variables.
    cli.add_settings_arguments(parser, groups=["connection"])
    parser.set_defaults(func=run)


def _token(args: argparse.Namespace) -> str | None:
    given: str | None = getattr(args, "token", None)
    if given is not None:
        return check_token(given, "--token")
    from_env = os.environ.get(TOKEN_ENV, "").strip()
    return check_token(from_env, TOKEN_ENV) if from_env else None


def _fail(message: str) -> int:
    print(f"pytest-octane: error: {message}", file=sys.stderr)
    return cli.EXIT_USAGE


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
        from pytest_octane.job.overrides import refuse_connection_flags

        refuse_connection_flags(args)
        cli.settings_from_args(args)  # a bad setting fails now, not at the first click
        store: TaskStore = cli.open_task_store(args)
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
    return cli.EXIT_OK
