"""Octane's answers turned into typed errors: error JSON, non-Octane pages, connection failures.

Every error the client raises about an answer is built here, with secrets scrubbed, so each
message is written once (the messages that other modules share are constructors of the
classes in :mod:`pytest_octane.errors`).
"""

from __future__ import annotations

import json
import math
import re
import ssl
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from pytest_octane.errors import (
    EXPECTED_URL,
    QUEUE_FULL_CODES,
    AuthError,
    ConfigError,
    ConnectionFailed,
    NotOctaneError,
    OctaneError,
    OctaneHTTPError,
    QueueFullError,
    SessionRefused,
    TaskLost,
)
from pytest_octane.octane.bounded import AnswerTooSlow, size_text
from pytest_octane.octane.credentials import Credentials
from pytest_octane.octane.retry import TRANSIENT_STATUSES

__all__ = ["AnswerMapper"]

#: the most of an error text kept in a message or a request-log entry
_ERROR_TEXT_LIMIT = 500

_CUT_ATTR = "_pytest_octane_cut"  # set on a Response whose error body was cut at the cap

_INVALID_URL = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
)


class AnswerMapper:
    """Maps answers and exceptions to :mod:`pytest_octane.errors`, secrets scrubbed."""

    def __init__(
        self,
        *,
        server: str,
        credentials: Credentials,
        timeout: tuple[float, float],
        scrub: Callable[[str], str],
    ) -> None:
        self._server = server
        self._credentials = credentials
        self._timeout = timeout
        self._scrub = scrub

    # ------------------------------------------------------------------ error answers

    def error_for(self, method: str, url: str, response: requests.Response) -> OctaneHTTPError:
        """The one place that turns a non-2xx answer into an error (noting a cut body)."""
        error = self._error_for_answer(method, url, response)
        cut = getattr(response, _CUT_ATTR, None)
        if cut is not None:
            error.args = (f"{error} (the answer was longer than {cut}; only that much was read)",)
        return error

    def _error_for_answer(
        self, method: str, url: str, response: requests.Response
    ) -> OctaneHTTPError:
        status = response.status_code
        retry_after = _retry_after(response.headers.get("Retry-After"))
        where = _no_query(url)
        if 300 <= status < 400:
            location = _no_query(self._scrub(response.headers.get("Location", "nowhere")))
            return NotOctaneError(
                f"Octane did not answer {method} {where}: HTTP {status} redirect to {location}; "
                "the server URL is probably wrong (http instead of https, or a login page in "
                "the way); expected the Octane root such as https://octane.example.com",
                status=status,
                url=url,
            )
        data = _parse_json(response)
        if not isinstance(data, dict):
            if status in TRANSIENT_STATUSES:
                return OctaneHTTPError(
                    f"Octane is unavailable for {method} {where}: HTTP {status} "
                    f"({_content_type(response)}, not Octane's JSON: likely from a proxy or "
                    "load balancer)",
                    status=status,
                    url=url,
                    retry_after=retry_after,
                )
            return self.not_octane(url, response)
        correlation = response.request.headers.get("X-Correlation-ID") if response.request else None
        return self._error_from_json(method, url, status, data, retry_after, correlation)

    def _error_from_json(
        self,
        method: str,
        url: str,
        status: int,
        data: dict[str, Any],
        retry_after: float | None,
        sent_correlation_id: str | bytes | None,
    ) -> OctaneHTTPError:
        error, count = _first_error(data)
        code = _opt_str(error.get("error_code"))
        description = error.get("description") or error.get("description_translated")
        description = self._description(
            error.get("message") if description is None else description
        )
        correlation = _opt_str(error.get("correlation_id"))
        if correlation is None and sent_correlation_id is not None:
            correlation = (
                sent_correlation_id.decode("ascii", "replace")
                if isinstance(sent_correlation_id, bytes)
                else sent_correlation_id
            )
        queue_code = code if code in QUEUE_FULL_CODES else None
        if queue_code is None and status in (429, 503):
            text = json.dumps(data)
            queue_code = next((c for c in sorted(QUEUE_FULL_CODES) if c in text), None)
        message = f"Octane refused {method} {_no_query(url)}: {status}"
        message += _describe_error(code, description, count)
        if correlation:
            message += f" (correlation id {correlation})"
        cls: type[OctaneHTTPError] = OctaneHTTPError
        if status == 401:
            cls = AuthError
        elif queue_code is not None:
            cls = QueueFullError
            code = code or queue_code
            message += "; Octane's test-result queue for this shared space is full"
        elif status == 403:
            message += f"; the account from {self._credentials.source} lacks a permission for this"
        return cls(
            message,
            status=status,
            url=url,
            error_code=code,
            description=description,
            correlation_id=correlation,
            retry_after=retry_after,
        )

    def sign_in_refused(self, url: str, response: requests.Response) -> AuthError:
        """The sign-in answered 401 or 403: the credentials are wrong or lack access."""
        error = self.error_for("POST", url, response)
        who = f"{self._credentials.kind.replace('_', ' ')} {self._credentials.identity!r}"
        message = (
            f"Octane refused the sign-in at {url} (HTTP {error.status}"
            f"{_code_suffix(error.error_code)}) for the credentials from "
            f"{self._credentials.source} ({who}): check the credentials path and that the "
            "account or API key is valid and has access to this shared space"
        )
        return AuthError(message, **_answer_fields(error))

    def session_refused(
        self, method: str, url: str, response: requests.Response, space_id: int, workspace_id: int
    ) -> SessionRefused:
        """A request answered 401 again right after a fresh sign-in that Octane accepted."""
        error = self.error_for(method, url, response)
        message = (
            f"Octane answered {method} {_no_query(url)} with 401 even after a fresh sign-in "
            f"with the credentials from {self._credentials.source}"
            f"{_code_suffix(error.error_code)}: check the credentials path and that the "
            f"account may use shared space {space_id} workspace {workspace_id}"
        )
        return SessionRefused(message, **_answer_fields(error))

    # ------------------------------------------------------------------ 2xx answers

    def data(self, method: str, url: str, response: requests.Response) -> dict[str, Any]:
        """The JSON object of a 2xx answer; anything else is not Octane's."""
        data = _parse_json(response)
        if not isinstance(data, dict):
            raise self.not_octane(url, response)
        return data

    def not_octane(self, url: str, response: requests.Response) -> NotOctaneError:
        status = response.status_code
        found = f"the answer from {_no_query(url)} is not Octane's JSON (HTTP {status}, "
        return NotOctaneError.wrong_url(
            f"{found}{_content_type(response)})", status=status, url=url
        )

    def bad_shape(self, method: str, url: str, problem: str) -> NotOctaneError:
        found = f"the answer to {method} {_no_query(url)} is JSON but not shaped like Octane's"
        return NotOctaneError.wrong_url(f"{found} ({problem})", status=200, url=url)

    def partial_write(
        self, method: str, url: str, sent: int, answer: Mapping[str, Any]
    ) -> OctaneHTTPError | None:
        """The error of a write that Octane did only in part (200 with ``errors``), or None."""
        errors = answer.get("errors")
        if not isinstance(errors, list) or not errors:
            return None
        first = errors[0] if isinstance(errors[0], dict) else {}
        done = answer.get("data")
        count = len(done) if isinstance(done, list) else 0
        code = _opt_str(first.get("error_code"))
        description = self._description(_opt_str(first.get("description")))
        return OctaneHTTPError(
            f"Octane did only part of {method} {url}: {count} of {sent} entities done;"
            f"{_describe_error(code, description, len(errors))}; re-query before trying again",
            status=200,
            url=url,
            error_code=code,
            description=description,
            correlation_id=_opt_str(first.get("correlation_id")),
        )

    def too_many_pages(self, url: str, pages: int, page_size: int) -> OctaneHTTPError:
        message = f"stopped paging {url} after {pages} pages of {page_size}; narrow the query"
        return OctaneHTTPError(message, status=200, url=url)

    def task_lost(self, task_id: int) -> TaskLost:
        return TaskLost(
            f"Octane no longer has task {task_id} (HTTP 404 on its status; Octane forgets "
            "the tasks it had queued when it restarts); the slice is sent again",
            task_id=task_id,
        )

    # ------------------------------------------------------------------ bodies

    def cut(
        self, method: str, url: str, response: requests.Response, limit: int
    ) -> OctaneHTTPError | None:
        """An answer cut at ``limit`` bytes: a 2xx one is this error; an error answer keeps
        its status and gets the cut noted in its message (:meth:`error_for`)."""
        status = response.status_code
        if not 200 <= status < 300:
            setattr(response, _CUT_ATTR, size_text(limit))
            return None
        return OctaneHTTPError(
            f"the answer to {method} {_no_query(url)} (HTTP {status}) is larger than "
            f"{size_text(limit)}, the most pytest-octane reads from one Octane answer; it stopped "
            "reading there: check that the server URL is Octane's, or ask for less (a narrower "
            "query, fewer fields)",
            status=status,
            url=url,
        )

    def log_text(self, response: requests.Response) -> str:
        """An error answer as the request log shows it: status and scrubbed, cut text."""
        try:
            text = response.text
        except Exception:  # undecodable bodies must not hide the HTTP status
            text = f"<{len(response.content)} bytes>"
        return f"HTTP {response.status_code}: " + _truncate(self._scrub(text), _ERROR_TEXT_LIMIT)

    # ------------------------------------------------------------------ no answer

    def connection_error(
        self, method: str, url: str, exc: requests.RequestException
    ) -> OctaneError:
        where = _no_query(url)
        connect, read = self._timeout
        timeouts = f"timeouts: connect {connect:g} s, read {read:g} s"
        reason = _truncate(self._scrub(_reason(exc)), 240)
        if isinstance(exc, _INVALID_URL):
            return ConfigError(f"cannot send {method} to {where}: {reason}; {EXPECTED_URL}")
        if isinstance(exc, requests.exceptions.SSLError):
            if _is_cert_failure(exc):
                return ConfigError(
                    f"the TLS certificate of {self._server} could not be verified ({reason}); "
                    "set verifySSL (verify_ssl) to the path of the CA bundle (PEM) that signed "
                    "it, or to false only for a test server"
                )
            return ConnectionFailed(
                f"the TLS handshake for {method} {where} failed ({reason}; {timeouts}); check "
                "the server URL and port, or set verifySSL (verify_ssl) to a CA bundle path",
                url=url,
            )
        if isinstance(exc, AnswerTooSlow):
            what = (
                f"Octane's answer to {method} {where} did not finish within "
                f"{exc.deadline_s:g} s (the connect timeout plus twice the read timeout): "
                "it arrived too slowly"
            )
        elif isinstance(exc, requests.exceptions.ConnectTimeout):
            what = f"could not connect to Octane for {method} {where} in time"
        elif isinstance(exc, requests.exceptions.ReadTimeout):
            what = f"Octane did not answer {method} {where} in time"
        elif isinstance(exc, requests.exceptions.ProxyError):
            what = f"could not reach Octane for {method} {where} through the proxy"
        else:
            what = f"could not reach Octane for {method} {where}"
        return ConnectionFailed(
            f"{what} ({reason}; {timeouts}); check the server URL, the network and the proxy "
            "settings, or raise the timeouts",
            url=url,
        )

    def _description(self, value: object) -> str | None:
        return None if value is None else _truncate(self._scrub(str(value)), _ERROR_TEXT_LIMIT)


