"""Octane's REST API over one ``requests.Session``: sign-in, cookies, errors, retries.

Everything that talks HTTP to Octane goes through :class:`OctaneClient`, so the rules live
in one place: lazy sign-in without stale cookies, one re-sign-in on 401, the session cookie
refreshed from any answer, Octane's error JSON mapped to :mod:`pytest_octane.errors`,
transient trouble retried per :class:`~pytest_octane.octane.retry.RetryPolicy`, and no secret in
any log line, log entry or exception.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import re
import ssl
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import requests
import urllib3

from pytest_octane import __version__
from pytest_octane.errors import (
    AuthError,
    ConfigError,
    ConnectionFailed,
    NotOctaneError,
    OctaneError,
    OctaneHTTPError,
    QueueFullError,
    SessionRefused,
)
from pytest_octane.model import RequestLogEntry
from pytest_octane.octane.bounded import (
    ERROR_BODY_LIMIT,
    JSON_BODY_LIMIT,
    AnswerTooSlow,
    read_body,
    size_text,
)
from pytest_octane.octane.credentials import Credentials
from pytest_octane.octane.redact import HIDDEN as _HIDDEN
from pytest_octane.octane.redact import redact
from pytest_octane.octane.retry import (
    QUEUE_FULL_CODES,
    TRANSIENT_STATUSES,
    RetryPolicy,
    call_with_retry,
)

__all__ = [
    "AUTH_COOKIES",
    "TERMINAL_STATUSES",
    "InsecureConnectionWarning",
    "OctaneClient",
    "TaskAccepted",
    "TaskState",
    "parse_octane_url",
    "quote_query_value",
]

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
#: The only states that end a task. Anything else (queued, running, processing, pending, an
#: empty or new word) may still turn into success, so it keeps being polled.
TERMINAL_STATUSES = frozenset({"success", "warning", "failed"})
_COLLECTION_RE = re.compile(r"[a-z][a-z0-9_]*(?:/[a-z][a-z0-9_]*)*")
_CLIENT_TYPE_RE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_MODE_RE = re.compile(r"[a-z_]{1,32}")
_RESERVED_CLIENT_TYPE_PREFIXES = ("HPE", "OCTANE")
_SECRET_PATTERN = re.compile(
    r"(?i)\b(LWSSO_COOKIE_KEY|OCTANE_USER|JSESSIONID|access_token|client_secret|password)"
    r"(\"?\s*[=:]\s*\"?)([^\s;,&\"']+)"
)
_USERINFO_PATTERN = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/@\s]+@")
_EXPECTED_URL = (
    "expected the Octane root such as https://octane.example.com, optionally followed by "
    "/shared_spaces/<space id>/workspaces/<workspace id> (with or without /api), "
    "or the UI address https://octane.example.com/ui/?p=<space id>/<workspace id>"
)
_PATH_RE = re.compile(
    r"(?P<prefix>(?:/[^/]+)*?)(?:/api)?/shared_spaces/(?P<space>[^/]+)"
    r"(?:/workspaces/(?P<workspace>[^/]+))?"
)
_UI_RE = re.compile(r"(?P<prefix>(?:/[^/]+)*?)/ui")


class InsecureConnectionWarning(UserWarning):
    """TLS certificate verification was switched off for an Octane client."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskAccepted:
    """Octane queued a test-results document; ``from_older_push`` means it was a duplicate."""

    id: int
    status: str
    from_older_push: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskState:
    """Where a test-results task stands; ``status`` is Octane's raw string."""

    id: int
    status: str
    until: str | None = None
    error_details: str | None = None

    @property
    def is_final(self) -> bool:
        # Octane's docs print statuses like " SUCCESS ": compare trimmed, case-insensitive.
        return self.status.strip().lower() in TERMINAL_STATUSES


