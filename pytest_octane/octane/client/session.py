"""The HTTP session with one Octane workspace: sign-in, cookies, re-sign-in on 401, the wire.

Lazy sign-in without stale cookies, one re-sign-in on 401, the session cookie refreshed from
any answer, transient trouble retried per :class:`~pytest_octane.octane.retry.RetryPolicy`,
every exchange bounded in time and size (:mod:`pytest_octane.octane.bounded`) and recorded,
and no secret in any log line, log entry or exception. The ``requests.Session`` underneath
(the wire) is injectable, for tests.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, Final, Required, TypedDict, Unpack
from urllib.parse import quote, urlencode, urlsplit

import requests
import urllib3

from pytest_octane import __version__
from pytest_octane.errors import ConfigError, NotOctaneError, OctaneError
from pytest_octane.model import RequestLogEntry
from pytest_octane.octane.bounded import (
    ERROR_BODY_LIMIT,
    JSON_BODY_LIMIT,
    AnswerTooSlow,
    BoundedAdapter,
    read_body,
    whole_request_deadline,
)
from pytest_octane.octane.client.answers import AnswerMapper
from pytest_octane.octane.credentials import Credentials
from pytest_octane.octane.redact import HIDDEN, redact
from pytest_octane.octane.retry import RetryPolicy, call_with_retry
from pytest_octane.settings import DEFAULT_CLIENT_TYPE
from pytest_octane.settings.octane_url import parse_octane_url, redact_userinfo

__all__ = [
    "AUTH_COOKIES",
    "SESSION_COOKIE",
    "Connection",
    "HttpSession",
    "InsecureConnectionWarning",
    "ignore_unverified_request_warnings",
    "positive_id",
]

logger = logging.getLogger("pytest_octane.octane.client")

SESSION_COOKIE = "LWSSO_COOKIE_KEY"

AUTH_COOKIES = (SESSION_COOKIE, "OCTANE_USER")

_SECRET_PATTERN = re.compile(
    r"(?i)\b(LWSSO_COOKIE_KEY|OCTANE_USER|JSESSIONID|access_token|client_secret|password)"
    r"(\"?\s*[=:]\s*\"?)([^\s;,&\"']+)"
)

_CLIENT_TYPE_RE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")

_RESERVED_CLIENT_TYPE_PREFIXES = ("HPE", "OCTANE")


class Connection(TypedDict, total=False):
    """Where and how to reach one workspace: the keyword arguments of :class:`HttpSession`
    (and of ``OctaneClient``). The timeouts come from the caller (the settings)."""

    server: Required[str]  # any address users paste (see settings/octane_url.py)
    space_id: Required[int]
    workspace_id: Required[int]
    credentials: Required[Credentials]
    timeout: Required[tuple[float, float]]  # (connect, read) seconds
    client_type: str  # the HPECLIENTTYPE header; the settings' default when not given
    verify: bool | str  # TLS: True (the default), False or the path of a CA bundle
    proxies: Mapping[str, str] | None
    retry: RetryPolicy | None  # RetryPolicy() when not given
    on_request: Callable[[RequestLogEntry], None] | None  # each exchange's log entry
    session: requests.Session | None  # the wire; the session's own bounded one when not given
    log_bodies: bool  # the request log keeps the bodies sent (never the sign-in's)


class InsecureConnectionWarning(UserWarning):
    """TLS certificate verification was switched off for an Octane client."""


def ignore_unverified_request_warnings(root: str) -> None:
    """Silence urllib3's warning on every request to ``root``: the client warned once.

    A filter added inside a test's ``catch_warnings`` ends with the test, so a client made
    while tests run (streaming) calls this again from outside one.
    """
    host = re.escape(urlsplit(root).hostname or "")
    warnings.filterwarnings(
        "ignore",
        message=f"Unverified HTTPS request is being made to host '{host}'",
        category=urllib3.exceptions.InsecureRequestWarning,
    )


class HttpSession:
    """Sends one API request: signed in, retried, bounded, recorded and scrubbed; safe to
    share between threads. ``server`` (the root), ``space_id``, ``workspace_id``,
    ``base_url``, ``credentials``, ``timeout`` and ``deadline_s`` are its checked settings."""

    def __init__(self, **options: Unpack[Connection]) -> None:
        unknown = options.keys() - Connection.__annotations__.keys()
        if unknown:  # a typed caller cannot get here; a misspelt keyword must not pass unseen
            raise TypeError(f"unknown keyword arguments for an Octane session: {sorted(unknown)}")
        root, url_space, url_workspace = parse_octane_url(options["server"])
        self.space_id: Final = positive_id(options["space_id"], "space_id")
        self.workspace_id: Final = positive_id(options["workspace_id"], "workspace_id")
        _check_ids_agree(url_space, self.space_id, "shared space")
        _check_ids_agree(url_workspace, self.workspace_id, "workspace")
        self.server: Final = root
        self.base_url: Final = (
            f"{root}/api/shared_spaces/{self.space_id}/workspaces/{self.workspace_id}"
        )
        credentials = options["credentials"]
        if not isinstance(credentials, Credentials):
            raise ConfigError(
                f"credentials must be a Credentials, not {type(credentials).__name__}"
            )
        self.credentials: Final = credentials
        self.timeout: Final = _check_timeout(options["timeout"])
        # a whole request (connect, answer, body) may take this long: see octane/bounded.py
        self.deadline_s: Final = self.timeout[0] + 2 * self.timeout[1]
        self.log_bodies: Final = options.get("log_bodies", False)
        self._client_type = _check_client_type(options.get("client_type", DEFAULT_CLIENT_TYPE))
        self._verify = _check_verify(options.get("verify", True))
        if self._verify is False and root.lower().startswith("https:"):
            warnings.warn(
                f"TLS certificate verification is off for Octane at {root} (verifySSL is false): "
                "anyone on the network path can read the credentials; set verifySSL to the path "
                "of a CA bundle instead",
                InsecureConnectionWarning,
                stacklevel=3,  # past HttpSession and OctaneClient: the caller
            )
            ignore_unverified_request_warnings(root)  # ...and only this one
        proxies = options.get("proxies")
        self._proxies = dict(proxies) if proxies is not None else None
        retry = options.get("retry")
        self._retry = retry if retry is not None else RetryPolicy()
        self._on_request = options.get("on_request")
        session = options.get("session")
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()
        if self._owns_session:  # a whole request, headers included, ends at its deadline
            self._session.mount("https://", BoundedAdapter())
            self._session.mount("http://", BoundedAdapter())
        self._cookie_domain = _cookie_domain(root)
        self._user_agent = f"pytest-octane/{__version__}"
        self._lock = threading.RLock()  # sign-in / sign-out
        self._cookie_lock = threading.Lock()
        self._signed_in = False
        self._generation = 0
        self._closed = False
        secret = credentials.secret.reveal()
        # the pair is what a Basic Authorization header encodes (base64 of "id:secret")
        self._secrets: set[str] = {secret, f"{credentials.identity}:{secret}"}
        self.answers = AnswerMapper(
            server=root, credentials=credentials, timeout=self.timeout, scrub=self.scrub
        )

    @property
    def signed_in(self) -> bool:
        return self._signed_in

    # ------------------------------------------------------------------ sign-in and out

    def sign_in(self) -> None:
        """Sign in now (normally done lazily before the first API request)."""
        with self._lock:
            self._sign_in_locked()

    def sign_out(self) -> None:
        """End the Octane session; 200 and 302 both mean done (CLT: defect #2919)."""
        with self._lock:
            if not self._signed_in:
                return
            url = f"{self.server}/authentication/sign_out"
            try:
                response = self._exchange("POST", url)
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
            logger.warning("signing out of Octane at %s failed: %s", self.server, exc)
        finally:
            self._closed = True
            if self._owns_session:
                self._session.close()

    def _sign_in_locked(self) -> None:
        url = f"{self.server}/authentication/sign_in"
        self._signed_in = False
        # Octane may refuse a sign-in that carries a still-valid session cookie.
        with self._cookie_lock:
            self._session.cookies.clear()
        response = self._exchange(
            "POST",
            url,
            body=json.dumps(self.credentials.sign_in_body()).encode("utf-8"),
            content_type="application/json",
            sensitive=True,
        )
        if response.status_code in (401, 403):
            raise self.answers.sign_in_refused(url, response)
        if response.status_code != 200:
            raise self.answers.error_for("POST", url, response)
        if not any(c.name == SESSION_COOKIE for c in self._session.cookies):
            found = f"answered HTTP 200 without the {SESSION_COOKIE} cookie, so it is not Octane's"
            raise NotOctaneError.wrong_url(f"the sign-in at {url} {found}", status=200, url=url)
        self._signed_in = True
        self._generation += 1
        logger.debug(
            "signed in to %s with credentials from %s", self.server, self.credentials.source
        )

    # ------------------------------------------------------------------ API requests

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
        url = f"{self.base_url}/{path}"
        if params:
            url += "?" + urlencode(params, quote_via=quote, safe=",")
        sent = {
            "body": body,
            "content_type": content_type,
            "extra_headers": extra_headers,
            "log_body": log_body,
        }

        def attempt() -> requests.Response:
            response = self._authenticated(method, url, sent)
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
        return self.answers.data(method, url, response)

    def _authenticated(self, method: str, url: str, sent: dict[str, Any]) -> requests.Response:
        with self._lock:
            if not self._signed_in:
                self._sign_in_locked()
            generation = self._generation
        response = self._exchange(method, url, **sent)
        if response.status_code != 401:
            return response
        # The session expired (idle or global timeout): sign in again once, replay once.
        with self._lock:
            if self._generation == generation:  # no other thread has signed in meanwhile
                self._sign_in_locked()
            generation = self._generation
        response = self._exchange(method, url, **sent)
        with self._lock:
            raced = self._generation != generation
        if response.status_code == 401 and raced:
            # Another thread signed in while the replay was on its way (a sign-in starts a new
            # session): the replay carried the old cookie. Send it once more with the new one.
            response = self._exchange(method, url, **sent)
        if response.status_code == 401:
            raise self.answers.session_refused(
                method, url, response, self.space_id, self.workspace_id
            )
        return response

    # ------------------------------------------------------------------ the wire

    def _exchange(
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
        deadline = time.monotonic() + self.deadline_s

        def record(status: int | None, error: str | None) -> None:
            self._record(
                RequestLogEntry(
                    time=started,
                    method=method,
                    url=url,
                    status=status,
                    duration_ms=round((time.perf_counter() - clock) * 1000),
                    correlation_id=correlation_id,
                    error=error,
                    body=None if sensitive else log_body,
                )
            )

        try:
            with whole_request_deadline(self.deadline_s) as watch:
                try:
                    response = self._session.request(
                        method,
                        url,
                        data=body,
                        headers=headers,
                        timeout=self.timeout,
                        verify=self._verify,
                        proxies=self._proxies,
                        allow_redirects=False,
                        stream=True,
                    )
                except requests.RequestException:
                    if watch.fired:  # its headers came too slowly: cut at the deadline
                        raise AnswerTooSlow(self.deadline_s) from None
                    raise
            ok = 200 <= response.status_code < 300
            limit = JSON_BODY_LIMIT if ok else ERROR_BODY_LIMIT
            answer = read_body(response, deadline=deadline, deadline_s=self.deadline_s, limit=limit)
        except requests.RequestException as exc:
            body = None  # the sign-in body holds the secret: keep it out of traceback locals
            error = self.answers.connection_error(method, url, exc)
            record(None, str(error))
            # Not chained: the library's text may echo what we must not show (its reason,
            # scrubbed, is already in our message).
            raise error from None
        body = None
        response._content = answer.data
        self._absorb_auth_cookies(response)
        error_text = None if ok else self.answers.log_text(response)
        cut = self.answers.cut(method, url, response, limit) if answer.cut else None
        record(response.status_code, error_text if cut is None else str(cut))
        if cut is not None:
            raise cut
        return response

    def _record(self, entry: RequestLogEntry) -> None:
        logger.debug(
            "%s %s -> %s in %d ms (correlation id %s)",
            entry.method,
            entry.url,
            entry.status if entry.status is not None else "no answer",
            entry.duration_ms,
            entry.correlation_id,
        )
        if self._on_request is None:
            return
        try:
            self._on_request(entry)
        except Exception as exc:
            # Losing a log entry is better than losing the answer (a task id) it describes.
            logger.warning(
                "the on_request callback failed for %s %s: %r", entry.method, entry.url, exc
            )

    # ------------------------------------------------------------------ cookies and secrets

    def _absorb_auth_cookies(self, response: requests.Response) -> None:
        """Keep the newest auth cookies host-wide (path /), whatever path/domain they came with.

        Octane may rotate ``LWSSO_COOKIE_KEY`` on any answer. The cookie jar would store a
        cookie without ``Path`` under the request's directory (``/authentication``) and
        reject a ``Domain`` it cannot match (``localhost``), so we re-file them ourselves.
        """
        found: dict[str, str | None] = {}
        raw_headers = getattr(response.raw, "headers", None)
        values: list[str] = []
        if raw_headers is not None and hasattr(raw_headers, "getlist"):
            values = [str(v) for v in raw_headers.getlist("Set-Cookie")]
        if values:
            for header in values:
                name, sep, rest = header.partition("=")
                name = name.strip()
                if not sep or name not in AUTH_COOKIES:
                    continue
                value, _, attrs = rest.partition(";")
                value = value.strip().strip('"')
                expired = "max-age=0" in attrs.replace(" ", "").lower()
                found[name] = None if expired or not value else value
        else:
            for cookie in response.cookies:
                if cookie.name in AUTH_COOKIES:
                    found[cookie.name] = cookie.value or None
        if not found:
            return
        jar = self._session.cookies
        with self._cookie_lock, _jar_lock(jar):
            for name, fresh in found.items():
                for old in [c for c in jar if c.name == name]:
                    jar.clear(old.domain, old.path, old.name)
                if fresh is not None:
                    self._secrets.add(fresh)
                    jar.set(name, fresh, domain=self._cookie_domain, path="/")

    def scrub(self, text: str) -> str:
        """Remove every secret and cookie value we know of, and anything shaped like one."""
        jar = self._session.cookies
        with self._cookie_lock, _jar_lock(jar):
            known = set(self._secrets)
            known.update(c.value for c in jar if c.value)
        text = redact(text, known)
        text = _SECRET_PATTERN.sub(lambda m: f"{m[1]}{m[2]}{HIDDEN}", text)
        return redact_userinfo(text)


# ---------------------------------------------------------------------- checked settings


def positive_id(value: object, name: str) -> int:
    """``value`` as an Octane id (a positive integer), or the ConfigError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, not {value!r}")
    return value


def _check_ids_agree(found: int | None, given: int, name: str) -> None:
    if found is not None and found != given:
        raise ConfigError(
            f"the server URL names {name} {found} but {name} {given} was configured; "
            "make them agree or give only the server root"
        )


def _check_client_type(value: str) -> str:
    if not isinstance(value, str) or not _CLIENT_TYPE_RE.fullmatch(value):
        rule = (
            "must be 1-64 letters, digits, '_', '.' or '-' (it is sent as the HPECLIENTTYPE "
            f"header), e.g. {DEFAULT_CLIENT_TYPE}"
        )
        raise ConfigError.bad_value("client_type", value, rule)
    if value.upper().startswith(_RESERVED_CLIENT_TYPE_PREFIXES):
        rule = (
            "starts with a prefix Octane reserves for its own clients (HPE, OCTANE); choose "
            f"your own name, e.g. {DEFAULT_CLIENT_TYPE}"
        )
        raise ConfigError.bad_value("client_type", value, rule)
    return value


def _check_timeout(value: tuple[float, float]) -> tuple[float, float]:
    try:
        connect, read = (float(v) for v in value)
    except (TypeError, ValueError):
        rule = "must be (connect seconds, read seconds)"
        raise ConfigError.bad_value("timeout", value, rule) from None
    if not all(math.isfinite(number) and number > 0 for number in (connect, read)):
        raise ConfigError.bad_value("timeout", value, "must hold two positive numbers of seconds")
    return connect, read


def _check_verify(value: bool | str) -> bool | str:
    if isinstance(value, bool):
        return value
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"verifySSL must be true, false or a CA bundle path, not {value!r}")
    path = Path(value).expanduser()
    if not path.exists():
        rule = (
            "given in verifySSL (verify_ssl) does not exist; give the path of a PEM file (or "
            "directory) with the CA certificates, or true"
        )
        raise ConfigError.bad_value("the CA bundle", value, rule)
    return str(path)


def _jar_lock(jar: Any) -> AbstractContextManager[Any]:
    """The cookie jar's own lock: requests fills and reads the jar under it in other threads."""
    lock = getattr(jar, "_cookies_lock", None)
    return lock if isinstance(lock, AbstractContextManager) else nullcontext()


def _cookie_domain(root: str) -> str:
    """The host name the cookie jar matches requests against (``localhost`` -> ``.local``)."""
    host = urlsplit(root).hostname or ""
    return host if "." in host else f"{host}.local"
