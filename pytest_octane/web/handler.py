"""The jobs page's request handler: routing, access checks, the pages and the button's POST."""

from __future__ import annotations

import argparse
import sys
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from pytest_octane.errors import OctaneError, StoreError
from pytest_octane.model import JobRecord
from pytest_octane.store import TaskStore
from pytest_octane.web.access import cookies, is_loopback, local_path, same, same_origin
from pytest_octane.web.render import job_href, render_job, render_jobs, render_message
from pytest_octane.web.retry import Notice, retry_failed_slices

__all__ = ["Handler", "JobsPage"]

TOKEN_HEADER = "X-Octane-Token"
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


class JobsPage(Protocol):
    """What the handler needs of its server (``server.JobsServer``)."""

    args: argparse.Namespace
    store: TaskStore
    token: str | None
    quiet: bool
    csrf: str
    notices: dict[str, Notice]
    cookie_name: str
    cookie_value: str

    def job_lock(self, job_id: str) -> threading.Lock: ...


class Handler(BaseHTTPRequestHandler):
    """One request to the jobs page: access rules first, then a page or the button."""

    server: JobsPage  # type: ignore[assignment]
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
            if given and method == "GET" and same(given[-1], self.server.token):
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
            return same(header, token)
        cookie = cookies(self.headers.get("Cookie")).get(self.server.cookie_name)
        return cookie is not None and same(cookie, self.server.cookie_value)

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
        if not same(form.get("csrf", ""), self.server.csrf):
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
        damaged: list[str] = []  # one line per damaged request-log line, as `jobs` does
        page = render_job(
            job,
            server.store.read_requests(job_id, on_damaged=damaged.append),
            damaged_requests=damaged,
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
            self._redirect(job_href(job_id))  # the page says a re-upload is running
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
        self._redirect(job_href(job_id))

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