def _no_query(url: str) -> str:
    """``url`` without its query string (messages name the endpoint, not the query)."""
    return url.split("?", 1)[0]


def _answer_fields(error: OctaneHTTPError) -> dict[str, Any]:
    """What a refusal keeps of the answer it was read from."""
    return {
        "status": error.status,
        "url": error.url,
        "error_code": error.error_code,
        "description": error.description,
        "correlation_id": error.correlation_id,
    }


def _first_error(data: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """The first of Octane's ``errors`` (or the answer itself) and how many there are."""
    errors = data.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return errors[0], len(errors)
    return data, 1


def _parse_json(response: requests.Response) -> Any:
    """Octane's JSON, or None for anything else (HTML pages, empty bodies)."""
    if "html" in _content_type(response).lower():
        return None
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


def _content_type(response: requests.Response) -> str:
    return response.headers.get("Content-Type", "").split(";")[0].strip() or "no content type"


def _retry_after(raw: str | None) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP date."""
    if raw is None or not raw.strip():
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _describe_error(code: str | None, description: str | None, count: int) -> str:
    text = f" {code}" if code else ""
    if description:
        text += f": {description}" if code else f" {description}"
    if count > 1:
        text += f" (and {count - 1} more errors)"
    return text


def _code_suffix(code: str | None) -> str:
    return f" {code}" if code else ""


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps, outermost first: urllib3's ``reason``, an exception among
    the args, then the cause or context."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        nested = getattr(current, "reason", None)
        if not isinstance(nested, BaseException):
            nested = next((a for a in current.args if isinstance(a, BaseException)), None)
        current = nested or current.__cause__ or current.__context__
    return chain


def _reason(exc: BaseException) -> str:
    """The innermost cause's text (``[Errno 111] Connection refused``), not urllib3's wrapper."""
    innermost = _causes(exc)[-1]
    # urllib3 prefixes "<HTTPConnection object at 0x..>: "; the rest is the useful part.
    text = re.sub(r"^<[^>]*>:\s*", "", str(innermost).strip())
    return text or type(innermost).__name__


def _is_cert_failure(exc: BaseException) -> bool:
    return any(
        isinstance(cause, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(cause)
        for cause in _causes(exc)
    )


def _truncate(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _opt_str(value: object) -> str | None:
    return None if value is None or value == "" else str(value)
