"""The HTTP session: sign-in, cookie refresh, re-sign-in on 401, request recording."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

import requests

from pytest_octane.errors import (
    AuthError,
    NotOctaneError,
    OctaneError,
    SessionRefused,
)
from pytest_octane.model import RequestLogEntry
from pytest_octane.octane.bounded import (
    ERROR_BODY_LIMIT,
    JSON_BODY_LIMIT,
    AnswerTooSlow,
    read_body,
    size_text,
    whole_request_deadline,
)
from pytest_octane.octane.client.answers import (
    AnswerMapper,
    _code_suffix,
    _cut_error,
    _no_query,
    _parse_json,
    _safe_text,
    _truncate,
)
from pytest_octane.octane.client.state import (
    _CUT_ATTR,
    _ERROR_TEXT_LIMIT,
    SESSION_COOKIE,
    SessionState,
)
from pytest_octane.octane.retry import (
    call_with_retry,
)

logger = logging.getLogger("pytest_octane.octane.client")


class HttpSession(SessionState):
    """Sends one API request: signed in, retried, bounded, recorded and scrubbed."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.answers = AnswerMapper(
            server=self._server,
            credentials=self._credentials,
            timeout=self._timeout,
            scrub=self.scrub,
        )

    def sign_in(self) -> None:
        """Sign in now (normally done lazily before the first API request)."""
        with self._lock:
            self._sign_in_locked()

    def sign_out(self) -> None:
        """End the Octane session; 200 and 302 both mean done (CLT: defect #2919)."""
        with self._lock:
            if not self._signed_in:
                return
            url = f"{self._server}/authentication/sign_out"
            try:
                response = self.exchange("POST", url)
            finally:
                self._signed_in = False
                with self._cookie_lock:
                    self._session.cookies.clear()
            if response.status_code not in (200, 204, 302, 401):
                raise self.answers.error_for("POST", url, response)

    def close(self) -> None:
        """Sign out if signed in (best effort) and release the connection pool."""
        if self._closed:
            return
        try:
            self.sign_out()
        except OctaneError as exc:
            logger.warning("signing out of Octane at %s failed: %s", self._server, exc)
        finally:
            self._closed = True
            if self._owns_session:
                self._session.close()

    def api(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        log_body: str | None = None,
        idempotent: bool = True,
        allow_empty: bool = False,
        what: str,
        label: str | None = None,
    ) -> dict[str, Any]:
        """One API call: sign-in, replay on 401, retries, error mapping; returns the JSON."""
        if self._closed:
            raise RuntimeError("this OctaneClient is closed")
        url = f"{self._base}/{path}"
        if params:
            url += "?" + urlencode(params, quote_via=quote, safe=",")

        def attempt() -> requests.Response:
            response = self._authenticated(
                method,
                url,
                body=body,
                content_type=content_type,
                extra_headers=extra_headers,
                log_body=log_body,
            )
            if not 200 <= response.status_code < 300:
                raise self.answers.error_for(method, url, response)
            return response

        request = f"{method} {path.split('?')[0]}" + (f" ({label})" if label else "")
        response = call_with_retry(
            attempt,
            policy=self._retry,
            what=what,
            logger=logger,
            idempotent=idempotent,
            request=request,
        )
        if allow_empty and not response.content.strip():
            return {}
        data = _parse_json(response)
        if not isinstance(data, dict):
            raise self.answers.not_octane(method, url, response)
        return data

    def _authenticated(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None,
        content_type: str | None,
        extra_headers: Mapping[str, str] | None,
        log_body: str | None,
    ) -> requests.Response:
        with self._lock:
            if not self._signed_in:
                self._sign_in_locked()
            generation = self._generation
        kwargs: dict[str, Any] = {
            "body": body,
            "content_type": content_type,
            "extra_headers": extra_headers,
            "log_body": log_body,
        }
        response = self.exchange(method, url, **kwargs)
        if response.status_code != 401:
            return response
        # The session expired (idle or global timeout): sign in again once, replay once.
        with self._lock:
            if self._generation == generation:  # no other thread has signed in meanwhile
                self._sign_in_locked()
            generation = self._generation
        response = self.exchange(method, url, **kwargs)
        with self._lock:
            raced = self._generation != generation
        if response.status_code == 401 and raced:
            # Another thread signed in while the replay was on its way (a sign-in starts a new
            # session): the replay carried the old cookie. Send it once more with the new one.
            response = self.exchange(method, url, **kwargs)
        if response.status_code == 401:
            error = self.answers.error_for(method, url, response)
            raise SessionRefused(
                f"Octane answered {method} {_no_query(url)} with 401 even after a fresh sign-in "
                f"with the credentials from {self._credentials.source}"
                f"{_code_suffix(error.error_code)}: check the credentials path and that the "
                f"account may use shared space {self._space_id} workspace {self._workspace_id}",
                status=401,
                url=url,
                error_code=error.error_code,
                description=error.description,
                correlation_id=error.correlation_id,
            )
        return response

    def _sign_in_locked(self) -> None:
        url = f"{self._server}/authentication/sign_in"
        self._signed_in = False
        # Octane may refuse a sign-in that carries a still-valid session cookie.
        with self._cookie_lock:
            self._session.cookies.clear()
        response = self.exchange(
            "POST",
            url,
            body=json.dumps(self._credentials.sign_in_body()).encode("utf-8"),
            content_type="application/json",
            sensitive=True,
        )
        status = response.status_code
        if status in (401, 403):
            error = self.answers.error_for("POST", url, response)
            raise AuthError(
                f"Octane refused the sign-in at {url} (HTTP {status}"
                f"{_code_suffix(error.error_code)}) for the credentials from "
                f"{self._credentials.source} ({self._credentials.kind.replace('_', ' ')} "
                f"{self._credentials.identity!r}): check the credentials path and that the "
                "account or API key is valid and has access to this shared space",
                status=status,
                url=url,
                error_code=error.error_code,
                description=error.description,
                correlation_id=error.correlation_id,
            )
        if status != 200:
            raise self.answers.error_for("POST", url, response)
        if not any(c.name == SESSION_COOKIE for c in self._session.cookies):
            raise NotOctaneError(
                f"the sign-in at {url} answered HTTP 200 without the {SESSION_COOKIE} cookie, "
                "so it is not Octane's: the server URL is probably wrong; expected the Octane "
                "root such as https://octane.example.com",
                status=200,
                url=url,
            )
        self._signed_in = True
        self._generation += 1
        logger.debug(
            "signed in to %s with credentials from %s", self._server, self._credentials.source
        )

    def exchange(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        log_body: str | None = None,
        sensitive: bool = False,
    ) -> requests.Response:
        """Exactly one HTTP request: headers, timing, log line, log entry, cookie refresh."""
        correlation_id = uuid.uuid4().hex
        headers = {
            "HPECLIENTTYPE": self._client_type,
            "User-Agent": self._user_agent,
            "X-Correlation-ID": correlation_id,
            "Accept": "application/json",
        }
        if content_type:
            headers["Content-Type"] = content_type
        if extra_headers:
            headers.update(extra_headers)
        started = time.time()
        clock = time.perf_counter()
        deadline = time.monotonic() + self._deadline_s
        try:
            with whole_request_deadline(self._deadline_s) as watch:
                try:
                    response = self._session.request(
                        method,
                        url,
                        data=body,
                        headers=headers,
                        timeout=self._timeout,
                        verify=self._verify,
                        proxies=self._proxies,
                        allow_redirects=False,
                        stream=True,
                    )
                except requests.RequestException:
                    if watch.fired:  # its headers came too slowly: cut at the deadline
                        raise AnswerTooSlow(self._deadline_s) from None
                    raise
            ok = 200 <= response.status_code < 300
            limit = JSON_BODY_LIMIT if ok else ERROR_BODY_LIMIT
            answer = read_body(
                response, deadline=deadline, deadline_s=self._deadline_s, limit=limit
            )
        except requests.RequestException as exc:
            body = None  # the sign-in body holds the secret: keep it out of traceback locals
            error = self.answers.connection_error(method, url, exc)
            self._record(
                started,
                clock,
                method,
                url,
                None,
                correlation_id,
                str(error),
                None if sensitive else log_body,
            )
            # Not chained: the library's text may echo what we must not show (its reason,
            # scrubbed, is already in our message).
            raise error from None
        body = None
        response._content = answer.data
        self._absorb_auth_cookies(response)
        error_text = None
        if not ok:
            error_text = f"HTTP {response.status_code}: " + _truncate(
                self.scrub(_safe_text(response)), _ERROR_TEXT_LIMIT
            )
        cut_error = _cut_error(method, url, response.status_code, limit) if answer.cut else None
        if cut_error is not None and ok:
            error_text = str(cut_error)
        self._record(
            started,
            clock,
            method,
            url,
            response.status_code,
            correlation_id,
            error_text,
            None if sensitive else log_body,
        )
        if cut_error is not None:
            if ok:
                raise cut_error
            setattr(response, _CUT_ATTR, size_text(limit))  # noted in the error (_error_for)
        return response

    def _record(
        self,
        started: float,
        clock: float,
        method: str,
        url: str,
        status: int | None,
        correlation_id: str,
        error: str | None,
        body: str | None,
    ) -> None:
        duration_ms = round((time.perf_counter() - clock) * 1000)
        logger.debug(
            "%s %s -> %s in %d ms (correlation id %s)",
            method,
            url,
            status if status is not None else "no answer",
            duration_ms,
            correlation_id,
        )
        if self._on_request is None:
            return
        entry = RequestLogEntry(
            time=started,
            method=method,
            url=url,
            status=status,
            duration_ms=duration_ms,
            correlation_id=correlation_id,
            error=error,
            body=body,
        )
        try:
            self._on_request(entry)
        except Exception as exc:
            # Losing a log entry is better than losing the answer (a task id) it describes.
            logger.warning("the on_request callback failed for %s %s: %r", method, url, exc)
