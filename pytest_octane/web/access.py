"""Access rules of the jobs page: loopback names, token strength and cookies, same-origin
checks, safe redirects.

Kept apart from the pages, the handler and the server so each rule is easy to read and test.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from urllib.parse import quote, unquote, urlsplit

from pytest_octane.errors import ConfigError

__all__ = [
    "MIN_TOKEN_CHARS",
    "check_token",
    "cookie_value",
    "cookies",
    "is_loopback",
    "local_path",
    "same",
    "same_origin",
]

#: A token is the only thing between the network and the re-upload button.
MIN_TOKEN_CHARS = 16
_MAKE_ONE = "python -c 'import secrets; print(secrets.token_urlsafe(24))'"


def check_token(token: str, source: str) -> str:
    """``token`` when it is long enough to resist guessing; else a ConfigError naming
    ``source`` (the option or variable) and its length, never the token itself."""
    if not token.strip():
        raise ConfigError(
            f"{source} is empty: give a long random secret, or leave it out on 127.0.0.1"
        )
    if len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(
            f"{source} has {len(token)} character(s); use at least {MIN_TOKEN_CHARS} random "
            f"ones, e.g. from: {_MAKE_ONE}"
        )
    return token


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80)


def same_origin(url: str, host_header: str) -> bool:
    """Whether ``url`` (an Origin or Referer) is this plain-HTTP server as the browser
    addressed it (``Host``): scheme, host and port all equal; ``null`` never is."""
    ours = _origin(f"http://{host_header}")
    return ours is not None and _origin(url) == ours


def local_path(path: str) -> str:
    """A redirect target that stays on this server: one leading slash and every segment
    percent-encoded, so ``/\\evil.example/`` or ``//evil.example`` cannot name another host."""
    segments = path.split("/")
    while segments and not segments[0]:
        segments.pop(0)
    return "/" + "/".join(quote(unquote(segment), safe="") for segment in segments)


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address literal; any other name needs a token."""
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def cookie_value(token: str) -> str:
    """What the cookie holds: a digest of the token, so the token itself is never stored."""
    return hashlib.sha256(b"pytest-octane serve\0" + token.encode("utf-8")).hexdigest()


def same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def cookies(header: str | None) -> dict[str, str]:
    """Cookie header parsed leniently (``http.cookies`` drops every cookie after a bad one)."""
    found: dict[str, str] = {}
    for part in (header or "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name:
            found.setdefault(name, value.strip().strip('"'))
    return found
