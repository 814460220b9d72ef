"""Octane's answers turned into typed errors: error JSON, non-Octane pages, connection failures."""

from __future__ import annotations

import json
import logging
import math
import re
import ssl
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from pytest_octane.errors import (
    AuthError,
    ConfigError,
    ConnectionFailed,
    NotOctaneError,
    OctaneError,
    OctaneHTTPError,
    QueueFullError,
)
from pytest_octane.octane.bounded import (
    AnswerTooSlow,
    size_text,
)
from pytest_octane.octane.client.state import _CUT_ATTR, _ERROR_TEXT_LIMIT
from pytest_octane.octane.client.urls import EXPECTED_URL
from pytest_octane.octane.credentials import Credentials
from pytest_octane.octane.retry import (
    QUEUE_FULL_CODES,
    TRANSIENT_STATUSES,
)

logger = logging.getLogger("pytest_octane.octane.client")


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

    def error_for_answer(
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
            return self.not_octane(method, url, response)
        correlation = response.request.headers.get("X-Correlation-ID") if response.request else None
        return self.error_from_json(method, url, status, data, retry_after, correlation)

    def error_for(self, method: str, url: str, response: requests.Response) -> OctaneHTTPError:
        """The one place that turns a non-2xx answer into an error (noting a cut body)."""
        error = self.error_for_answer(method, url, response)
        cut = getattr(response, _CUT_ATTR, None)
        if cut is not None:
            error.args = (f"{error} (the answer was longer than {cut}; only that much was read)",)
        return error

    def error_from_json(
        self,
        method: str,
        url: str,
        status: int,
        data: dict[str, Any],
        retry_after: float | None,
        sent_correlation_id: str | bytes | None,
    ) -> OctaneHTTPError:
        error = data
        count = 1
        errors = data.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            error, count = errors[0], len(errors)
        code = _opt_str(error.get("error_code"))
        description = error.get("description") or error.get("description_translated")
        description = error.get("message") if description is None else description
        description = (
            None
            if description is None
            else _truncate(self._scrub(str(description)), _ERROR_TEXT_LIMIT)
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
        message += _describe_error({**error, "description": description}, count, lead=" ")
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

    def not_octane(self, method: str, url: str, response: requests.Response) -> NotOctaneError:
        return NotOctaneError(
            f"the answer from {_no_query(url)} is not Octane's JSON (HTTP {response.status_code}, "
            f"{_content_type(response)}): the server URL is probably wrong; expected the Octane "
            "root such as https://octane.example.com",
            status=response.status_code,
            url=url,
        )

    def bad_shape(self, method: str, url: str, problem: str) -> NotOctaneError:
        return NotOctaneError(
            f"the answer to {method} {_no_query(url)} is JSON but not shaped like Octane's "
            f"({problem}): the server URL is probably wrong; expected the Octane root such as "
            "https://octane.example.com",
            status=200,
            url=url,
        )

    def connection_error(
        self, method: str, url: str, exc: requests.RequestException
    ) -> OctaneError:
        where = _no_query(url)
        connect, read = self._timeout
        timeouts = f"timeouts: connect {_secs(connect)} s, read {_secs(read)} s"
        reason = _truncate(self._scrub(_reason(exc)), 240)
        if isinstance(
            exc,
            (
                requests.exceptions.InvalidURL,
                requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema,
            ),
        ):
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
                f"{_secs(exc.deadline_s)} s (the connect timeout plus twice the read timeout): "
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


def _cut_error(method: str, url: str, status: int, limit: int) -> OctaneHTTPError:
    return OctaneHTTPError(
        f"the answer to {method} {_no_query(url)} (HTTP {status}) is larger than "
        f"{size_text(limit)}, the most pytest-octane reads from one Octane answer; it stopped "
        "reading there: check that the server URL is Octane's, or ask for less (a narrower "
        "query, fewer fields)",
        status=status,
        url=url,
    )


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


def _safe_text(response: requests.Response) -> str:
    try:
        return response.text
    except Exception:  # undecodable bodies must not hide the HTTP status
        return f"<{len(response.content)} bytes>"


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


def _describe_error(error: Mapping[str, Any], count: int, lead: str = "") -> str:
    code = _opt_str(error.get("error_code"))
    description = _opt_str(error.get("description"))
    text = ""
    if code:
        text += f"{lead}{code}"
    if description:
        text += f": {description}" if code else f"{lead}{description}"
    if count > 1:
        text += f" (and {count - 1} more errors)"
    return text


def _code_suffix(code: str | None) -> str:
    return f" {code}" if code else ""


def _reason(exc: BaseException) -> str:
    """The innermost cause's text (``[Errno 111] Connection refused``), not urllib3's wrapper."""
    current: BaseException = exc
    seen: set[int] = set()
    while id(current) not in seen:
        seen.add(id(current))
        nested = getattr(current, "reason", None)
        if not isinstance(nested, BaseException):
            nested = next((a for a in current.args if isinstance(a, BaseException)), None)
        if nested is None:
            nested = current.__cause__ or current.__context__
        if nested is None:
            break
        current = nested
    text = str(current).strip()
    # urllib3 prefixes "<HTTPConnection object at 0x..>: "; the rest is the useful part.
    text = re.sub(r"^<[^>]*>:\s*", "", text)
    return text or type(current).__name__


def _is_cert_failure(exc: BaseException) -> bool:
    current: BaseException | None = exc
    seen: set[int] = set()
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        if "CERTIFICATE_VERIFY_FAILED" in str(current):
            return True
        nested = getattr(current, "reason", None)
        if not isinstance(nested, BaseException):
            nested = next((a for a in current.args if isinstance(a, BaseException)), None)
        current = nested or current.__cause__ or current.__context__
    return False


def _no_query(url: str) -> str:
    return url.split("?", 1)[0]


def _truncate(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _opt_str(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _secs(value: float) -> str:
    return f"{value:g}"
