"""Octane addresses as users paste them: see ``settings/octane_url.py`` (settings parse them
too, in the pytest process, which must not import this package's HTTP library)."""

from __future__ import annotations

from pytest_octane.settings.octane_url import EXPECTED_URL, parse_octane_url, redact_userinfo

__all__ = ["EXPECTED_URL", "parse_octane_url", "redact_userinfo"]
