"""The jobs page's request handler: routing, access checks, the pages and the button's POST."""

from __future__ import annotations

import argparse
import json
import secrets
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
from pytest_octane.model import JobRecord, SliceStatus
from pytest_octane.store import TaskStore
from pytest_octane.store.query import JobQuery, query_jobs
from pytest_octane.web.access import cookies, is_loopback, local_path, same, same_origin
from pytest_octane.web.api import job_json, jobs_json
from pytest_octane.web.render import (
    job_href,
    job_is_live,
    render_job,
    render_jobs,
    render_message,
    render_upload,
)
from pytest_octane.web.retry import Notice, retry_failed_slices
from pytest_octane.web.upload import (
    MAX_UPLOAD_BYTES,
    parse_multipart,
    space_choices,
    start_upload,
)

__all__ = ["Handler", "JobsPage"]

TOKEN_HEADER = "X-Octane-Token"
#: The button's form is a few dozen bytes; anything much larger is not ours.
MAX_FORM_BYTES = 16 * 1024
#: Jobs per page of the list.
PAGE_SIZE = 50

_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def _csp(nonce: str | None) -> str:
    """The policy: no script at all, or only the page's own inline one (by its nonce),
    which may fetch this server's JSON and nothing else."""
    if nonce is None:
        return _CSP
    return f"{_CSP}; script-src 'nonce-{nonce}'; connect-src 'self'"


