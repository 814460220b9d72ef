"""Checks of the client's configuration values (ids, client type, timeouts, TLS, collections)."""

from __future__ import annotations

import math
import re
from pathlib import Path

from pytest_octane.errors import (
    ConfigError,
)

_COLLECTION_RE = re.compile(r"[a-z][a-z0-9_]*(?:/[a-z][a-z0-9_]*)*")


_CLIENT_TYPE_RE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


_MODE_RE = re.compile(r"[a-z_]{1,32}")


_RESERVED_CLIENT_TYPE_PREFIXES = ("HPE", "OCTANE")


def _positive_id(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, not {value!r}")
    return value


def _check_client_type(value: str) -> str:
    if not isinstance(value, str) or not _CLIENT_TYPE_RE.fullmatch(value):
        raise ConfigError(
            f"client_type {value!r} must be 1-64 letters, digits, '_', '.' or '-' "
            "(it is sent as the HPECLIENTTYPE header), e.g. PYTEST_OCTANE"
        )
    if value.upper().startswith(_RESERVED_CLIENT_TYPE_PREFIXES):
        raise ConfigError(
            f"client_type {value!r} starts with a prefix Octane reserves for its own clients "
            "(HPE, OCTANE); choose your own name, e.g. PYTEST_OCTANE"
        )
    return value


def _check_timeout(value: tuple[float, float]) -> tuple[float, float]:
    try:
        connect, read = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"timeout {value!r} must be (connect seconds, read seconds)") from None
    for number in (connect, read):
        if not math.isfinite(number) or number <= 0:
            raise ConfigError(f"timeout {value!r} must hold two positive numbers of seconds")
    return connect, read


def _check_verify(value: bool | str) -> bool | str:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip():
        path = Path(value).expanduser()
        if not path.exists():
            raise ConfigError(
                f"the CA bundle {value!r} given in verifySSL (verify_ssl) does not exist; give "
                "the path of a PEM file (or directory) with the CA certificates, or true"
            )
        return str(path)
    raise ConfigError(f"verifySSL must be true, false or a CA bundle path, not {value!r}")


def _check_collection(collection: str) -> str:
    if not isinstance(collection, str) or not _COLLECTION_RE.fullmatch(collection):
        raise ConfigError(
            f"collection {collection!r} is not an Octane collection name such as 'stories' "
            "or 'metadata/fields'"
        )
    return collection
