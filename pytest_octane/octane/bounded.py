"""Read an HTTP answer's body within a total deadline and a size cap.

``requests`` bounds each socket read (the read timeout), not the whole answer: a server that
sends its headers and then one byte every half second never trips it. And ``.content`` keeps
whatever arrives, so a 50 MB answer costs 50 MB of memory (more once parsed). Reading the
streamed body here, chunk by chunk, enforces both: past the deadline the request fails as a
transient network failure; past the cap reading stops and the caller says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import requests
import urllib3

__all__ = [
    "ERROR_BODY_LIMIT",
    "JSON_BODY_LIMIT",
    "AnswerTooSlow",
    "Body",
    "read_body",
    "size_text",
]

#: Octane's largest JSON answers are pages of up to 2000 entities: a few MB at most.
JSON_BODY_LIMIT = 8 * 1024 * 1024
#: An error answer is one small JSON object or a proxy's HTML page; we keep 500 characters.
ERROR_BODY_LIMIT = 64 * 1024
_CHUNK = 64 * 1024


class AnswerTooSlow(requests.exceptions.ReadTimeout):
    """The whole answer did not arrive within the request's deadline."""

    def __init__(self, deadline_s: float) -> None:
        super().__init__(f"the answer did not finish within {deadline_s:g} s")
        self.deadline_s = deadline_s


@dataclass(frozen=True, slots=True)
class Body:
    data: bytes
    #: True when the answer was longer than the cap and reading stopped there
    cut: bool


def size_text(limit: int) -> str:
    """1048576 -> '1 MiB', 65536 -> '64 KiB'."""
    if limit % (1024 * 1024) == 0:
        return f"{limit // (1024 * 1024)} MiB"
    return f"{limit // 1024} KiB"


def read_body(
    response: requests.Response,
    *,
    deadline: float,
    deadline_s: float,
    limit: int,
    clock: Callable[[], float] = time.monotonic,
) -> Body:
    """Read a ``stream=True`` response's (decoded) body, at most ``limit`` bytes.

    ``deadline`` is a ``clock`` value; each read blocks for at most the read timeout, so the
    request ends at most one read timeout after it. Errors come as ``requests`` exceptions,
    as they would from ``.content``. The connection is released (or closed if unread data
    remains) before returning.
    """
    raw = response.raw
    parts: list[bytes] = []
    size = 0
    cut = False
    read1 = getattr(raw, "read1", None)  # urllib3 >= 2: returns what one socket read gave
    complete = False
    try:
        while True:
            if clock() > deadline:
                raise AnswerTooSlow(deadline_s)
            want = min(_CHUNK, limit + 1 - size)
            chunk = (
                read1(want, decode_content=True) if read1 else raw.read(want, decode_content=True)
            )
            if not chunk:
                complete = True
                break
            parts.append(chunk)
            size += len(chunk)
            if size > limit:
                cut = True
                break
    except urllib3.exceptions.ReadTimeoutError as exc:
        raise requests.exceptions.ReadTimeout(exc) from None
    except urllib3.exceptions.DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(exc) from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise requests.exceptions.ConnectionError(exc) from None
    finally:
        if complete:
            raw.release_conn()  # fully read: the connection goes back to the pool
        else:
            response.close()  # unread bytes remain: this connection cannot be reused
    data = b"".join(parts)
    return Body(data[:limit] if cut else data, cut)
