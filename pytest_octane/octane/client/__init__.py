"""Octane's REST API over one ``requests.Session``: sign-in, cookies, errors, retries.

Everything that talks HTTP to Octane goes through :class:`OctaneClient`, so the rules live
in one place: lazy sign-in without stale cookies, one re-sign-in on 401, the session cookie
refreshed from any answer, Octane's error JSON mapped to :mod:`pytest_octane.errors`,
transient trouble retried per :class:`~pytest_octane.octane.retry.RetryPolicy`, and no secret in
any log line, log entry or exception.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any

import requests

from pytest_octane.model import RequestLogEntry
from pytest_octane.octane.client.attachments import Attachments
from pytest_octane.octane.client.entities import Entities
from pytest_octane.octane.client.query import quote_query_value
from pytest_octane.octane.client.results import TERMINAL_STATUSES, Results, TaskAccepted, TaskState
from pytest_octane.octane.client.session import HttpSession
from pytest_octane.octane.client.state import (
    AUTH_COOKIES,
    GZIP_ENCODING,
    MAX_PAGE_SIZE,
    MAX_WRITE_BATCH,
    SESSION_COOKIE,
    InsecureConnectionWarning,
    ignore_unverified_request_warnings,
)
from pytest_octane.octane.client.urls import parse_octane_url
from pytest_octane.octane.credentials import Credentials
from pytest_octane.octane.retry import RetryPolicy

__all__ = [
    "AUTH_COOKIES",
    "GZIP_ENCODING",
    "MAX_PAGE_SIZE",
    "MAX_WRITE_BATCH",
    "SESSION_COOKIE",
    "TERMINAL_STATUSES",
    "InsecureConnectionWarning",
    "OctaneClient",
    "TaskAccepted",
    "TaskState",
    "ignore_unverified_request_warnings",
    "parse_octane_url",
    "quote_query_value",
]


class OctaneClient:
    """One signed-in conversation with one Octane workspace; safe to share between threads.

    A thin facade over its parts: the HTTP session (session.py, with the error mapping of
    answers.py), the entity endpoints (entities.py) and the test-results endpoints (results.py).
    """

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
        self._http = HttpSession(
            server=server,
            space_id=space_id,
            workspace_id=workspace_id,
            credentials=credentials,
            client_type=client_type,
            timeout=timeout,
            verify=verify,
            proxies=proxies,
            retry=retry,
            on_request=on_request,
            session=session,
            log_bodies=log_bodies,
        )
        self._entities = Entities(self._http, write_batch=write_batch, log_bodies=log_bodies)
        self._results = Results(self._http, compress=compress, log_bodies=log_bodies)
        self._attachments = Attachments(self._http)

    # ------------------------------------------------------------------ properties

    @property
    def server(self) -> str:
        return self._http.server

    @property
    def space_id(self) -> int:
        return self._http.space_id

    @property
    def workspace_id(self) -> int:
        return self._http.workspace_id

    @property
    def base_url(self) -> str:
        return self._http.base_url

    @property
    def credentials(self) -> Credentials:
        return self._http.credentials

    @property
    def deadline_s(self) -> float:
        """How long one request may take in all (connect + 2 x read timeout)."""
        return self._http.deadline_s

    @property
    def signed_in(self) -> bool:
        return self._http.signed_in

    def __repr__(self) -> str:
        return (
            f"OctaneClient(server={self.server!r}, space_id={self.space_id}, "
            f"workspace_id={self.workspace_id}, credentials={self.credentials!r})"
        )

    # ------------------------------------------------------------------ session

    def sign_in(self) -> None:
        """Sign in now (normally done lazily before the first API request)."""
        self._http.sign_in()

    def sign_out(self) -> None:
        """End the Octane session; 200 and 302 both mean done (CLT: defect #2919)."""
        self._http.sign_out()

    def close(self) -> None:
        """Sign out if signed in (best effort) and release the connection pool."""
        self._http.close()

    # ------------------------------------------------------------------ endpoints

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
        """Yield every entity matching ``query``, page by page (limit/offset)."""
        return self._entities.iter_entities(
            collection,
            query=query,
            fields=fields,
            order_by=order_by,
            page_size=page_size,
            optional_fields=optional_fields,
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
        return self._entities.get_entities(
            collection,
            query=query,
            fields=fields,
            order_by=order_by,
            page_size=page_size,
            optional_fields=optional_fields,
        )

    def create_entities(self, collection: str, data: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """POST new entities. Not resent after a lost connection: the caller must re-query."""
        return self._entities.create_entities(collection, data)

    def update_entities(
        self,
        collection: str,
        data: list[dict[str, Any]],
        *,
        reference_update_mode: str | None = None,
    ) -> list[dict[str, Any]]:
        """PUT changes to existing entities (``reference_update_mode='append'`` adds links)."""
        return self._entities.update_entities(
            collection, data, reference_update_mode=reference_update_mode
        )

    def delete_entity(self, collection: str, entity_id: int | str) -> bool:
        """DELETE one entity; False if it was already gone (404), e.g. after a lost answer."""
        return self._entities.delete_entity(collection, entity_id)

    def post_test_results(
        self, xml: bytes, *, skip_errors: bool = False, label: str | None = None
    ) -> TaskAccepted:
        """Queue one test-results XML document; retried, since Octane de-duplicates payloads."""
        return self._results.post_test_results(xml, skip_errors=skip_errors, label=label)

    def get_task(self, task_id: int) -> TaskState:
        """Read a test-results task's state (only success/warning/failed are final)."""
        return self._results.get_task(task_id)

    def create_run_attachment(
        self, run_id: int, name: str, content: bytes, *, description: str | None = None
    ) -> int:
        """POST one file onto a run (multipart, ``owner_run``); return the attachment's id."""
        return self._attachments.create_run_attachment(
            run_id, name, content, description=description
        )

    def __enter__(self) -> OctaneClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
