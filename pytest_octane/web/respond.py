"""The jobs page's answers: HTML, JSON and redirects with the security headers, the
request log line (never a query string), and reading the button's small form."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from pytest_octane.store import TaskStore
from pytest_octane.web.layout import render_message
from pytest_octane.web.retry import Notice

__all__ = ["MAX_FORM_BYTES", "JobsPage", "Responder"]

#: The button's form is a few dozen bytes; anything much larger is not ours.
MAX_FORM_BYTES = 16 * 1024

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


class Responder(BaseHTTPRequestHandler):
    """What every answer of the jobs page goes through (``handler.Handler`` routes)."""

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

    def _read_form(self) -> dict[str, str] | None:
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            self._send_html(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                render_message("Refused", "expected the page's own form"),
            )
            return None
        body = self._read_body(MAX_FORM_BYTES, "expected the page's own small form")
        if body is None:
            return None
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))

    def _read_body(self, limit: int, too_big: str) -> bytes | None:
        """The request body, or None after refusing one without a length or over ``limit``
        bytes (before reading it; the connection is closed then)."""
        try:
            length = int(self.headers.get("Content-Length") or "")
        except ValueError:
            length = -1
        if not 0 <= length <= limit:
            self.close_connection = True
            self._send_html(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE
                if length > limit
                else HTTPStatus.LENGTH_REQUIRED,
                render_message("Refused", too_big),
            )
            return None
        return self.rfile.read(length)

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
