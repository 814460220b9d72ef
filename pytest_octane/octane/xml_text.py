"""Text made fit for Octane's result XML: characters XML 1.0 can carry, long traces cut.

Shared by the plain writer (results_xml.py) and the Gherkin writer (gherkin_xml.py).
"""

from __future__ import annotations

import math
import re

#: The XSD's ``xs:long`` range: every duration and start time Octane's XML can carry.
LONG_MAX = 2**63 - 1
_QUOTE_LIMIT = 40

_INVALID_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean(text: str) -> str:
    """Replace characters XML 1.0 cannot carry (NUL, control characters, lone surrogates)."""
    return _INVALID_XML.sub("\ufffd", text)


def clean_limited(text: str, limit: int = 255) -> str:
    return clean(text)[:limit]


def cut_trace(trace: str, limit: int) -> str:
    """Keep the head and tail of a long trace with a visible marker between them."""
    if len(trace) <= limit:
        return trace
    head = limit * 2 // 3
    tail = limit - head
    dropped = len(trace) - head - tail
    return (
        f"{trace[:head]}\n\n[... pytest-octane cut {dropped} of {len(trace)} characters "
        f"(--octane-max-trace={limit}) ...]\n\n{trace[-tail:]}"
    )


def fit_long(value: int) -> int:
    """``value`` inside ``0 ..`` :data:`LONG_MAX` (the writer's promise: every duration and
    start time is a whole, non-negative ``xs:long``, whatever a report or reader gave)."""
    return min(max(0, value), LONG_MAX)


def ms_of_seconds(seconds: float) -> int | None:
    """Whole milliseconds of ``seconds``, or None when that is not a possible duration or
    time (infinite, NaN, negative, or beyond ``xs:long``)."""
    if not math.isfinite(seconds) or not 0 <= seconds <= LONG_MAX // 1000:
        return None
    return min(round(seconds * 1000), LONG_MAX)


def parser_reason(message: str) -> str:
    """A parser's message as one line: libxml2 quotes the start of unfinished CDATA or a
    comment on the following lines; that quote is joined and cut."""
    message = re.sub(r"(, line \d+)+(, column \d+)?$", "", message.strip())
    first, _, rest = message.partition("\n")
    first = first.strip()
    quoted = " ".join(rest.split())
    if not quoted:
        return first
    cut = quoted[:_QUOTE_LIMIT] + ("…" if len(quoted) > _QUOTE_LIMIT else "")
    return f"{first} (at {cut!r})"
