"""Octane's attachments resource: ``POST .../attachments``, one file per request (API-FACTS 1e).

Two forms are accepted, as Octane's SDKs send them:

* multipart (the Java REST SDK): part ``entity`` is ONE bare JSON object (``name``, optional
  ``description``, exactly one ``owner_<type>`` reference), part ``content`` the file's bytes;
* octet-stream (the JS SDK): ``?name=...&owner_run={"type":"run","id":"5"}``, body = the bytes.

Octane's rules (VERIFIED admhelp ``API/Attachments.htm``) are checked before anything is
stored: the owner must exist; a name may not start with ``.`` nor contain ``/ \\ : * ? " < > |``
(leading and trailing spaces are trimmed); the extension must be on the default whitelist and
match the content.  The caller holds ``state.lock``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pytest_octane.simulator.protocol import ApiError, Request, Response, json_response
from pytest_octane.simulator.query import Ref
from pytest_octane.simulator.state import SimState

__all__ = ["MAX_ATTACHMENT_BYTES", "WHITELIST", "post_attachment"]

#: Octane's default ATTACHMENTS_FILE_EXTENSION_WHITE_LIST (VERIFIED, API-FACTS 1e).
WHITELIST = frozenset(
    "jpg jpeg bmp png doc docx msg pdf xml xls xlsx ppt pptx zip txt wmv mp4 m4p mkv vob log "
    "wrf fbr".split()
)
#: GUESS: Octane documents no size limit for REST uploads; the simulator refuses above this.
MAX_ATTACHMENT_BYTES = 64 * 1024 * 1024
_BAD_NAME = re.compile(r'[/\\:*?"<>|]')
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
#: What a file of each extension starts with; text types must not hold NUL bytes.
_MAGIC: dict[str, tuple[bytes, ...]] = {
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpg": (b"\xff\xd8\xff",),
    "jpeg": (b"\xff\xd8\xff",),
    "bmp": (b"BM",),
    "pdf": (b"%PDF",),
    "zip": _ZIP,
    "docx": _ZIP,
    "xlsx": _ZIP,
    "pptx": _ZIP,
    "doc": (_OLE,),
    "xls": (_OLE,),
    "ppt": (_OLE,),
    "msg": (_OLE,),
    "mkv": (b"\x1a\x45\xdf\xa3",),
    "wmv": (b"\x30\x26\xb2\x75",),
    "vob": (b"\x00\x00\x01\xba",),
}
_TEXT = {"txt", "log", "xml"}


def _refuse(code: str, text: str, status: int = 400) -> ApiError:
    return ApiError(status, code, text)


def _check_name(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise _refuse("platform.missing_required_field", "attachments: field 'name' is required")
    name = raw.strip()
    if name.startswith(".") or _BAD_NAME.search(name) or len(name) > 255:
        raise _refuse(
            "platform.invalid_attachment_name",
            f'attachment name {name!r} may not start with "." nor contain / \\ : * ? " < > | '
            "(and has at most 255 characters)",
        )
    return name


def _check_content(name: str, content: bytes) -> None:
    extension = name.rpartition(".")[2].lower() if "." in name else ""
    if extension not in WHITELIST:
        raise _refuse(
            "platform.attachment_extension_not_allowed",
            f"attachment {name!r}: the extension {extension or '(none)'!r} is not on the "
            "workspace's whitelist (ATTACHMENTS_FILE_EXTENSION_WHITE_LIST)",
        )
    magic = _MAGIC.get(extension)
    if magic is not None and not content.startswith(magic):
        matches = False
    elif extension in ("mp4", "m4p"):
        matches = content[4:8] == b"ftyp"
    elif extension in _TEXT:
        matches = b"\x00" not in content[:65536]
    else:
        matches = True
    if not matches:
        raise _refuse(
            "platform.attachment_content_mismatch",
            f"attachment {name!r}: the content does not match the extension {extension!r}",
        )
    if len(content) > MAX_ATTACHMENT_BYTES:
        raise _refuse(
            "platform.payload_too_large",
            f"attachment {name!r} exceeds {MAX_ATTACHMENT_BYTES} bytes",
            413,
        )


def _owner(state: SimState, entity: dict[str, Any]) -> Ref:
    owners = [key for key in entity if key.startswith("owner_")]
    if len(owners) != 1:
        raise _refuse(
            "platform.missing_required_field",
            "an attachment needs exactly one owner field (owner_run, owner_test, ...), "
            f"got {owners or 'none'}",
        )
    field = owners[0]
    if field != "owner_run":
        raise _refuse(
            "platform.operation_not_supported",
            f"the simulator keeps attachments of runs only (owner_run), not {field}",
        )
    ref = entity[field]
    if not isinstance(ref, dict) or ref.get("type") != "run" or "id" not in ref:
        raise _refuse(
            "platform.invalid_reference",
            'owner_run must be a reference like {"type": "run", "id": "5"}',
        )
    try:
        run_id = int(str(ref["id"]))
    except ValueError:
        raise _refuse("platform.invalid_reference", f"owner_run id {ref['id']!r}") from None
    if state.get("run", run_id) is None:
        raise _refuse(
            "platform.entity_not_found", f"owner_run: run with id {run_id} does not exist", 404
        )
    return Ref("run", run_id)


def _parts(request: Request, content_type: str) -> dict[str, tuple[dict[str, str], bytes]]:
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if match is None:
        raise _refuse("platform.invalid_body", "multipart/form-data without a boundary")
    delimiter = b"--" + match.group(1).encode("latin-1")
    chunks = request.body.split(delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise _refuse("platform.invalid_body", "the multipart body is not complete")
    parts: dict[str, tuple[dict[str, str], bytes]] = {}
    for chunk in chunks[1:-1]:
        head, sep, body = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep or not body.endswith(b"\r\n"):
            raise _refuse("platform.invalid_body", "a multipart part is malformed")
        headers: dict[str, str] = {}
        for line in head.decode("latin-1").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name = re.search(r'\bname="([^"]*)"', disposition)
        if name is None:
            raise _refuse("platform.invalid_body", "a multipart part has no form-data name")
        parts[name.group(1)] = (headers, body[:-2])
    return parts


def _entity_of_multipart(request: Request, content_type: str) -> tuple[dict[str, Any], bytes]:
    parts = _parts(request, content_type)
    if "entity" not in parts or "content" not in parts:
        raise _refuse(
            "platform.invalid_body",
            f"the multipart body needs the parts 'entity' and 'content', got {sorted(parts)}",
        )
    headers, raw = parts["entity"]
    if not headers.get("content-type", "").lower().startswith("application/json"):
        raise _refuse("platform.invalid_body", "the 'entity' part must be application/json")
    try:
        entity = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _refuse("platform.invalid_json", "the 'entity' part is not JSON") from None
    if not isinstance(entity, dict) or "data" in entity:
        raise _refuse(
            "platform.invalid_body",
            "the 'entity' part must be ONE bare JSON object (not wrapped in {\"data\": [...]})",
        )
    return entity, parts["content"][1]


def _entity_of_octet_stream(request: Request) -> tuple[dict[str, Any], bytes]:
    entity: dict[str, Any] = {}
    for key in request.query:
        value = request.param(key) or ""
        if key.startswith("owner_"):
            try:
                entity[key] = json.loads(value)
            except json.JSONDecodeError:
                raise _refuse("platform.invalid_json", f"{key} is not JSON") from None
        elif key in ("name", "description"):
            entity[key] = value
        else:
            raise _refuse("platform.invalid_parameter", f"unsupported query parameter {key}")
    return entity, request.body


def post_attachment(state: SimState, request: Request) -> Response:
    """Create one attachment (201, a collection with the new entity)."""
    content_type = request.header("content-type")
    kind = content_type.split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        entity, content = _entity_of_multipart(request, content_type)
    elif kind == "application/octet-stream":
        entity, content = _entity_of_octet_stream(request)
    else:
        raise _refuse(
            "platform.unsupported_media_type",
            f"Content-Type {kind or '(none)'!r}: send multipart/form-data (or octet-stream)",
            415,
        )
    unknown = sorted(set(entity) - {"name", "description"} - {k for k in entity if "owner_" in k})
    if unknown:
        raise _refuse("platform.unknown_field", f"unknown attachment field(s) {unknown}")
    owner = _owner(state, entity)
    name = _check_name(entity.get("name"))
    _check_content(name, content)
    description = entity.get("description")
    created = state.add_entity(
        "attachment",
        {
            "name": name,
            "description": description if isinstance(description, str) else None,
            "size": len(content),
            "owner_run": owner,
        },
    )
    created.extra["content"] = bytes(content)
    data = {"type": "attachment", "id": str(created.id), "name": name}
    return json_response(201, {"total_count": 1, "data": [data]})
