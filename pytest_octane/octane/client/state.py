"""The session's checked configuration and shared state: cookies, locks, secrets, scrubbing."""

from __future__ import annotations

import logging
import re
import threading
import warnings
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3

from pytest_octane import __version__
from pytest_octane.errors import (
    ConfigError,
)
from pytest_octane.model import RequestLogEntry
from pytest_octane.octane.bounded import BoundedAdapter
from pytest_octane.octane.client.checks import (
    _check_client_type,
    _check_timeout,
    _check_verify,
    _positive_id,
)
from pytest_octane.octane.client.urls import parse_octane_url, redact_userinfo
from pytest_octane.octane.credentials import Credentials
from pytest_octane.octane.redact import HIDDEN as _HIDDEN
from pytest_octane.octane.redact import redact
from pytest_octane.octane.retry import (
    RetryPolicy,
)

logger = logging.getLogger("pytest_octane.octane.client")


SESSION_COOKIE = "LWSSO_COOKIE_KEY"


AUTH_COOKIES = (SESSION_COOKIE, "OCTANE_USER")


MAX_PAGE_SIZE = 1000  # the CI SDK's MAX_GET_LIMIT; a larger `limit` may be a 400 (API-FACTS 1d)


MAX_WRITE_BATCH = 200  # the CI SDK's MAX_UPDATE_LIMIT: entities per POST/PUT (API-FACTS 1d)


#: what the public test-results docs name for a gzipped body (API-FACTS 2c, 1d)
GZIP_ENCODING = "application/gzip"


_MAX_PAGES = 10_000  # safety bound for paging loops


_ERROR_TEXT_LIMIT = 500


_CUT_ATTR = "_pytest_octane_cut"  # set on a Response whose error body was cut at the cap

_SECRET_PATTERN = re.compile(
    r"(?i)\b(LWSSO_COOKIE_KEY|OCTANE_USER|JSESSIONID|access_token|client_secret|password)"
    r"(\"?\s*[=:]\s*\"?)([^\s;,&\"']+)"
)


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


class SessionState:
    """The checked configuration and the shared state of one session: cookies, locks, secrets."""

    def __init__(
        self,
        *,
        server: str,
        space_id: int,
        workspace_id: int,
        credentials: Credentials,
        client_type: str = "PYTEST_OCTANE",
        timeout: tuple[float, float] = (20.0, 60.0),
        verify: bool | str = True,
        proxies: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        on_request: Callable[[RequestLogEntry], None] | None = None,
        session: requests.Session | None = None,
        log_bodies: bool = False,
    ) -> None:
        root, url_space, url_workspace = parse_octane_url(server)
        self._space_id = _positive_id(space_id, "space_id")
        self._workspace_id = _positive_id(workspace_id, "workspace_id")
        for found, given, name in (
            (url_space, self._space_id, "shared space"),
            (url_workspace, self._workspace_id, "workspace"),
        ):
            if found is not None and found != given:
                raise ConfigError(
                    f"the server URL names {name} {found} but {name} {given} was configured; "
                    "make them agree or give only the server root"
                )
        self._server = root
        self._base = f"{root}/api/shared_spaces/{self._space_id}/workspaces/{self._workspace_id}"
        if not isinstance(credentials, Credentials):
            raise ConfigError(
                f"credentials must be a Credentials, not {type(credentials).__name__}"
            )
        self._credentials = credentials
        self._client_type = _check_client_type(client_type)
        self._timeout = _check_timeout(timeout)
        # a whole request (connect, answer, body) may take this long: see octane/bounded.py
        self._deadline_s = self._timeout[0] + 2 * self._timeout[1]
        self._verify = _check_verify(verify)
        if self._verify is False and root.lower().startswith("https:"):
            warnings.warn(
                f"TLS certificate verification is off for Octane at {root} (verifySSL is false): "
                "anyone on the network path can read the credentials; set verifySSL to the path "
                "of a CA bundle instead",
                InsecureConnectionWarning,
                stacklevel=4,  # past HttpSession and OctaneClient: the caller
            )
            ignore_unverified_request_warnings(root)  # ...and only this one
        self._proxies = dict(proxies) if proxies is not None else None
        self._retry = retry if retry is not None else RetryPolicy()
        self._on_request = on_request
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()
        if self._owns_session:  # a whole request, headers included, ends at its deadline
            self._session.mount("https://", BoundedAdapter())
            self._session.mount("http://", BoundedAdapter())
        self._log_bodies = log_bodies
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

    @property
    def server(self) -> str:
        return self._server

    @property
    def space_id(self) -> int:
        return self._space_id

    @property
    def workspace_id(self) -> int:
        return self._workspace_id

    @property
    def base_url(self) -> str:
        return self._base

    @property
    def credentials(self) -> Credentials:
        return self._credentials

    @property
    def deadline_s(self) -> float:
        """How long one request may take in all (connect + 2 x read timeout)."""
        return self._deadline_s

    @property
    def signed_in(self) -> bool:
        return self._signed_in

    @property
    def timeout(self) -> tuple[float, float]:
        return self._timeout

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
                value = value.strip()
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
        text = _SECRET_PATTERN.sub(lambda m: f"{m[1]}{m[2]}{_HIDDEN}", text)
        return redact_userinfo(text)


def _jar_lock(jar: Any) -> AbstractContextManager[Any]:
    """The cookie jar's own lock: requests fills and reads the jar under it in other threads."""
    lock = getattr(jar, "_cookies_lock", None)
    return lock if isinstance(lock, AbstractContextManager) else nullcontext()


def _cookie_domain(root: str) -> str:
    """The host name the cookie jar matches requests against (``localhost`` -> ``.local``)."""
    host = urlsplit(root).hostname or ""
    return host if "." in host else f"{host}.local"