_SECURITY_HEADERS = (
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
    uploads: list[threading.Thread]

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
            self._send_error(
                HTTPStatus.FORBIDDEN,
                "Forbidden",
                "without --token the jobs page answers only to localhost, 127.0.0.1 "
                "or [::1]; open it by one of those names",
            )
            return
        if self.server.token is not None:
            given = [v for k, v in query if k == "token"]
            if given and method == "GET" and same(given[-1], self.server.token):
                rest = urlencode([(k, v) for k, v in query if k != "token"])
                self._redirect(local_path(url.path) + (f"?{rest}" if rest else ""), set_cookie=True)
                return
            if not self._authorized():
                self._send_error(
                    HTTPStatus.UNAUTHORIZED,
                    "Token required",
                    "this jobs page needs its token: open /?token=TOKEN once (the token "
                    "'pytest-octane serve' was started with); the browser then keeps it, "
                    f"or send the header {TOKEN_HEADER}",
                )
                return
        parts = [unquote(p) for p in url.path.split("/")[1:]]
        params = dict(query)
        if parts == [""]:
            if method != "GET":
                self._not_allowed("GET")
                return
            self._jobs_page(params)
        elif parts == ["api", "jobs"]:
            if method != "GET":
                self._not_allowed("GET")
                return
            self._jobs_api(params)
        elif len(parts) == 3 and parts[:2] == ["api", "jobs"] and parts[2]:
            if method != "GET":
                self._not_allowed("GET")
                return
            self._job_api(parts[2])
        elif parts == ["upload"]:
            if method == "GET":
                self._upload_page()
            elif method == "POST":
                self._upload()
            else:
                self._not_allowed("GET, POST")
        elif len(parts) == 2 and parts[0] == "jobs" and parts[1]:
            if method != "GET":
                self._not_allowed("GET")
                return
            self._job_page(parts[1], params.get("q", ""))
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

    def _job_query(self, params: Mapping[str, str]) -> JobQuery | None:
        """The list's filters and page from the address, or None after answering 400."""
        status_text = params.get("status", "").strip()
        space_text = params.get("space", "").strip()
        page_text = params.get("page", "").strip() or "1"
        status = None
        if status_text:
            try:
                status = SliceStatus(status_text)
            except ValueError:
                self._bad_query(
                    f"status={status_text!r} is not a job status: use "
                    + ", ".join(s.value for s in SliceStatus)
                )
                return None
        if space_text and not space_text.isdigit():
            self._bad_query(f"space={space_text!r} is not a shared space id (digits)")
            return None
        if not page_text.isdigit() or int(page_text) < 1:
            self._bad_query(f"page={page_text!r} is not a page number (1, 2, ...)")
            return None
        return JobQuery(
            status=status,
            space=int(space_text) if space_text else None,
            text=params.get("q", "")[:200],
            offset=(int(page_text) - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
        )

    def _bad_query(self, text: str) -> None:
        if self._is_api():
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": text})
        else:
            self._send_html(HTTPStatus.BAD_REQUEST, render_message("Bad address", text))

    def _jobs_page(self, params: Mapping[str, str]) -> None:
        query = self._job_query(params)
        if query is None:
            return
        store = self.server.store
        page = query_jobs(store, query)
        nonce = secrets.token_urlsafe(16)
        html = render_jobs(page, query, store.location, now=time.time(), nonce=nonce)
        self._send_html(HTTPStatus.OK, html, nonce=nonce)

    def _jobs_api(self, params: Mapping[str, str]) -> None:
        query = self._job_query(params)
        if query is None:
            return
        self._send_json(HTTPStatus.OK, jobs_json(query_jobs(self.server.store, query), query))

    def _job_api(self, job_id: str) -> None:
        job = self._read_job(job_id)
        if job is None:
            return
        server = self.server
        busy = server.job_lock(job_id).locked()
        data = job_json(job, busy=busy, notice=server.notices.get(job_id))
        self._send_json(HTTPStatus.OK, data)

    def _upload_page(self, error: str | None = None, status: HTTPStatus = HTTPStatus.OK) -> None:
        choices, problem = space_choices(self.server.args)
        page = render_upload(
            choices, problem, csrf=self.server.csrf, max_bytes=MAX_UPLOAD_BYTES, error=error
        )
        self._send_html(status, page)

    def _upload(self) -> None:
        ctype = self.headers.get("Content-Type") or ""
        try:
            length = int(self.headers.get("Content-Length") or "")
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_UPLOAD_BYTES:
            self.close_connection = True
            self._send_html(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE
                if length > MAX_UPLOAD_BYTES
                else HTTPStatus.LENGTH_REQUIRED,
                render_message(
                    "Refused",
                    f"the upload is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB: "
                    "upload fewer files at once, or use 'pytest-octane upload'",
                ),
            )
            return
        body = self.rfile.read(length)
        try:
            posted = parse_multipart(ctype, body)
        except ValueError as exc:
            self._send_html(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, render_message("Refused", str(exc)))
            return
        problem = self._cross_site(posted.fields)
        if problem is not None:
            self._send_html(
                HTTPStatus.FORBIDDEN,
                render_message("Refused", f"{problem}: reload the upload page and try again"),
            )
            return
        server = self.server
        try:
            job_id = start_upload(
                server.args,
                server.store,
                posted,
                lock_of=server.job_lock,
                done=server.notices.__setitem__,
                threads=server.uploads,
            )
        except OctaneError as exc:
            self._upload_page(error=str(exc), status=HTTPStatus.BAD_REQUEST)
            return
        if not server.quiet:
            print(f"upload of job {job_id} started from the jobs page", flush=True)
        self._redirect(job_href(job_id))

    def _read_job(self, job_id: str) -> JobRecord | None:
        """The job, or None after answering 404 (unknown) or 500 (unreadable)."""
        store = self.server.store
        try:
            return store.get_job(job_id)
        except StoreError as exc:
            if store.scan_jobs().has(job_id):
                self._send_error(HTTPStatus.INTERNAL_SERVER_ERROR, "Task store error", str(exc))
            else:
                self._send_error(
                    HTTPStatus.NOT_FOUND,
                    "No such job",
                    f"job {job_id!r} is not in the task store '{store.location}'",
                )
            return None

    def _job_page(self, job_id: str, search: str) -> None:
        job = self._read_job(job_id)
        if job is None:
            return
        server = self.server
        lock = server.job_lock(job_id)
        busy = lock.locked()
        nonce = secrets.token_urlsafe(16) if job_is_live(job, busy) else None
        page = render_job(
            job,
            server.store.read_requests(job_id),
            location=server.store.location,
            csrf=server.csrf,
            notice=server.notices.get(job_id),
            busy=busy,
            search=search[:200],
            nonce=nonce,
        )
        self._send_html(HTTPStatus.OK, page, nonce=nonce)

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
        for name, value in (("Content-Security-Policy", _CSP), *_SECURITY_HEADERS):
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _is_api(self) -> bool:
        return urlsplit(getattr(self, "path", "") or "").path.startswith("/api/")

    def _send_error(self, status: HTTPStatus, title: str, text: str) -> None:
        """An error as JSON under ``/api/``, else as a page."""
        if self._is_api():
            self._send_json(status, {"error": text})
        else:
            self._send_html(status, render_message(title, text))

    def _send_json(self, status: HTTPStatus, data: object) -> None:
        self._send(status, json.dumps(data, default=str), "application/json", None, ())

    def _send_html(
        self,
        status: HTTPStatus,
        page: str,
        *,
        headers: Sequence[tuple[str, str]] = (),
        nonce: str | None = None,
    ) -> None:
        self._send(status, page, "text/html; charset=utf-8", nonce, headers)

    def _send(
        self,
        status: HTTPStatus,
        text: str,
        ctype: str,
        nonce: str | None,
        headers: Sequence[tuple[str, str]],
    ) -> None:
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        csp = ("Content-Security-Policy", _csp(nonce))
        for name, value in (csp, *_SECURITY_HEADERS, *headers):
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
