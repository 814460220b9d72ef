"""Bound a whole HTTP request in time, and read its answer's body within a size cap.

``requests`` bounds each socket read (the read timeout), not the whole answer: a server that
sends its headers and then one byte every half second never trips it. And ``.content`` keeps
whatever arrives, so a 50 MB answer costs 50 MB of memory (more once parsed). Reading the
streamed body here, chunk by chunk, enforces both: past the deadline the request fails as a
transient network failure; past the cap reading stops and the caller says so.

The same trick works on the status line and headers, which ``requests`` reads before it
returns: a server can trickle those too. :func:`whole_request_deadline` bounds that part: the
connections of :class:`BoundedAdapter` tell it their socket, and at the deadline a timer shuts
that socket down, so the blocked read ends at once.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

__all__ = [
    "ERROR_BODY_LIMIT",
    "JSON_BODY_LIMIT",
    "AnswerTooSlow",
    "Body",
    "BoundedAdapter",
    "read_body",
    "size_text",
    "whole_request_deadline",
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


# ---------------------------------------------------------------- the whole request


class _Watch:
    """One request's deadline: the socket it uses, and whether the deadline has passed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self.fired = False

    def attach(self, sock: socket.socket | None) -> None:
        with self._lock:
            self._sock = sock
            if self.fired:
                _shut(sock)

    def fire(self) -> None:
        with self._lock:
            self.fired = True
            _shut(self._sock)


def _shut(sock: socket.socket | None) -> None:
    """End every blocked read and write on ``sock`` (the plain socket call: an SSL socket's
    own ``shutdown`` would drop its TLS state under a reading thread)."""
    if sock is None:
        return
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass  # already closed: nothing blocks on it


_current = threading.local()


@contextmanager
def whole_request_deadline(seconds: float) -> Iterator[_Watch]:
    """Within this block, a request this thread sends through :class:`BoundedAdapter` has
    its socket shut down ``seconds`` after the block began; ``fired`` then says so."""
    watch = _Watch()
    _current.watch = watch
    timer = threading.Timer(max(seconds, 0.0), watch.fire)
    timer.daemon = True
    timer.start()
    try:
        yield watch
    finally:
        timer.cancel()
        _current.watch = None


def _attach(conn: HTTPConnection) -> None:
    watch: _Watch | None = getattr(_current, "watch", None)
    if watch is not None:
        watch.attach(conn.sock)


class _Tell:
    """Mixin for urllib3's connections: tell this thread's watch which socket is in use."""

    sock: socket.socket | None

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        _attach(self)  # type: ignore[arg-type]

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None:  # a kept-alive connection: no connect() this time
            _attach(self)  # type: ignore[arg-type]
        super().request(*args, **kwargs)  # type: ignore[misc]


class _HTTPConnection(_Tell, HTTPConnection):
    pass


class _HTTPSConnection(_Tell, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class BoundedAdapter(HTTPAdapter):
    """``requests``' adapter whose connections :func:`whole_request_deadline` can cut."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = _POOLS
        return manager
