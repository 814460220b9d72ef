"""Text made fit for Octane's result XML: characters XML 1.0 can carry, long traces cut.

Shared by the plain writer (results_xml.py) and the Gherkin writer (gherkin_xml.py).
"""

from __future__ import annotations

import re

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
