"""Octane's REST routes: sign-in/out, test-results upload and status, entity collections.

:func:`handle` maps a transport-free :class:`Request` to a :class:`Response`; the HTTP server
only moves bytes.  Every error is Octane's error JSON.
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from typing import Any

from pytest_octane.octane.schema import validate
from pytest_octane.simulator.attachments import post_attachment
from pytest_octane.simulator.entities import COLLECTIONS, get_entity, list_entities, render
from pytest_octane.simulator.entity_writes import (
    create_entities,
    data_items,
    delete_entity,
    update_entities,
)
from pytest_octane.simulator.protocol import (
    ApiError,
    Request,
    Response,
    error_response,
    json_response,
)
from pytest_octane.simulator.state import MISSING_CODE, SimState

__all__ = ["MAX_PAYLOAD_BYTES", "endpoint_name", "handle"]

#: Largest decompressed test-results body accepted (GUESS: Octane's real limit is unknown).
MAX_PAYLOAD_BYTES = 64 * 1024 * 1024
_COOKIE = "LWSSO_COOKIE_KEY"
_SHOWN_PROBLEMS = 20
_LIST_PARAMS = {"query", "fields", "limit", "offset", "order_by"}
_UPDATE_MODES = ("replace", "append", "remove")
_NUMERIC = re.compile(r"/\d+(?=/|$)")
_API = re.compile(r"^/api/shared_spaces/([^/]+)/workspaces/([^/]+)(?:/(.*))?$")


def endpoint_name(method: str, path: str, api_prefix: str) -> str:
    """A stable name for per-endpoint counters: ``POST /test-results``, ``GET /tests/{id}``."""
    if path.startswith(api_prefix):
        path = path[len(api_prefix) :] or "/"
    return f"{method} {_NUMERIC.sub('/{id}', path)}"


def _cookie(name: str, value: str, *, expire: bool = False) -> tuple[str, str]:
    suffix = "; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0" if expire else ""
    flags = "; HttpOnly" if name == _COOKIE else ""
    return ("Set-Cookie", f"{name}={value}; Path=/{flags}{suffix}")


def _json_body(request: Request) -> Any:
    if not request.body:
        return None
    try:
        return json.loads(request.body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(
            400, "platform.invalid_json", f"the request body is not JSON: {exc}"
        ) from None


def _only_params(request: Request, allowed: set[str]) -> dict[str, str]:
    unknown = sorted(set(request.query) - allowed)
    if unknown:
        raise ApiError(
            400,
            "platform.invalid_parameter",
            f"unsupported query parameter(s) {', '.join(unknown)} "
            f"(supported here: {', '.join(sorted(allowed)) or 'none'})",
        )
    return {name: str(request.param(name)) for name in request.query}


# ---------------------------------------------------------------- authentication


def _sign_in(state: SimState, request: Request) -> Response:
    body = _json_body(request)
    if not isinstance(body, dict):
        raise ApiError(
            400,
            "platform.invalid_json",
            'sign_in needs a JSON body {"client_id", "client_secret"} or {"user", "password"}',
        )
    config = state.config
    principal: str | None = None
    if "client_id" in body or "client_secret" in body:
        if (
            body.get("client_id") == config.client_id
            and body.get("client_secret") == config.client_secret
        ):
            principal = config.client_id
    elif "user" in body or "password" in body:
        pairs = ((config.user, config.password), (config.client_id, config.client_secret))
        if (body.get("user"), body.get("password")) in pairs:
            principal = str(body.get("user"))
    if principal is None:
        state.counters.failed_sign_ins += 1
        raise ApiError(401, "AUTHENTICATION_FAILED", "Authentication failed: wrong credentials")
    session = state.sign_in(principal)
    return Response(
        status=200,
        content_type="text/plain",
        headers=[_cookie(_COOKIE, session.token), _cookie("OCTANE_USER", principal)],
    )


def _sign_out(state: SimState, request: Request) -> Response:
    state.sign_out(request.cookies.get(_COOKIE))
    return Response(
        status=200,
        content_type="text/plain",
        headers=[_cookie(_COOKIE, "", expire=True), _cookie("OCTANE_USER", "", expire=True)],
    )


# ---------------------------------------------------------------- test results


def _decode_upload(request: Request) -> bytes:
    content_type = request.header("content-type").split(";")[0].strip().lower()
    encoding = request.header("content-encoding").strip().lower()
    if content_type not in ("application/xml", "application/gzip"):
        raise ApiError(
            415,
            "platform.unsupported_media_type",
            f"Content-Type {content_type or '(none)'!r} is not supported for test results; "
            "send application/xml (optionally gzip-compressed)",
        )
    body = request.body
    # the docs name "application/gzip"; the CI SDK sends "gzip" (API-FACTS 2c, 1d)
    if encoding not in ("", "identity", "gzip", "application/gzip"):
        raise ApiError(
            415,
            "platform.unsupported_media_type",
            f"Content-Encoding {encoding!r} is not supported",
        )
    if encoding in ("gzip", "application/gzip") or content_type == "application/gzip":
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            body = inflater.decompress(body, MAX_PAYLOAD_BYTES + 1)
        except zlib.error as exc:
            raise ApiError(
                400, "platform.invalid_body", f"the body is not valid gzip: {exc}"
            ) from None
        if len(body) > MAX_PAYLOAD_BYTES or inflater.unconsumed_tail:
            raise ApiError(
                413,
                "platform.payload_too_large",
                f"the decompressed body exceeds {MAX_PAYLOAD_BYTES} bytes; upload smaller slices",
            )
        if not inflater.eof:
            raise ApiError(400, "platform.invalid_body", "the gzip body is truncated")
    return body


def _skip_errors(request: Request) -> bool:
    _only_params(request, {"skip-errors"})
    raw = request.param("skip-errors")
    if raw is None or raw.lower() == "false":
        return False
    if raw.lower() == "true":
        return True
    raise ApiError(400, "platform.invalid_parameter", f"skip-errors={raw!r} must be true or false")


def _post_results(state: SimState, request: Request) -> Response:
    skip_errors = _skip_errors(request)
    payload = _decode_upload(request)
    problems = validate(payload)
    if problems:
        shown = "; ".join(problems[:_SHOWN_PROBLEMS])
        more = len(problems) - _SHOWN_PROBLEMS
        if more > 0:
            shown += f"; ... and {more} more"
        # GUESS: error code name; the docs only say 400 = not valid against the XSD.
        raise ApiError(400, "testbox.xml_validation_failed", f"invalid test results XML: {shown}")
    digest = hashlib.sha256(payload).hexdigest()
    with state.lock:
        original = state.task_by_digest.get(digest)
        if original is not None:
            task = state.tasks[original]
            task.repeats += 1
            state.counters.from_older_push += 1
            return json_response(
                state.config.dedup_status, {**task.as_json(), "fromOlderPush": "true"}
            )
        if state.in_flight() >= state.config.queue_limit:
            state.counters.queue_full_rejections += 1
            raise ApiError(
                503,
                "testbox.queue_full",
                "The queue has reached the limit of test result processing tasks that are "
                f"allowed for the shared space ({state.config.queue_limit}); resend later",
            )
        task = state.new_task(digest, payload, skip_errors)
        return json_response(202, {"id": task.id, "status": task.status})


def _get_task(state: SimState, task_id: str) -> Response:
    try:
        number = int(task_id)
    except ValueError:
        raise ApiError(
            404, "platform.entity_not_found", f"test-results task {task_id!r} does not exist"
        ) from None
    with state.lock:
        task = state.tasks.get(number)
        if task is None:
            raise ApiError(
                404, "platform.entity_not_found", f"test-results task {number} does not exist"
            )
        return json_response(200, task.as_json())


# ---------------------------------------------------------------- collections


def _collection(state: SimState, request: Request, name: str, item: str | None) -> Response:
    coll = COLLECTIONS[name]
    method = request.method
    with state.lock:
        if method == "GET" and item is None:
            params = _only_params(request, _LIST_PARAMS)
            return json_response(200, list_entities(state, coll, params))
        if method == "GET":
            params = _only_params(request, {"fields"})
            entity = get_entity(state, coll, item or "", params.get("fields"))
            fields = params.get("fields")
            wanted = None if not fields else [f.strip() for f in fields.split(",")]
            return json_response(200, render(state, entity, coll.label, wanted))
        if method == "POST" and item is None:
            _only_params(request, set())
            created = create_entities(state, coll, _json_body(request))
            rendered = [render(state, e, coll.label) for e in created]
            return json_response(201, {"total_count": len(rendered), "data": rendered})
        if method == "DELETE" and item is not None:
            _only_params(request, set())
            delete_entity(state, coll, item)
            return Response(status=200)
        if method == "PUT":
            params = _only_params(request, {"reference_update_mode"})
            mode = params.get("reference_update_mode", "replace")
            if mode not in _UPDATE_MODES:
                raise ApiError(
                    400,
                    "platform.invalid_parameter",
                    f"reference_update_mode={mode!r} must be one of {', '.join(_UPDATE_MODES)}",
                )
            body = _json_body(request)
            if item is None:
                items = data_items(body)
            else:
                if not isinstance(body, dict):
                    raise ApiError(400, "platform.invalid_body", "the body must be a JSON object")
                items = [{**body, "id": item}]
            updated = update_entities(state, coll, items, mode)
            rendered = [render(state, e, coll.label) for e in updated]
            if item is not None:
                return json_response(200, rendered[0])
            return json_response(200, {"total_count": len(rendered), "data": rendered})
    raise ApiError(405, "platform.method_not_allowed", f"{method} is not allowed on {request.path}")


def _workspaces(state: SimState) -> Response:
    config = state.config
    workspace = {"type": "workspace", "id": str(config.workspace_id), "name": "Simulated workspace"}
    return json_response(200, {"total_count": 1, "data": [workspace]})


def _api(state: SimState, request: Request) -> Response:
    match = _API.match(request.path)
    config = state.config
    if request.path == f"/api/shared_spaces/{config.space_id}/workspaces":
        if request.method != "GET":
            raise ApiError(405, "platform.method_not_allowed", "only GET lists workspaces")
        return _workspaces(state)
    if match is None:
        raise ApiError(404, "platform.not_found", f"no such resource: {request.path}")
    space, workspace, rest = match.group(1), match.group(2), match.group(3) or ""
    if space != str(config.space_id):
        raise ApiError(404, "platform.not_found", f"shared space {space} does not exist")
    if workspace != str(config.workspace_id):
        raise ApiError(
            404, "platform.not_found", f"workspace {workspace} does not exist in space {space}"
        )
    parts = [p for p in rest.split("/") if p]
    if parts and parts[0] == "test-results":
        if len(parts) == 1 and request.method == "POST":
            return _post_results(state, request)
        if len(parts) == 2 and request.method == "GET":
            return _get_task(state, parts[1])
        if len(parts) <= 2:
            raise ApiError(405, "platform.method_not_allowed", f"{request.method} not allowed")
    if parts == ["attachments"] and request.method == "POST":
        _only_params(request, {"name", "description", "owner_run", "owner_test"})
        with state.lock:
            return post_attachment(state, request)
    if parts and parts[0] in COLLECTIONS and len(parts) <= 2:
        return _collection(state, request, parts[0], parts[1] if len(parts) == 2 else None)
    raise ApiError(404, "platform.not_found", f"no such resource: {request.path}")


def handle(state: SimState, request: Request) -> Response:
    """Answer one request as Octane would (see docs/simulator.md for the GUESSes)."""
    try:
        if request.path in ("/authentication/sign_in", "/authentication/sign_out"):
            if request.method != "POST":
                raise ApiError(405, "platform.method_not_allowed", f"use POST {request.path}")
            with state.lock:
                if request.path.endswith("sign_in"):
                    return _sign_in(state, request)
                return _sign_out(state, request)
        if not (request.path == "/api" or request.path.startswith("/api/")):
            raise ApiError(404, "platform.not_found", f"no such resource: {request.path}")
        with state.lock:
            session, code, new_token = state.authenticate(request.cookies.get(_COOKIE))
            if session is None:
                state.counters.unauthorized += 1
        if session is None:
            text = (
                "Authentication required: sign in with POST /authentication/sign_in"
                if code == MISSING_CODE
                else "The session expired; sign in again"
            )
            raise ApiError(401, str(code), text)
    except ApiError as error:
        return error_response(error, request.correlation_id)
    try:
        response = _api(state, request)
    except ApiError as error:
        response = error_response(error, request.correlation_id)
    if new_token is not None:
        response.headers.append(_cookie(_COOKIE, new_token))
    return response
