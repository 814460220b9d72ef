"""Octane addresses as users paste them: see ``settings/octane_url.py`` (settings parse them
too, in the pytest process, which must not import this package's HTTP library)."""

from __future__ import annotations

from pytest_octane.settings.octane_url import _EXPECTED_URL, _redact_userinfo, parse_octane_url

__all__ = ["_EXPECTED_URL", "_redact_userinfo", "parse_octane_url"]
