"""``redact``: secrets hidden in plain and escaped forms (issue 17 point 9)."""

from __future__ import annotations

import base64
import html
import json
import re
from urllib.parse import quote, quote_plus

import pytest

from pytest_octane.octane.redact import HIDDEN, base64_forms, redact

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


# ---------------------------------------------------------------- base64 (issue 24 point 2)


def _b64_echoes(secret: str) -> list[str]:
    echoes = []
    for before in (b"", b"a", b"ab", b"abc", b"\xff\xfe"):
        for after in (b"", b"z", b"zy", b"\x00"):
            blob = before + secret.encode() + after
            for encode in (base64.b64encode, base64.urlsafe_b64encode):
                text = encode(blob).decode()
                echoes += [text, text.rstrip("=")]
    return echoes


@pytest.mark.parametrize("secret", [SECRET, "abcd", "ünï-c0de~secret", "s" * 100])
def test_base64_echoes_are_hidden_at_every_alignment(secret: str) -> None:
    for echo in _b64_echoes(secret):
        text = redact(f"Authorization: Basic {echo}; again {quote(echo)}", [secret])
        assert HIDDEN in text, echo
        assert echo not in text and quote(echo) not in text
        assert base64.b64encode(secret.encode()).decode().rstrip("=") not in text


def test_base64_forms_are_the_parts_that_do_not_depend_on_neighbours() -> None:
    forms = base64_forms("abcdef")
    assert len(forms) == 6  # three alignments, two alphabets
    assert forms[0] == "YWJjZGVm"  # aligned: the whole encoding, no padding
    assert all("=" not in form for form in forms)


def test_base64_of_other_text_is_left_alone() -> None:
    text = "token " + base64.b64encode(b"nothing secret in here at all").decode()
    assert redact(text, [SECRET, "abcd"]) == text
