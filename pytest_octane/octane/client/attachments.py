"""Attachments of runs: Octane's name and extension rules, and the one-file multipart POST.

API-FACTS 1e: one ``POST .../attachments`` creates one attachment; the form the Java REST SDK
sends (VERIFIED) is multipart with an ``entity`` part (one bare JSON object: ``name``,
``description``, ``owner_run``) and a ``content`` part (the bytes).  ``owner_run`` and the
reference type ``run`` follow the documented ``owner_<entity>`` rule (GUESS: no literal
example).  Octane takes only whitelisted extensions whose content matches, and names that do
not start with ``.`` nor contain ``/ \\ : * ? " < > |`` (VERIFIED).
"""

from __future__ import annotations

import json
import mimetypes
import re
import uuid

from pytest_octane.errors import NotOctaneError
from pytest_octane.octane.client.answers import _as_int
from pytest_octane.octane.client.session import HttpSession

__all__ = ["WHITELIST", "Attachments", "octane_name"]

#: Octane's default ATTACHMENTS_FILE_EXTENSION_WHITE_LIST (VERIFIED admhelp, API-FACTS 1e).
WHITELIST = frozenset(
    "jpg jpeg bmp png doc docx msg pdf xml xls xlsx ppt pptx zip txt wmv mp4 m4p mkv vob log "
    "wrf fbr".split()
)
_UNSAFE = re.compile(r'[/\\:*?"<>|\x00-\x1f]')
_MAX_NAME = 255


def octane_name(name: str) -> tuple[str, bool]:
    """The name Octane will take for a file called ``name``, and whether the file must go
    inside a ``.zip`` of that name first (its extension is not on the default whitelist).

    ``shots/login page.png`` -> ``("shots_login page.png", False)``;
    ``trace.har`` -> ``("trace.har.zip", True)``; ``.env`` -> ``("_.env.zip", True)``.
    """
    safe = _UNSAFE.sub("_", name.strip()).strip() or "attachment"
    if safe.startswith("."):
        safe = "_" + safe
    extension = safe.rpartition(".")[2].lower() if "." in safe else ""
    wrap = extension not in WHITELIST
    if wrap:
        safe += ".zip"
    if len(safe) > _MAX_NAME:  # keep the extension(s) at the end
        stem, dot, ext = safe.partition(".")
        safe = stem[: _MAX_NAME - len(ext) - 1] + dot + ext
        safe = safe[-_MAX_NAME:]
    return safe, wrap


class Attachments:
    """The attachments endpoint of one workspace."""

    def __init__(self, http: HttpSession) -> None:
        self._http = http

    def create_run_attachment(
        self, run_id: int, name: str, content: bytes, *, description: str | None = None
    ) -> int:
        """POST one file onto run ``run_id``; return the new attachment's id.

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
            raise NotOctaneError(
                f"Octane accepted attachment {name!r} but its answer has no id; the server URL "
                "may not be Octane's root",
                status=201,
                url=f"{self._http.base_url}/attachments",
            )
        return new_id
