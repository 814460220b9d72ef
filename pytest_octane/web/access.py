"""Small access rules of the jobs page: token strength, same-origin checks, safe redirects.

Kept apart from ``webui`` (pages and the server) so each rule is easy to read and test.
"""

from __future__ import annotations

from urllib.parse import quote, unquote, urlsplit

from pytest_octane.errors import ConfigError

__all__ = ["MIN_TOKEN_CHARS", "check_token", "local_path", "same_origin"]

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
