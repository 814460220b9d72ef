"""Hide known secret values in text, also when a server echoes them escaped.

A server (or a proxy's error page) may echo what we sent: the client secret in a sign-in
body, a session cookie in a header dump. Echoes come HTML-escaped (``&amp;``, ``&#x73;``),
URL-encoded (``%2B``, ``+``) or JSON-escaped (``\\u0041``, ``\\/``), so a plain search misses
them. Each decoding (and chain of decodings) is tried on the whole text; when one reveals a
secret, the decoded text is what we keep (with the secret hidden), so any mix of escaped and
plain characters is found.

Base64 (standard and URL-safe, with or without padding, alone or inside a longer encoded
blob such as a Basic ``Authorization`` header) cannot be decoded blindly, so the encoded
forms of each secret are searched for instead: for each of the three alignments a secret can
have in a blob, the characters that depend only on the secret's bytes.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable, Iterable
from urllib.parse import unquote, unquote_plus

__all__ = ["HIDDEN", "MIN_SECRET_LENGTH", "base64_forms", "redact"]

HIDDEN = "<hidden>"
#: Shorter values would hide ordinary words; real secrets and cookies are far longer.
MIN_SECRET_LENGTH = 4
#: Escapes nested this deep (JSON inside HTML inside a URL) are looked through...
_DEPTH = 3
#: ...and this many differently escaped echoes in one text are each found.
_ROUNDS = 8
_JSON_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|[\"\\/bfnrt])")
_JSON_SIMPLE = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}


def _json_unescape(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        code = match[1]
        return chr(int(code[1:], 16)) if code[0] == "u" else _JSON_SIMPLE[code]

    decoded = _JSON_ESCAPE.sub(one, text)
    # \ud83d\ude00 decodes to two halves of a pair: join them; lone halves become U+FFFD
    return decoded.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


_DECODERS: tuple[Callable[[str], str], ...] = (html.unescape, unquote, unquote_plus, _json_unescape)


def _hide(text: str, values: list[str]) -> str:
    for value in values:
        text = text.replace(value, HIDDEN)
    return text


def _revealing(text: str, values: list[str]) -> str | None:
    """The first decoding (or chain of up to ``_DEPTH`` decodings) of ``text`` that shows a
    secret, or None."""
    frontier = [text]
    seen = {text}
    for _ in range(_DEPTH):
        found: list[str] = []
        for current in frontier:
            for decode in _DECODERS:
                decoded = decode(current)
                if decoded in seen:
                    continue
                if any(value in decoded for value in values):
                    return decoded
                seen.add(decoded)
                found.append(decoded)
        frontier = found
    return None


def base64_forms(secret: str) -> list[str]:
    """The base64 text of ``secret``'s UTF-8 bytes that stays the same wherever the secret
    sits in an encoded blob: one core per alignment (0, 1 or 2 bytes before it, mod 3), in
    the standard and the URL-safe alphabet. The characters mixing in a neighbour's bits are
    left out, so padding and what comes before or after do not matter."""
    data = secret.encode("utf-8", "surrogatepass")
    forms: list[str] = []
    for before in range(3):
        encoded = base64.b64encode(b"\0" * before + data).decode("ascii")
        start = -(-8 * before // 6)  # the first character without a bit of the prefix
        end = 8 * (before + len(data)) // 6  # characters made of the secret's bits only
        core = encoded[start:end]
        forms += [core, core.replace("+", "-").replace("/", "_")]
    return forms


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret (at least 4 characters) hidden: plain, escaped, or
    base64-encoded (alone or inside a longer encoded text)."""
    plain = {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}
    encoded = {form for s in plain for form in base64_forms(s)}
    values = sorted(plain | encoded, key=len, reverse=True)
    if not values:
        return text
    text = _hide(text, values)
    for _ in range(_ROUNDS):
        decoded = _revealing(text, values)
        if decoded is None:
            break
        text = _hide(decoded, values)
    return text
