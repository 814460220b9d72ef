"""What the pytest process and its uploader process say to each other, and the child's start.

The plugin starts ``python -m pytest_octane.uploader`` with ``sys.executable`` in its own
process group, with the child's stdin and stdout as two pipes.  Settings and credentials go
through the pipe, never the command line or the environment (``ps`` shows both): the child's
environment is pytest's minus every ``OCTANE_*`` variable and every variable whose name says
it holds a secret (:func:`child_environment`).

A message is a length-prefixed pickle of ``(kind, fields)``; both ends are the same
installation of pytest-octane on the same interpreter.  Credentials travel as plain fields
(a :class:`Secret` refuses to be pickled, so it cannot end up in a file by accident) and are
wrapped in ``Secret`` again on arrival.  An error travels as its class name, message and
fields (:func:`pytest_octane.errors.rebuild`).

Plugin to uploader: ``start`` (settings, job id, journal, credentials or the error saying
why there are none), ``collected`` (the collected tests, for the look-ahead), ``journaled``
(the journal holds a full slice more: cut it now), ``end`` (the journal's end mark is
written; with pytest's own lines for the summary), ``stop`` (the first Ctrl-C of the upload
phase: send nothing more).
Uploader to plugin: ``ready`` (the job is recorded; where), ``text`` (a progress line),
``state`` (the slice counters and an event), ``warning`` (a Python warning to show in pytest's
summary) and, last, ``outcome`` (what the job came to, worded: ``job/events.py:UploadReport``,
with the pickled ``JobOutcome`` inside) or ``crash`` (why the uploader failed).
"""

from __future__ import annotations

import os
import pickle
import struct
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any

from pytest_octane.job.interrupt import StopFlag
from pytest_octane.octane.credentials import Credentials, Secret
from pytest_octane.reported import SpooledRun

__all__ = [
    "MODULE",
    "Inbox",
    "Sender",
    "child_environment",
    "credentials_fields",
    "credentials_from",
    "receive",
]

#: what the plugin runs with ``python -m``
MODULE = "pytest_octane.uploader"

_HEADER = struct.Struct("!I")

#: words in a variable's name that say it holds a secret: left out of the child's environment
_SECRET_WORDS = ("SECRET", "PASSWORD", "PASSWD", "TOKEN", "API_KEY", "APIKEY", "CREDENTIAL")


class Sender:
    """Writes messages to one pipe, one whole message at a time (the upload's threads share it)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self.broken = False

    def __call__(self, kind: str, **fields: Any) -> bool:
        """Send one message; False once the other end is gone (never raises for that)."""
        data = pickle.dumps((kind, fields), protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            if self.broken:
                return False
            try:
                self._stream.write(_HEADER.pack(len(data)) + data)
                self._stream.flush()
            except (OSError, ValueError):  # BrokenPipeError, or a closed file
                self.broken = True
                return False
        return True

    def close(self) -> None:
        with self._lock:
            self.broken = True
            try:
                self._stream.close()
            except OSError:
                pass


def receive(stream: IO[bytes]) -> tuple[str, dict[str, Any]] | None:
    """The next message, or None when the other end closed the pipe (or died)."""
    try:
        header = _read_exactly(stream, _HEADER.size)
        if header is None:
            return None
        (size,) = _HEADER.unpack(header)
        data = _read_exactly(stream, size)
    except OSError:
        return None
    if data is None:
        return None
    kind, fields = pickle.loads(data)
    return str(kind), dict(fields)


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    chunks: list[bytes] = []
    missing = size
    while missing:
        chunk = stream.read(missing)
        if not chunk:
            return None
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def credentials_fields(credentials: Credentials) -> dict[str, str | None]:
    """Credentials as plain fields for the pipe (the secret revealed: the pipe only)."""
    return {
        "source": credentials.source,
        "client_id": credentials.client_id,
        "client_secret": (
            credentials.client_secret.reveal() if credentials.client_secret else None
        ),
        "user": credentials.user,
        "password": credentials.password.reveal() if credentials.password else None,
    }


def credentials_from(fields: Mapping[str, str | None]) -> Credentials:
    """The inverse of :func:`credentials_fields`, with the secret wrapped again."""
    secret, password = fields.get("client_secret"), fields.get("password")
    return Credentials(
        source=str(fields.get("source") or "the pytest process"),
        client_id=fields.get("client_id"),
        client_secret=Secret(secret) if secret is not None else None,
        user=fields.get("user"),
        password=Secret(password) if password is not None else None,
    )


def is_secret_name(name: str) -> bool:
    upper = name.upper()
    return upper.startswith("OCTANE_") or any(word in upper for word in _SECRET_WORDS)


def child_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The uploader's environment: pytest's, without ``OCTANE_*`` (its settings come through
    the pipe) and without any variable whose name says it holds a secret."""
    return {name: value for name, value in environ.items() if not is_secret_name(name)}


def unbuffered(fd: int, mode: str) -> IO[bytes]:
    """A binary file over ``fd`` (read side unbuffered, so a reader thread sees each message)."""
    return os.fdopen(fd, mode, buffering=0)


class Inbox:
    """What the pytest process said so far (filled by the uploader's pipe reader)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._news = False  # something was said since the last wait
        self.collected: tuple[SpooledRun, ...] | None = None
        #: results journaled so far, as pytest last said (it says so at each full slice)
        self.journaled_runs = 0
        self.ended = False  # the journal's end mark is written
        #: pytest's own lines for the job's summary, said with the end (put before the job's)
        self.warnings: list[str] = []
        self.closed = False  # the pipe closed: pytest is gone
        self.stop = StopFlag()

    def _set(self, change: Callable[[], None]) -> None:
        with self._changed:
            change()
            self._news = True
            self._changed.notify_all()

    def expect(self, tests: Sequence[SpooledRun]) -> None:
        def change() -> None:
            self.collected = tuple(tests)

        self._set(change)

    def journaled(self, runs: int) -> None:
        """pytest journaled ``runs`` results, a full slice more: the follower wakes up."""
        self._set(lambda: setattr(self, "journaled_runs", runs))

    def end(self, warnings: Sequence[str] = ()) -> None:
        def change() -> None:
            self.warnings = [str(line) for line in warnings]
            self.ended = True

        self._set(change)

    def close(self) -> None:
        self._set(lambda: setattr(self, "closed", True))

    def stop_sending(self) -> None:
        self._set(self.stop.set)

    def wait(self, seconds: float) -> None:
        """Until something is said, at most ``seconds``; what was said since the last wait
        (while the follower was busy) ends it at once: no message is missed."""
        with self._changed:
            if not (self.ended or self.closed or self._news):
                self._changed.wait(seconds)
            self._news = False
