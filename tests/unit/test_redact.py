"""``redact``: secrets hidden in plain and escaped forms (issue 17 point 9)."""

from __future__ import annotations

import html
import json
import re
from urllib.parse import quote, quote_plus

import pytest

from pytest_octane.octane.redact import HIDDEN, redact

SECRET = "s3cr+t/Value&'\"-9"


@pytest.mark.parametrize(
    "echo",
    [
        SECRET,
        html.escape(SECRET),
        "".join(f"&#{ord(c)};" for c in SECRET),
        "".join(f"&#X{ord(c):X};" for c in SECRET),
        quote(SECRET, safe=""),
        re.sub("%[0-9A-F]{2}", lambda m: m[0].lower(), quote(SECRET, safe="")),
        quote_plus(SECRET),
        json.dumps(SECRET)[1:-1],
        json.dumps(SECRET).replace("/", "\\/")[1:-1],
        "".join(f"\\u{ord(c):04x}" for c in SECRET),
        html.escape(json.dumps(SECRET)),
        quote(json.dumps(SECRET), safe=""),
    ],
    ids=lambda e: e[:24],
)
def test_escaped_echoes_are_hidden(echo: str) -> None:
    text = redact(f"error: you sent {echo} to us", [SECRET])
    assert HIDDEN in text
    for form in (SECRET, echo):
        assert form not in text


def test_text_without_a_secret_is_left_as_it_was() -> None:
    text = "a &amp; b %41 \\u0041 ünïcode"
    assert redact(text, [SECRET, "abc"]) == text  # "abc" is too short to hide


def test_a_decoding_that_reveals_nothing_is_not_applied() -> None:
    text = f"100%25 sure &lt;b&gt; {SECRET}"
    assert redact(text, [SECRET]) == f"100%25 sure &lt;b&gt; {HIDDEN}"
