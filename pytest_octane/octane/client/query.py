"""Octane's query language: quoting a string literal the way the CI SDK does."""

from __future__ import annotations

from pytest_octane.errors import (
    ConfigError,
)

#: characters the CI SDK's QueryHelper backslash-escapes inside a quoted value (API-FACTS 1d)
_QUERY_ESCAPES = str.maketrans({c: "\\" + c for c in "\\'\"()"})


def quote_query_value(value: str) -> str:
    """Quote a string literal for an Octane query as the CI SDK does: ``'v'``.

    ``\\``, ``'``, ``"``, ``(`` and ``)`` get a backslash (``QueryHelper``), so every value
    can be queried. Note that ``*`` in a value acts as a wildcard for ``EQ``.
    """
    if not isinstance(value, str):
        raise ConfigError(f"query value {value!r} must be a string")
    return "'" + value.translate(_QUERY_ESCAPES) + "'"
