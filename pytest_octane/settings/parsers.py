"""Value parsers: raw text or JSON value in, typed value out, errors that name the source."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from pytest_octane.errors import ConfigError

__all__ = [
    "CAPTURE_MODES",
    "DEFAULT_TEST_FIELDS",
    "JIRA_KEY_RE",
    "MAX_SLICE_SIZE",
    "MAX_WRITE_BATCH",
    "TEST_FIELD_TYPES",
    "CaptureMode",
    "ModuleMode",
    "Parser",
    "float_in",
    "int_in",
    "parse_bool",
    "parse_capture",
    "parse_jira_key",
    "parse_module_mode",
    "parse_octane_root",
    "parse_pair",
    "parse_pattern",
    "parse_release",
    "parse_report_url",
    "parse_str",
    "parse_suite_path",
    "parse_url",
    "parse_verify",
]

ModuleMode = Literal["off", "module", "package"]
#: What of pytest's captured output goes with a run (pytest's ``junit_logging`` words).
CaptureMode = Literal["no", "log", "system-out", "system-err", "out-err", "all"]
CAPTURE_MODES: tuple[CaptureMode, ...] = ("no", "log", "system-out", "system-err", "out-err", "all")

#: Octane allows at most this many test runs in one test-results call (the seed's limit).
MAX_SLICE_SIZE = 1000
#: Entities per POST/PUT, as the CI SDK (MAX_UPDATE_LIMIT, API-FACTS 1d)
MAX_WRITE_BATCH = 200
TEST_FIELD_TYPES = ("Test_Level", "Test_Type", "Testing_Tool_Type", "Framework")
#: Test fields every upload carries unless the user sets that type (the seed sets its tool).
DEFAULT_TEST_FIELDS = (("Testing_Tool_Type", "pytest"), ("Framework", "pytest"))
JIRA_KEY_RE = re.compile(r"[A-Z][A-Z0-9_]*-[0-9]+")

Parser = Callable[[Any, str], Any]
_Word = TypeVar("_Word", bound=str)


# Each parser takes the raw value (a string from the CLI/env/ini, or a JSON value from the
# spaces file) and ``where`` (e.g. "option --octane-space") and returns the typed value.


def _as_text(raw: Any, where: str) -> str:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise ConfigError(f"{where}: expected text, got {type(raw).__name__} {raw!r}")
    return str(raw).strip()


def parse_str(raw: Any, where: str) -> str | None:
    text = _as_text(raw, where)
    return text or None


def int_in(low: int, high: int | None = None) -> Parser:
    def parse(raw: Any, where: str) -> int:
        allowed = f"from {low} to {high}" if high is not None else f"{low} or more"
        if isinstance(raw, bool):
            raise ConfigError(f"{where}: expected a whole number, got {raw!r}; allowed: {allowed}")
        try:
            value = int(raw) if isinstance(raw, int) else int(_as_text(raw, where))
        except ValueError:
            raise ConfigError(
                f"{where}: {raw!r} is not a whole number; allowed: {allowed}"
            ) from None
        if value < low or (high is not None and value > high):
            raise ConfigError(f"{where}: {value} is out of range; allowed: {allowed}")
        return value

    return parse


def float_in(low: float) -> Parser:
    def parse(raw: Any, where: str) -> float:
        if isinstance(raw, bool):
            raise ConfigError(f"{where}: expected a number of seconds, got {raw!r}")
        try:
            value = float(raw) if isinstance(raw, int | float) else float(_as_text(raw, where))
        except ValueError:
            raise ConfigError(f"{where}: {raw!r} is not a number") from None
        if value < low:
            raise ConfigError(f"{where}: {value} is too small; allowed: {low} or more")
        return value

    return parse


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_bool(raw: Any, where: str) -> bool:
    if isinstance(raw, bool):
        return raw
    text = _as_text(raw, where).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{where}: {raw!r} is not a boolean; use true or false")


def parse_verify(raw: Any, where: str) -> bool | str:
    """``verifySSL``: true/false, or the path of a CA bundle."""
    if isinstance(raw, bool):
        return raw
    text = _as_text(raw, where)
    if text.lower() in _TRUE | _FALSE:
        return text.lower() in _TRUE
    if not Path(text).is_file():
        raise ConfigError(
            f"{where}: {text!r} is neither true/false nor an existing CA bundle file; "
            "give the path of a PEM file with your CA certificates"
        )
    return text


def _one_of(words: tuple[_Word, ...], raw: Any, where: str, advice: str) -> _Word:
    text = _as_text(raw, where).lower()
    for word in words:
        if text == word:
            return word
    raise ConfigError(f"{where}: {raw!r} is not allowed; {advice}")


def parse_module_mode(raw: Any, where: str) -> ModuleMode:
    return _one_of(("off", "module", "package"), raw, where, "use off, module or package")


def parse_release(raw: Any, where: str) -> int | str | None:
    """A release id, a release name, or ``_default_`` (Octane's default release)."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return int_in(1)(raw, where)  # type: ignore[no-any-return]
    text = _as_text(raw, where)
    if not text:
        return None
    if text.isdigit():
        return int(text)
    if len(text) > 255:
        raise ConfigError(f"{where}: a release name may have at most 255 characters")
    return text


def parse_pair(allowed_types: Sequence[str] | None) -> Parser:
    """``TYPE:VALUE`` (test fields and environment taxonomies)."""

    def parse(raw: Any, where: str) -> tuple[str, str]:
        text = _as_text(raw, where)
        kind, sep, value = text.partition(":")
        kind, value = kind.strip(), value.strip()
        if not sep or not kind or not value:
            raise ConfigError(f"{where}: {text!r} is not of the form TYPE:VALUE")
        if allowed_types is not None and kind not in allowed_types:
            raise ConfigError(
                f"{where}: test field type {kind!r} is not one of {', '.join(allowed_types)}"
            )
        if len(value) > 255 or len(kind) > 255:
            raise ConfigError.too_long(where, text)
        return (kind, value)

    return parse


def parse_jira_key(raw: Any, where: str) -> str:
    text = _as_text(raw, where)
    if not JIRA_KEY_RE.fullmatch(text):
        raise ConfigError(f"{where}: {text!r} is not a JIRA key like ABC-123")
    return text


def parse_pattern(raw: Any, where: str) -> str:
    """A regular expression (checked now, so a typo fails before the tests run)."""
    text = _as_text(raw, where)
    try:
        re.compile(text)
    except re.error as exc:
        raise ConfigError(
            f"{where}: {text!r} is not a valid regular expression ({exc}); "
            "give a pattern such as [A-Z][A-Z0-9_]*-[0-9]+"
        ) from None
    return text


def parse_suite_path(raw: Any, where: str) -> str | None:
    """``Team/Area/Nightly``: application modules, then the test suite's name."""
    text = _as_text(raw, where)
    if not text:
        return None
    parts = [part.strip() for part in text.split("/")]
    if any(not part for part in parts):
        raise ConfigError(
            f"{where}: {text!r} has an empty part; give a suite path such as Team/Area/Nightly"
        )
    for part in parts:
        if len(part) > 255:
            raise ConfigError.too_long(where, part[:40] + "...")
    return "/".join(parts)


def parse_url(raw: Any, where: str) -> str:
    """A proxy's or a build page's address: any http(s) URL with a host."""
    return _http_url(raw, where, "give the whole URL with its scheme, such as https://host/path")


def parse_octane_root(raw: Any, where: str) -> str:
    """The Octane server's address (its root, or the seed's workspace URL)."""
    return _http_url(raw, where, "give the Octane server root such as https://octane.example.com")


def _http_url(raw: Any, where: str, advice: str) -> str:
    text = _as_text(raw, where)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{where}: {text!r} is not an http(s) URL; {advice}")
    return text


def parse_capture(raw: Any, where: str) -> CaptureMode:
    """``--octane-capture``: which of pytest's captured sections follow a failed run's trace."""
    advice = f"use one of {', '.join(CAPTURE_MODES)} (pytest's junit_logging words)"
    return _one_of(CAPTURE_MODES, raw, where, advice)


def parse_report_url(raw: Any, where: str) -> str | None:
    """``--octane-report-url``: an http(s) URL template with {build_url}, {nodeid}, {name}."""
    text = _as_text(raw, where)
    if not text:
        return None
    try:
        sample = text.format(build_url="https://ci.example/1", nodeid="t.py::t", name="t")
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"{where}: {text!r} is not a valid template ({type(exc).__name__}: {exc}); "
            "the placeholders are {build_url}, {nodeid} and {name}"
        ) from None
    if not sample.lower().startswith(("http://", "https://")):
        raise ConfigError(
            f"{where}: {text!r} does not start with http:// or https:// (or {{build_url}}); "
            "Octane links runs to web pages only"
        )
    return text
