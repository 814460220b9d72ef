"""Octane's REST API for one workspace: :class:`OctaneClient` and its endpoints.

Everything that talks HTTP to Octane goes through :class:`OctaneClient`, so the rules live in
one place. Three layers, like httpx's client over its transports: this module's client with
its endpoints (entities, test results, attachments, queries; each checks its input), the
HTTP session under it (``session.py``: sign-in, cookies, re-sign-in on 401, retries, the
bounded wire, the request log) and the mapping of Octane's answers to
:mod:`pytest_octane.errors` (``answers.py``). No secret reaches any log line, log entry or
exception.

Attachments (API-FACTS 1e): one ``POST .../attachments`` creates one attachment; the form the
Java REST SDK sends (VERIFIED) is multipart with an ``entity`` part (one bare JSON object:
``name``, ``description``, ``owner_run``) and a ``content`` part (the bytes). ``owner_run``
and the reference type ``run`` follow the documented ``owner_<entity>`` rule (GUESS: no
literal example). Octane takes only whitelisted extensions whose content matches, and names
that do not start with ``.`` nor contain ``/ \\ : * ? " < > |`` (VERIFIED; see
:func:`pytest_octane.model.octane_name`).
"""

from __future__ import annotations

import gzip
import json
import logging
import mimetypes
import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Final, TypedDict, Unpack

from pytest_octane.errors import ConfigError, NotOctaneError, OctaneHTTPError
from pytest_octane.octane.client.session import (
    AUTH_COOKIES,
    SESSION_COOKIE,
    Connection,
    HttpSession,
    InsecureConnectionWarning,
    ignore_unverified_request_warnings,
    positive_id,
)
from pytest_octane.settings.octane_url import parse_octane_url
from pytest_octane.settings.parsers import MAX_WRITE_BATCH

__all__ = [
    "AUTH_COOKIES",
    "GZIP_ENCODING",
    "MAX_PAGE_SIZE",
    "MAX_WRITE_BATCH",
    "SESSION_COOKIE",
    "TERMINAL_STATUSES",
    "Connection",
    "EntityQuery",
    "HttpSession",
    "InsecureConnectionWarning",
    "OctaneClient",
    "TaskAccepted",
    "TaskState",
    "ignore_unverified_request_warnings",
    "parse_octane_url",
    "quote_query_value",
]

logger = logging.getLogger(__name__)

MAX_PAGE_SIZE = 1000  # the CI SDK's MAX_GET_LIMIT; a larger `limit` may be a 400 (API-FACTS 1d)

#: what the public test-results docs name for a gzipped body (API-FACTS 2c, 1d)
GZIP_ENCODING = "application/gzip"

#: The only states that end a task. Anything else (queued, running, processing, pending, an
#: empty or new word) may still turn into success, so it keeps being polled.
TERMINAL_STATUSES = frozenset({"success", "warning", "failed"})

_MAX_PAGES = 10_000  # safety bound for paging loops

_COLLECTION_RE = re.compile(r"[a-z][a-z0-9_]*(?:/[a-z][a-z0-9_]*)*")

_MODE_RE = re.compile(r"[a-z_]{1,32}")

#: characters the CI SDK's QueryHelper backslash-escapes inside a quoted value (API-FACTS 1d)
_QUERY_ESCAPES = str.maketrans({c: "\\" + c for c in "\\'\"()"})


def quote_query_value(value: str) -> str:
    """Quote a string literal for an Octane query as the CI SDK does: ``'v'``.

    ``\\``, ``'``, ``"``, ``(`` and ``)`` get a backslash (``QueryHelper``), so every value
    can be queried. Note that ``*`` in a value acts as a wildcard for ``EQ``.
    """
    if not isinstance(value, str):
        raise ConfigError.bad_value("query value", value, "must be a string")
    return "'" + value.translate(_QUERY_ESCAPES) + "'"


class EntityQuery(TypedDict, total=False):
    """What :meth:`OctaneClient.iter_entities` takes besides the collection."""

    query: str | None
    fields: Sequence[str] | None
    order_by: str | Sequence[str] | None
    page_size: int
    optional_fields: Sequence[str]


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


