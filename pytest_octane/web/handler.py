"""The jobs page's request handler: routing, access checks, the pages and the button's POST."""

from __future__ import annotations

import secrets
import time
import traceback
from collections.abc import Mapping
from http import HTTPStatus
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from pytest_octane.errors import OctaneError, StoreError
from pytest_octane.model import JobRecord, SliceStatus
from pytest_octane.store.query import JobQuery, query_jobs
from pytest_octane.web.access import cookies, is_loopback, local_path, same, same_origin
from pytest_octane.web.api import job_json, jobs_json
from pytest_octane.web.layout import job_href, render_message
from pytest_octane.web.render import job_is_live, render_job, render_upload
from pytest_octane.web.render_list import render_jobs
from pytest_octane.web.respond import JobsPage, Responder
from pytest_octane.web.retry import Notice, retry_failed_slices
from pytest_octane.web.upload import (
    MAX_UPLOAD_BYTES,
    parse_multipart,
    space_choices,
    start_upload,
)

__all__ = ["Handler", "JobsPage"]

TOKEN_HEADER = "X-Octane-Token"
#: Jobs per page of the list.
PAGE_SIZE = 50


class Handler(Responder):
    """One request to the jobs page: access rules first, then a page or the button."""

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
        body = self._read_body(
            MAX_UPLOAD_BYTES,
            f"an upload from this page may have at most {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB "
            "(with a Content-Length): upload fewer files at once, or use 'pytest-octane upload'",
        )
        if body is None:
            return
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
        damaged: list[str] = []  # one line per damaged request-log line, as `jobs` does
        page = render_job(
            job,
            server.store.read_requests(job_id, on_damaged=damaged.append),
            damaged_requests=damaged,
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