def parse_octane_url(url: str) -> tuple[str, int | None, int | None]:
    """Split any Octane address users paste into (server root, space id, workspace id).

    Accepts the root (``https://host``), the seed's ``https://host/shared_spaces/1/workspaces/2``,
    the same under ``/api``, and the UI's ``https://host/ui/?p=1/2``; a context path before
    those is kept in the root.
    """
    text = url.strip() if isinstance(url, str) else ""
    if not text:
        raise ConfigError(f"the Octane server URL is empty; {_EXPECTED_URL}")
    shown = _redact_userinfo(text)
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(
            f"Octane URL {shown!r} is not a valid URL ({exc}); {_EXPECTED_URL}"
        ) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"Octane URL {shown!r} does not start with http:// or https:// and a host name; "
            f"{_EXPECTED_URL}"
        )
    if "@" in parts.netloc:
        raise ConfigError(
            f"Octane URL {shown!r} contains a user name or password; remove them from the URL "
            "and give credentials through OCTANE_CLIENT_ID/OCTANE_CLIENT_SECRET or the "
            "credentials file"
        )
    host = parts.hostname.lower()
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    path = parts.path.rstrip("/")
    prefix = ""
    space: str | None = None
    workspace: str | None = None
    if path in ("", "/api"):
        if parts.query:
            raise ConfigError(
                f"Octane URL {shown!r} has an unexpected query {parts.query!r}; {_EXPECTED_URL}"
            )
    elif match := _PATH_RE.fullmatch(path):
        prefix, space, workspace = match["prefix"], match["space"], match["workspace"]
    elif match := _UI_RE.fullmatch(path):
        prefix = match["prefix"]
        space, workspace = _ui_ids(parts.query, parts.fragment, shown)
    else:
        raise ConfigError(f"Octane URL {shown!r} has an unexpected path {path!r}; {_EXPECTED_URL}")
    server = f"{scheme}://{netloc}{prefix}"
    return server, _url_id(space, "shared space", shown), _url_id(workspace, "workspace", shown)


#: characters the CI SDK's QueryHelper backslash-escapes inside a quoted value (API-FACTS 1d)
_QUERY_ESCAPES = str.maketrans({c: "\\" + c for c in "\\'\"()"})


def quote_query_value(value: str) -> str:
    """Quote a string literal for an Octane query as the CI SDK does: ``'v'``.

    ``\\``, ``'``, ``"``, ``(`` and ``)`` get a backslash (``QueryHelper``), so every value
    can be queried. Note that ``*`` in a value acts as a wildcard for ``EQ``.
    """
    if not isinstance(value, str):
        raise ConfigError(f"query value {value!r} must be a string")
    return "'" + value.translate(_QUERY_ESCAPES) + "'"