class OctaneClient(AbstractContextManager["OctaneClient"]):
    """One signed-in conversation with one Octane workspace; safe to share between threads.

    ``connection`` says where and how (:class:`~pytest_octane.octane.client.session.Connection`:
    server, ids, credentials, the timeouts from the settings, TLS, proxies, retries, the
    request log, an injected ``requests.Session``); ``write_batch`` is the most entities per
    POST/PUT and ``compress`` gzips test-result documents.
    """

    def __init__(
        self,
        *,
        write_batch: int = MAX_WRITE_BATCH,
        compress: bool = False,
        **connection: Unpack[Connection],
    ) -> None:
        if isinstance(write_batch, bool) or not 1 <= write_batch <= MAX_WRITE_BATCH:
            raise ConfigError.bad_value(
                "write_batch", write_batch, f"must be between 1 and {MAX_WRITE_BATCH}"
            )
        self._http = http = HttpSession(**connection)
        # the session's checked settings, read-only: the root URL, the ids, the credentials and
        # how long one request may take in all (connect + 2 x read timeout)
        self.server: Final = http.server
        self.space_id: Final = http.space_id
        self.workspace_id: Final = http.workspace_id
        self.base_url: Final = http.base_url
        self.credentials: Final = http.credentials
        self.deadline_s: Final = http.deadline_s
        self._answers = http.answers
        self._write_batch = write_batch
        self._compress = bool(compress)
        self._unknown_fields_said: set[tuple[str, tuple[str, ...]]] = set()

    # ------------------------------------------------------------------ the session

    @property
    def signed_in(self) -> bool:
        return self._http.signed_in

    def sign_in(self) -> None:
        """Sign in now (normally done lazily before the first API request)."""
        self._http.sign_in()

    def sign_out(self) -> None:
        """End the Octane session; 200 and 302 both mean done (CLT: defect #2919)."""
        self._http.sign_out()

    def close(self) -> None:
        """Sign out if signed in (best effort) and release the connection pool."""
        self._http.close()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"OctaneClient(server={self.server!r}, space_id={self.space_id}, "
            f"workspace_id={self.workspace_id}, credentials={self.credentials!r})"
        )

    # ------------------------------------------------------------------ entities

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
            raise ConfigError.bad_value(
                "page_size", page_size, f"must be between 1 and {MAX_PAGE_SIZE}"
            )
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
                page = self._http.api("GET", path, params=page_params, what=f"query of {path}")
            except OctaneHTTPError as exc:
                if not (optional_fields and offset == 0 and _refused(exc, 400)):
                    raise
                self._say_unknown_fields(path, tuple(optional_fields), exc)
                wanted, optional_fields = list(fields or ()), ()
                params.pop("fields", None)
                continue
            data = page.get("data")
            if not isinstance(data, list):
                raise self._answers.bad_shape("GET", self._url(path), "no 'data' list")
            yield from (item for item in data if isinstance(item, dict))
            offset += len(data)
            total = _as_int(page.get("total_count"))
            if not data or (total is not None and offset >= total):
                return
            if total is None and len(data) < page_size:
                return
        raise self._answers.too_many_pages(self._url(path), _MAX_PAGES, page_size)

    def get_entities(self, collection: str, **query: Unpack[EntityQuery]) -> list[dict[str, Any]]:
        """:meth:`iter_entities` as a list."""
        return list(self.iter_entities(collection, **query))

    def create_entities(self, collection: str, data: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """POST new entities. Not resent after a lost connection: the caller must re-query."""
        return self._write("POST", _check_collection(collection), data, None, idempotent=False)

    def update_entities(
        self,
        collection: str,
        data: list[dict[str, Any]],
        *,
        reference_update_mode: str | None = None,
    ) -> list[dict[str, Any]]:
        """PUT changes to existing entities (``reference_update_mode='append'`` adds links)."""
        path = _check_collection(collection)
        mode = reference_update_mode
        if mode is not None and not (isinstance(mode, str) and _MODE_RE.fullmatch(mode)):
            raise ConfigError.bad_value(
                "reference_update_mode", mode, "must be a word such as 'append'"
            )
        params = None if mode is None else {"reference_update_mode": mode}
        return self._write("PUT", path, data, params, idempotent=True)

    def delete_entity(self, collection: str, entity_id: int | str) -> bool:
        """DELETE one entity; False if it was already gone (404), e.g. after a lost answer."""
        path = _check_collection(collection)
        text = str(entity_id).strip()
        if not text.isdigit():
            raise ConfigError.bad_value("entity id", entity_id, "must be a number")
        what = f"delete of {path} {text}"
        try:
            self._http.api("DELETE", f"{path}/{text}", what=what, allow_empty=True)
        except OctaneHTTPError as exc:
            if _refused(exc, 404):
                return False
            raise
        return True

    def _write(
        self,
        method: str,
        path: str,
        data: list[dict[str, Any]],
        params: dict[str, str] | None,
        *,
        idempotent: bool,
    ) -> list[dict[str, Any]]:
        """POST/PUT ``data`` in calls of at most ``write_batch`` entities, as the CI SDK."""
        done: list[dict[str, Any]] = []
        for start in range(0, len(data), self._write_batch):
            batch = data[start : start + self._write_batch]
            text = json.dumps({"data": batch})
            answer = self._http.api(
                method,
                path,
                params=params,
                body=text.encode("utf-8"),
                content_type="application/json",
                log_body=text if self._http.log_bodies else None,
                idempotent=idempotent,
                what=f"{method} of {len(batch)} {path}",
            )
            partial = self._answers.partial_write(method, self._url(path), len(batch), answer)
            if partial is not None:
                raise partial
            written = answer.get("data")
            if not isinstance(written, list):
                raise self._answers.bad_shape(method, self._url(path), "no 'data' list")
            done += [item for item in written if isinstance(item, dict)]
        return done

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

    # ------------------------------------------------------------------ test results

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
            if not (compress and (_refused(exc, 400) or _refused(exc, 415))):
                raise
            self._compress = False
            logger.warning(
                "Octane refused a gzip-compressed upload (HTTP %s); sending plain XML from now on",
                exc.status,
            )
            data = self._post_results(xml, skip_errors=skip_errors, compress=False, label=label)
        task_id = _as_int(data.get("id"))
        if task_id is None:
            found = (
                f"Octane accepted POST {self._url('test-results')} but its answer has no task id"
            )
            raise NotOctaneError.wrong_url(
                f"{found} (id={data.get('id')!r})", status=202, url=self._url("test-results")
            )
        return TaskAccepted(
            id=task_id,
            status=str(data.get("status") or ""),
            from_older_push=str(data.get("fromOlderPush", "")).strip().lower() == "true",
        )

    def _post_results(
        self, xml: bytes, *, skip_errors: bool, compress: bool, label: str | None
    ) -> dict[str, Any]:
        return self._http.api(
            "POST",
            "test-results",
            params={"skip-errors": "true" if skip_errors else "false"},
            body=gzip.compress(xml, mtime=0) if compress else xml,
            content_type="application/xml",
            extra_headers={"Content-Encoding": GZIP_ENCODING} if compress else {},
            log_body=xml.decode("utf-8", "replace") if self._http.log_bodies else None,
            what=f"upload of test results ({len(xml)} bytes)",
            label=label,
        )

    def get_task(self, task_id: int) -> TaskState:
        """Read a test-results task's state (only success/warning/failed are final)."""
        task = positive_id(task_id, "task_id")
        path = f"test-results/{task}"
        try:
            data = self._http.api("GET", path, what=f"status of task {task}")
        except OctaneHTTPError as exc:
            if not _refused(exc, 404):
                raise
            self._check_workspace()  # its own 404 when the workspace is what is missing
            raise self._answers.task_lost(task) from None
        status = data.get("status")
        if not isinstance(status, str):
            found = f"the answer from {self._url(path)} has no task status"
            raise NotOctaneError.wrong_url(found, status=200, url=self._url(path))
        details = data.get("errorDetails", data.get("error_details"))
        return TaskState(
            id=_as_int(data.get("id")) or task,
            status=status,
            until=None if data.get("until") is None else str(data["until"]),
            error_details=None if details is None else str(details),
        )

    def _check_workspace(self) -> None:
        """Raise the 404 of a shared space or workspace that does not exist; any other
        answer (even a refusal) shows that it exists."""
        params = {"fields": "id", "limit": "1"}
        try:
            self._http.api(
                "GET", "releases", params=params, what="a check that the workspace exists"
            )
        except OctaneHTTPError as exc:
            if _refused(exc, 404):
                raise

    # ------------------------------------------------------------------ attachments

    def create_run_attachment(
        self, run_id: int, name: str, content: bytes, *, description: str | None = None
    ) -> int:
        """POST one file onto run ``run_id`` (multipart, ``owner_run``); return its id.

        Not resent after a lost answer (a second POST would make a second attachment): only
        answers that say Octane did nothing are retried.
        """
        entity: dict[str, object] = {"name": name, "owner_run": {"type": "run", "id": str(run_id)}}
        if description:
            entity["description"] = description
        boundary = uuid.uuid4().hex
        mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
        quoted = name.replace('"', "_")
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="entity"; filename="blob"\r\n'
            f"Content-Type: application/json\r\n\r\n{json.dumps(entity)}\r\n"
            f'--{boundary}\r\nContent-Disposition: form-data; name="content"; '
            f'filename="{quoted}"\r\nContent-Type: {mime}\r\n\r\n'
        )
        body = head.encode("utf-8") + content + f"\r\n--{boundary}--\r\n".encode()
        answer = self._http.api(
            "POST",
            "attachments",
            body=body,
            content_type=f"multipart/form-data; boundary={boundary}",
            extra_headers={"Accept": "application/json"},
            idempotent=False,
            what=f"attachment {name!r} ({len(content)} bytes) of run {run_id}",
            label=f"run {run_id}",
        )
        data = answer.get("data")
        first = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
        new_id = _as_int(first.get("id"))
        if new_id is None:
            found = f"Octane accepted attachment {name!r} but its answer has no id"
            raise NotOctaneError.wrong_url(found, status=201, url=self._url("attachments"))
        return new_id

    def _url(self, path: str) -> str:
        return f"{self._http.base_url}/{path}"


def _refused(exc: OctaneHTTPError, status: int) -> bool:
    """Octane itself answered ``status`` (not a page that merely carries it)."""
    return exc.status == status and not isinstance(exc, NotOctaneError)


def _check_collection(collection: str) -> str:
    if not isinstance(collection, str) or not _COLLECTION_RE.fullmatch(collection):
        rule = "is not an Octane collection name such as 'stories' or 'metadata/fields'"
        raise ConfigError.bad_value("collection", collection, rule)
    return collection


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None
