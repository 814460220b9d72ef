"""Octane addresses as users paste them: parse_octane_url and the UI's ``?p=`` ids."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from pytest_octane.errors import EXPECTED_URL, ConfigError
from pytest_octane.octane.redact import HIDDEN as _HIDDEN

__all__ = ["EXPECTED_URL", "parse_octane_url", "redact_userinfo"]


_PATH_RE = re.compile(
    r"(?P<prefix>(?:/[^/]+)*?)(?:/api)?/shared_spaces/(?P<space>[^/]+)"
    r"(?:/workspaces/(?P<workspace>[^/]+))?"
)


_UI_RE = re.compile(r"(?P<prefix>(?:/[^/]+)*?)/ui")


_USERINFO_PATTERN = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/@\s]+@")


def parse_octane_url(url: str) -> tuple[str, int | None, int | None]:
    """Split any Octane address users paste into (server root, space id, workspace id).

    Accepts the root (``https://host``), the seed's ``https://host/shared_spaces/1/workspaces/2``,
    the same under ``/api``, and the UI's ``https://host/ui/?p=1/2``; a context path before
    those is kept in the root.
    """
    text = url.strip() if isinstance(url, str) else ""
    if not text:
        raise ConfigError(f"the Octane server URL is empty; {EXPECTED_URL}")
    shown = redact_userinfo(text)
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(
            f"Octane URL {shown!r} is not a valid URL ({exc}); {EXPECTED_URL}"
        ) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"Octane URL {shown!r} does not start with http:// or https:// and a host name; "
            f"{EXPECTED_URL}"
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
                f"Octane URL {shown!r} has an unexpected query {parts.query!r}; {EXPECTED_URL}"
            )
    elif match := _PATH_RE.fullmatch(path):
        prefix, space, workspace = match["prefix"], match["space"], match["workspace"]
    elif match := _UI_RE.fullmatch(path):
        prefix = match["prefix"]
        space, workspace = _ui_ids(parts.query, parts.fragment, shown)
    else:
        raise ConfigError(f"Octane URL {shown!r} has an unexpected path {path!r}; {EXPECTED_URL}")
    server = f"{scheme}://{netloc}{prefix}"
    return server, _url_id(space, "shared space", shown), _url_id(workspace, "workspace", shown)


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


def redact_userinfo(text: str) -> str:
    return _USERINFO_PATTERN.sub(lambda m: f"{m[1]}{_HIDDEN}@", text)
