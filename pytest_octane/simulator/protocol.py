"""Transport-free request/response types and Octane's error JSON, shared by the handlers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ApiError", "Request", "Response", "error_json", "error_response", "json_response"]


@dataclass(frozen=True, slots=True)
class Request:
    """One decoded HTTP request: path is percent-decoded, query maps names to all values."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    cookies: Mapping[str, str]
    correlation_id: str

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None


@dataclass(slots=True)
class Response:
    """What the handler sends back; ``error_code`` is kept for the request log."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    error_code: str | None = None
    close: bool = False


class ApiError(Exception):
    """Raised by handlers; rendered as Octane's error JSON with this status."""

    def __init__(self, status: int, error_code: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error_code = error_code
        self.description = description


def error_json(error_code: str, description: str, correlation_id: str) -> dict[str, Any]:
    """Octane's single-error shape (the fields clients read)."""
    return {
        "error_code": error_code,
        "correlation_id": correlation_id,
        "description": description,
        "description_translated": description,
        "properties": {},
    }


def json_response(status: int, payload: Any, **kwargs: Any) -> Response:
    body = json.dumps(payload, separators=(",", ":"), sort_keys=False).encode()
    return Response(status=status, body=body, **kwargs)


def error_response(error: ApiError, correlation_id: str) -> Response:
    payload = error_json(error.error_code, error.description, correlation_id)
    return json_response(error.status, payload, error_code=error.error_code)
