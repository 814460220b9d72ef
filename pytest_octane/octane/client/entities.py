"""Entity reads and writes: iter/get/create/update/delete, paging, batches, optional fields."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from typing import Any

from pytest_octane.errors import (
    ConfigError,
    NotOctaneError,
    OctaneHTTPError,
)
from pytest_octane.octane.client.answers import _as_int, _describe_error, _opt_str, _truncate
from pytest_octane.octane.client.checks import _MODE_RE, _check_collection
from pytest_octane.octane.client.session import HttpSession
from pytest_octane.octane.client.state import (
    _ERROR_TEXT_LIMIT,
    _MAX_PAGES,
    MAX_PAGE_SIZE,
    MAX_WRITE_BATCH,
)

logger = logging.getLogger("pytest_octane.octane.client")


class Entities:
    """The entity endpoints of one workspace."""

    def __init__(self, http: HttpSession, *, write_batch: int, log_bodies: bool) -> None:
        if isinstance(write_batch, bool) or not 1 <= write_batch <= MAX_WRITE_BATCH:
            raise ConfigError(
                f"write_batch {write_batch!r} must be between 1 and {MAX_WRITE_BATCH}"
            )
        self._http = http
        self._write_batch = write_batch
        self._log_bodies = log_bodies
        self._unknown_fields_said: set[tuple[str, tuple[str, ...]]] = set()

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
                page = self._http.api("GET", path, params=page_params, what=f"query of {path}")
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
                raise self._http.answers.bad_shape(
                    "GET", f"{self._http.base_url}/{path}", "no 'data' list"
                )
            yield from (item for item in data if isinstance(item, dict))
            offset += len(data)
            total = _as_int(page.get("total_count"))
            if not data or (total is not None and offset >= total):
                return
            if total is None and len(data) < page_size:
                return
        raise OctaneHTTPError(
            f"stopped paging {self._http.base_url}/{path} after {_MAX_PAGES} pages of {page_size}; "
            "narrow the query",
            status=200,
            url=f"{self._http.base_url}/{path}",
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
            self._http.api(
                "DELETE", f"{path}/{text}", what=f"delete of {path} {text}", allow_empty=True
            )
        except OctaneHTTPError as exc:
            if exc.status == 404 and not isinstance(exc, NotOctaneError):
                return False
            raise
        return True

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
        answer = self._http.api(
            method,
            path,
            params=params,
            body=text.encode("utf-8"),
            content_type="application/json",
            log_body=text if self._log_bodies else None,
            idempotent=idempotent,
            what=f"{method} of {len(data)} {path}",
        )
        url = f"{self._http.base_url}/{path}"
        errors = answer.get("errors")
        if isinstance(errors, list) and errors:
            first = errors[0] if isinstance(errors[0], dict) else {}
            done = answer.get("data")
            count = len(done) if isinstance(done, list) else 0
            description = _opt_str(first.get("description"))
            description = (
                None
                if description is None
                else _truncate(self._http.scrub(description), _ERROR_TEXT_LIMIT)
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
            raise self._http.answers.bad_shape(method, url, "no 'data' list")
        return [item for item in result if isinstance(item, dict)]