class OctaneClient:
    """One signed-in conversation with one Octane workspace; safe to share between threads."""

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
        write_batch: int = MAX_WRITE_BATCH,
        compress: bool = False,
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
                stacklevel=2,
            )
            # ...and only this one: urllib3 would add its own warning to every request
            host = re.escape(urlsplit(root).hostname or "")
            warnings.filterwarnings(
                "ignore",
                message=f"Unverified HTTPS request is being made to host '{host}'",
                category=urllib3.exceptions.InsecureRequestWarning,
            )
        self._proxies = dict(proxies) if proxies is not None else None
        self._retry = retry if retry is not None else RetryPolicy()
        self._on_request = on_request
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()
        self._log_bodies = log_bodies
        self._cookie_domain = _cookie_domain(root)
        self._user_agent = f"pytest-octane/{__version__}"
        self._lock = threading.RLock()  # sign-in / sign-out
        self._cookie_lock = threading.Lock()
        self._signed_in = False
        self._generation = 0
        self._closed = False
        self._secrets: set[str] = {credentials.secret.reveal()}
        if isinstance(write_batch, bool) or not 1 <= write_batch <= MAX_WRITE_BATCH:
            raise ConfigError(
                f"write_batch {write_batch!r} must be between 1 and {MAX_WRITE_BATCH}"
            )
        self._write_batch = write_batch
        self._compress = bool(compress)
        self._unknown_fields_said: set[tuple[str, tuple[str, ...]]] = set()

    # ------------------------------------------------------------------ properties

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

    def __repr__(self) -> str:
        return (
            f"OctaneClient(server={self._server!r}, space_id={self._space_id}, "
            f"workspace_id={self._workspace_id}, credentials={self._credentials!r})"
        )

    # ------------------------------------------------------------------ session

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
                response = self._exchange("POST", url)
            finally:
                self._signed_in = False
                with self._cookie_lock:
                    self._session.cookies.clear()
            if response.status_code not in (200, 204, 302, 401):
                raise self._error_for("POST", url, response)

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

    def __enter__(self) -> OctaneClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ endpoints

    def post_test_results(
        self, xml: bytes, *, skip_errors: bool = False, label: str | None = None
    ) -> TaskAccepted:
        """Queue one test-results XML document; retried, since Octane de-duplicates payloads.

        Plain XML unless the client was made with ``compress=True``; a 400/415 on a gzipped
        body is retried once as plain XML and compression stays off for this client.
        """
        compress = self._compress
        try:
            data = self._post_results(xml, skip_errors=skip_errors, compress=compress, label=label)
        except OctaneHTTPError as exc:
            if not compress or exc.status not in (400, 415) or isinstance(exc, NotOctaneError):
                raise
            self._compress = False
            logger.warning(
                "Octane refused a gzip-compressed upload (HTTP %s); sending plain XML from now on",
                exc.status,
            )
            data = self._post_results(xml, skip_errors=skip_errors, compress=False, label=label)
        raw_id = data.get("id")
        task_id = _as_int(raw_id)
        if task_id is None:
            raise NotOctaneError(
                f"Octane accepted POST {self._base}/test-results but its answer has no task id "
                f"(id={raw_id!r}); the server URL may not be Octane's root",
                status=202,
                url=f"{self._base}/test-results",
            )
        return TaskAccepted(
            id=task_id,
            status=str(data.get("status") or ""),
            from_older_push=str(data.get("fromOlderPush", "")).strip().lower() == "true",
        )

    def _post_results(
        self, xml: bytes, *, skip_errors: bool, compress: bool, label: str | None = None
    ) -> dict[str, Any]:
        return self._api(
            "POST",
            "test-results",
            params={"skip-errors": "true" if skip_errors else "false"},
            body=gzip.compress(xml, mtime=0) if compress else xml,
            content_type="application/xml",
            extra_headers={"Content-Encoding": GZIP_ENCODING} if compress else {},
            log_body=xml.decode("utf-8", "replace") if self._log_bodies else None,
            what=f"upload of test results ({len(xml)} bytes)",
            label=label,
        )

    def get_task(self, task_id: int) -> TaskState:
        """Read a test-results task's state (only success/warning/failed are final)."""
        task = _positive_id(task_id, "task_id")
        data = self._api("GET", f"test-results/{task}", what=f"status of task {task}")
        status = data.get("status")
        if not isinstance(status, str):
            raise NotOctaneError(
                f"the answer from {self._base}/test-results/{task} has no task status; "
                "the server URL may not be Octane's root",
                status=200,
                url=f"{self._base}/test-results/{task}",
            )
        details = data.get("errorDetails", data.get("error_details"))
        return TaskState(
            id=_as_int(data.get("id")) or task,
            status=status,
            until=None if data.get("until") is None else str(data["until"]),
            error_details=None if details is None else str(details),
        )

    def iter_entities(
        self,
        collection: str,
        *,
        query: str | None = None,
        fields: Sequence[str] | None = None,
        order_by: str | Sequence[str] | None = None,
        page_size: int = MAX_PAGE_SIZE,
        optional_fields: Sequence[str] = (),
    ) -> Iterator[dict[str, Any]]:
        """Yield every entity matching ``query``, page by page (limit/offset).

        ``optional_fields`` are asked for too, but a server that answers 400 (an unknown
        field, API-FACTS 1d) is asked again without them: their values are then absent.
        """
        path = _check_collection(collection)
        if isinstance(page_size, bool) or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ConfigError(f"page_size {page_size!r} must be between 1 and {MAX_PAGE_SIZE}")
        params: dict[str, str] = {}
        if order_by:
            params["order_by"] = order_by if isinstance(order_by, str) else ",".join(order_by)
        if query:
            params["query"] = f'"{query}"'
        wanted = [*(fields or ()), *optional_fields]
        offset = 0
        for _ in range(_MAX_PAGES):
            if wanted:
                params["fields"] = ",".join(wanted)
            page_params = {**params, "limit": str(page_size), "offset": str(offset)}
            try:
                page = self._api("GET", path, params=page_params, what=f"query of {path}")
            except OctaneHTTPError as exc:
                if not (optional_fields and offset == 0 and exc.status == 400) or isinstance(
                    exc, NotOctaneError
                ):
                    raise
                self._say_unknown_fields(path, tuple(optional_fields), exc)
                wanted, optional_fields = list(fields or ()), ()
                params.pop("fields", None)
                continue
            data = page.get("data")
            if not isinstance(data, list):
                raise self._bad_shape("GET", f"{self._base}/{path}", "no 'data' list")
            yield from (item for item in data if isinstance(item, dict))
            offset += len(data)
            total = _as_int(page.get("total_count"))
            if not data or (total is not None and offset >= total):
                return
            if total is None and len(data) < page_size:
                return
        raise OctaneHTTPError(
            f"stopped paging {self._base}/{path} after {_MAX_PAGES} pages of {page_size}; "
            "narrow the query",
            status=200,
            url=f"{self._base}/{path}",
        )

    def _say_unknown_fields(
        self, path: str, dropped: tuple[str, ...], exc: OctaneHTTPError
    ) -> None:
        key = (path, dropped)
        if key not in self._unknown_fields_said:
            self._unknown_fields_said.add(key)
            logger.debug(
                "Octane refused fields %s of %s (%s); querying without them",
                ",".join(dropped),
                path,
                exc.error_code or f"HTTP {exc.status}",
            )

    def get_entities(
        self,
        collection: str,
        *,
        query: str | None = None,
        fields: Sequence[str] | None = None,
        order_by: str | Sequence[str] | None = None,
        page_size: int = MAX_PAGE_SIZE,
        optional_fields: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        return list(
            self.iter_entities(
                collection,
                query=query,
                fields=fields,
                order_by=order_by,
                page_size=page_size,
                optional_fields=optional_fields,
            )
        )

    def create_entities(self, collection: str, data: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """POST new entities. Not resent after a lost connection: the caller must re-query."""
        path = _check_collection(collection)
        return self._write("POST", path, data, params=None, idempotent=False)

    def update_entities(
        self,
        collection: str,
        data: list[dict[str, Any]],
        *,
        reference_update_mode: str | None = None,
    ) -> list[dict[str, Any]]:
        """PUT changes to existing entities (``reference_update_mode='append'`` adds links)."""
        path = _check_collection(collection)
        params = None
        if reference_update_mode is not None:
            if not isinstance(reference_update_mode, str) or not _MODE_RE.fullmatch(
                reference_update_mode
            ):
                raise ConfigError(
                    f"reference_update_mode {reference_update_mode!r} must be a word such as "
                    "'append'"
                )
            params = {"reference_update_mode": reference_update_mode}
        return self._write("PUT", path, data, params=params, idempotent=True)

    def delete_entity(self, collection: str, entity_id: int | str) -> bool:
        """DELETE one entity; False if it was already gone (404), e.g. after a lost answer."""
        path = _check_collection(collection)
        text = str(entity_id).strip()
        if not text.isdigit():
            raise ConfigError(f"entity id {entity_id!r} must be a number")
        try:
            self._api("DELETE", f"{path}/{text}", what=f"delete of {path} {text}", allow_empty=True)
        except OctaneHTTPError as exc:
            if exc.status == 404 and not isinstance(exc, NotOctaneError):
                return False
            raise
        return True

    # ------------------------------------------------------------------ internals

    def _write(
        self,
        method: str,
        path: str,
        data: list[dict[str, Any]],
        *,
        params: dict[str, str] | None,
        idempotent: bool,
    ) -> list[dict[str, Any]]:
        """POST/PUT ``data`` in calls of at most ``write_batch`` entities, as the CI SDK."""
        done: list[dict[str, Any]] = []
        for start in range(0, len(data), self._write_batch):
            batch = data[start : start + self._write_batch]
            done += self._write_batch_call(method, path, batch, params, idempotent)
        return done

    def _write_batch_call(
        self,
        method: str,
        path: str,
        data: list[dict[str, Any]],
        params: dict[str, str] | None,
        idempotent: bool,
    ) -> list[dict[str, Any]]:
        text = json.dumps({"data": data})
        answer = self._api(
            method,
            path,
            params=params,
            body=text.encode("utf-8"),
            content_type="application/json",
            log_body=text if self._log_bodies else None,
            idempotent=idempotent,
            what=f"{method} of {len(data)} {path}",
        )
        url = f"{self._base}/{path}"
        errors = answer.get("errors")
        if isinstance(errors, list) and errors:
            first = errors[0] if isinstance(errors[0], dict) else {}
            done = answer.get("data")
            count = len(done) if isinstance(done, list) else 0
            description = _opt_str(first.get("description"))
            description = (
                None
                if description is None
                else _truncate(self._scrub(description), _ERROR_TEXT_LIMIT)
            )
            raise OctaneHTTPError(
                f"Octane did only part of {method} {url}: {count} of {len(data)} entities done;"
                + _describe_error({**first, "description": description}, len(errors), lead=" ")
                + "; re-query before trying again",
                status=200,
                url=url,
                error_code=_opt_str(first.get("error_code")),
                description=description,
                correlation_id=_opt_str(first.get("correlation_id")),
            )
        result = answer.get("data")
        if not isinstance(result, list):
            raise self._bad_shape(method, url, "no 'data' list")
        return [item for item in result if isinstance(item, dict)]

    def _api(
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
                raise self._error_for(method, url, response)
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
            raise self._not_octane(method, url, response)
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
        response = self._exchange(method, url, **kwargs)
        if response.status_code != 401:
            return response
        # The session expired (idle or global timeout): sign in again once, replay once.
        with self._lock:
            if self._generation == generation:  # no other thread has signed in meanwhile
                self._sign_in_locked()
            generation = self._generation
        response = self._exchange(method, url, **kwargs)
        with self._lock:
            raced = self._generation != generation
        if response.status_code == 401 and raced:
            # Another thread signed in while the replay was on its way (a sign-in starts a new
            # session): the replay carried the old cookie. Send it once more with the new one.
            response = self._exchange(method, url, **kwargs)
        if response.status_code == 401:
            error = self._error_for(method, url, response)
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
        response = self._exchange(
            "POST",
            url,
            body=json.dumps(self._credentials.sign_in_body()).encode("utf-8"),
            content_type="application/json",
            sensitive=True,
        )
        status = response.status_code
        if status in (401, 403):
            error = self._error_for("POST", url, response)
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
            raise self._error_for("POST", url, response)
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
        deadline = time.monotonic() + self._deadline_s
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
            ok = 200 <= response.status_code < 300
            limit = JSON_BODY_LIMIT if ok else ERROR_BODY_LIMIT
            answer = read_body(
                response, deadline=deadline, deadline_s=self._deadline_s, limit=limit
            )
        except requests.RequestException as exc:
            body = None  # the sign-in body holds the secret: keep it out of traceback locals
            error = self._connection_error(method, url, exc)
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
                self._scrub(_safe_text(response)), _ERROR_TEXT_LIMIT
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

    def _scrub(self, text: str) -> str:
        """Remove every secret and cookie value we know of, and anything shaped like one."""
        jar = self._session.cookies
        with self._cookie_lock, _jar_lock(jar):
            known = set(self._secrets)
            known.update(c.value for c in jar if c.value)
        text = redact(text, known)
        text = _SECRET_PATTERN.sub(lambda m: f"{m[1]}{m[2]}{_HIDDEN}", text)
        return _redact_userinfo(text)

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
            return self._not_octane(method, url, response)
        correlation = response.request.headers.get("X-Correlation-ID") if response.request else None
        return self._error_from_json(method, url, status, data, retry_after, correlation)

    def _error_for(self, method: str, url: str, response: requests.Response) -> OctaneHTTPError:
        """The one place that turns a non-2xx answer into an error (noting a cut body)."""
        error = self._error_for_answer(method, url, response)
        cut = getattr(response, _CUT_ATTR, None)
        if cut is not None:
            error.args = (f"{error} (the answer was longer than {cut}; only that much was read)",)
        return error

    def _error_from_json(
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

    def _not_octane(self, method: str, url: str, response: requests.Response) -> NotOctaneError:
        return NotOctaneError(
            f"the answer from {_no_query(url)} is not Octane's JSON (HTTP {response.status_code}, "
            f"{_content_type(response)}): the server URL is probably wrong; expected the Octane "
            "root such as https://octane.example.com",
            status=response.status_code,
            url=url,
        )

    def _bad_shape(self, method: str, url: str, problem: str) -> NotOctaneError:
        return NotOctaneError(
            f"the answer to {method} {_no_query(url)} is JSON but not shaped like Octane's "
            f"({problem}): the server URL is probably wrong; expected the Octane root such as "
            "https://octane.example.com",
            status=200,
            url=url,
        )

    def _connection_error(
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
            return ConfigError(f"cannot send {method} to {where}: {reason}; {_EXPECTED_URL}")
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


# ---------------------------------------------------------------------- helpers


def _cut_error(method: str, url: str, status: int, limit: int) -> OctaneHTTPError:
    return OctaneHTTPError(
        f"the answer to {method} {_no_query(url)} (HTTP {status}) is larger than "
        f"{size_text(limit)}, the most pytest-octane reads from one Octane answer; it stopped "
        "reading there: check that the server URL is Octane's, or ask for less (a narrower "
        "query, fewer fields)",
        status=status,
        url=url,
    )


def _ui_ids(query: str, fragment: str, shown: str) -> tuple[str | None, str | None]:
    values = parse_qs(query).get("p") or parse_qs(fragment.lstrip("/")).get("p")
    if not values:
        return None, None
    space, sep, workspace = values[0].strip("/").partition("/")
    if not sep or "/" in workspace:
        raise ConfigError(
            f"Octane URL {shown!r} has p={values[0]!r}; expected p=<space id>/<workspace id>"
        )
    return space, workspace


def _url_id(raw: str | None, name: str, shown: str) -> int | None:
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"the {name} id {raw!r} in Octane URL {shown!r} is not a positive number")
    return int(raw)


def _positive_id(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, not {value!r}")
    return value


def _check_client_type(value: str) -> str:
    if not isinstance(value, str) or not _CLIENT_TYPE_RE.fullmatch(value):
        raise ConfigError(
            f"client_type {value!r} must be 1-64 letters, digits, '_', '.' or '-' "
            "(it is sent as the HPECLIENTTYPE header), e.g. PYTEST_OCTANE"
        )
    if value.upper().startswith(_RESERVED_CLIENT_TYPE_PREFIXES):
        raise ConfigError(
            f"client_type {value!r} starts with a prefix Octane reserves for its own clients "
            "(HPE, OCTANE); choose your own name, e.g. PYTEST_OCTANE"
        )
    return value


def _check_timeout(value: tuple[float, float]) -> tuple[float, float]:
    try:
        connect, read = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"timeout {value!r} must be (connect seconds, read seconds)") from None
    for number in (connect, read):
        if not math.isfinite(number) or number <= 0:
            raise ConfigError(f"timeout {value!r} must hold two positive numbers of seconds")
    return connect, read


def _check_verify(value: bool | str) -> bool | str:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip():
        path = Path(value).expanduser()
        if not path.exists():
            raise ConfigError(
                f"the CA bundle {value!r} given in verifySSL (verify_ssl) does not exist; give "
                "the path of a PEM file (or directory) with the CA certificates, or true"
            )
        return str(path)
    raise ConfigError(f"verifySSL must be true, false or a CA bundle path, not {value!r}")


def _check_collection(collection: str) -> str:
    if not isinstance(collection, str) or not _COLLECTION_RE.fullmatch(collection):
        raise ConfigError(
            f"collection {collection!r} is not an Octane collection name such as 'stories' "
            "or 'metadata/fields'"
        )
    return collection


def _jar_lock(jar: Any) -> AbstractContextManager[Any]:
    """The cookie jar's own lock: requests fills and reads the jar under it in other threads."""
    lock = getattr(jar, "_cookies_lock", None)
    return lock if isinstance(lock, AbstractContextManager) else nullcontext()


def _cookie_domain(root: str) -> str:
    """The host name the cookie jar matches requests against (``localhost`` -> ``.local``)."""
    host = urlsplit(root).hostname or ""
    return host if "." in host else f"{host}.local"


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


def _redact_userinfo(text: str) -> str:
    return _USERINFO_PATTERN.sub(lambda m: f"{m[1]}{_HIDDEN}@", text)


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
