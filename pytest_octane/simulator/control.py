"""The simulator's own control endpoint (``/__simulator__/...``) for out-of-process tests.

No authentication: it is only served by the simulator itself, which listens on 127.0.0.1 by
default.  Control requests are neither logged nor counted, and faults never apply to them.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from pytest_octane.simulator.faults import Faults
from pytest_octane.simulator.protocol import ApiError, Request, Response, error_response
from pytest_octane.simulator.protocol import json_response as _json

__all__ = ["CONTROL_PREFIX", "Controllable", "handle_control"]

CONTROL_PREFIX = "/__simulator__/"


class Controllable(Protocol):
    """What the control endpoint drives: the Simulator's faults, seeding and snapshot."""

    faults: Faults

    def snapshot(self) -> dict[str, Any]: ...
    def add_story(self, key: str, *, id: int | None = None, name: str | None = None) -> int: ...
    def add_application_module(self, name: str, parent_id: int | None = None) -> int: ...
    def add_test_suite(self, name: str, *, product_area_id: int | None = None) -> int: ...
    def add_release(self, name: str, *, id: int | None = None) -> int: ...


def _body(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(request.body or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, "simulator.invalid_json", f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "simulator.invalid_json", "the body must be a JSON object")
    return data


def _optional_int(data: dict[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key!r} must be an integer, got {value!r}")
    return value


def _required_str(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key!r} must be a non-empty string, got {value!r}")
    return value


def _dispatch(sim: Controllable, request: Request) -> Response:
    name = request.path[len(CONTROL_PREFIX) :].strip("/")
    method = request.method
    if name == "state" and method == "GET":
        return _json(200, sim.snapshot())
    if name == "faults" and method == "GET":
        return _json(200, sim.faults.pending())
    if name == "faults" and method == "POST":
        return _json(200, sim.faults.apply(_body(request)))
    if name == "faults" and method == "DELETE":
        sim.faults.clear()
        return _json(200, {"action": "clear", "result": None})
    if name == "stories" and method == "POST":
        data = _body(request)
        story = sim.add_story(
            _required_str(data, "key"), id=_optional_int(data, "id"), name=data.get("name")
        )
        return _json(201, {"id": story})
    if name == "application_modules" and method == "POST":
        data = _body(request)
        module = sim.add_application_module(
            _required_str(data, "name"), _optional_int(data, "parent_id")
        )
        return _json(201, {"id": module})
    if name == "test_suites" and method == "POST":
        data = _body(request)
        suite = sim.add_test_suite(
            _required_str(data, "name"), product_area_id=_optional_int(data, "product_area_id")
        )
        return _json(201, {"id": suite})
    if name == "releases" and method == "POST":
        data = _body(request)
        release = sim.add_release(_required_str(data, "name"), id=_optional_int(data, "id"))
        return _json(201, {"id": release})
    raise ApiError(
        404,
        "simulator.not_found",
        f"{method} {request.path} is not a control endpoint (GET state, GET/POST/DELETE faults, "
        "POST stories, application_modules, test_suites, releases)",
    )


def handle_control(sim: Controllable, request: Request) -> Response:
    try:
        return _dispatch(sim, request)
    except ApiError as error:
        return error_response(error, request.correlation_id)
    except (ValueError, RuntimeError) as exc:
        return error_response(ApiError(400, "simulator.invalid_request", str(exc)), "control")
