"""What an upload is doing right now, and how the terminal shows it.

On a TTY one line is rewritten in place; without one (CI logs) only events that matter
are printed, one line each: a slice finished, Octane's queue was full, a request is retried.
``-q`` prints nothing until the summary; ``-v`` also prints each slice as it is sent.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from pytest_octane.job.events import UploadState

__all__ = ["TerminalProgress"]


class TerminalProgress:
    """Renders an ``UploadState`` on pytest's terminal according to TTY and verbosity."""

    def __init__(
        self,
        *,
        write_line: Callable[[str], None],
        rewrite: Callable[[str], None] | None,
        verbosity: int,
        flush: Callable[[], None] = lambda: None,
    ) -> None:
        self._write_line = write_line
        self._flush = flush  # a CI log shows each line as it happens, not at exit
        self._rewrite = rewrite  # None when the terminal is not a TTY
        self._verbosity = verbosity
        self._lock = threading.Lock()
        self._dirty = False

    def __call__(self, state: UploadState, event: str, notable: bool) -> None:
        if self._verbosity < 0:
            return
        with self._lock:
            if self._rewrite is not None:
                if event and (notable and self._verbosity > 0):
                    self._rewrite("")
                    self._write_line(f"octane: {event}")
                self._rewrite(state.line())
                self._dirty = True
            elif event and (notable or self._verbosity > 0):
                # the count belongs to slice events; a retry line says its own attempt
                count = f" ({state.done + state.failed}/{state.total})"
                self._write_line(f"octane: {event}" + (count if event.startswith("slice") else ""))
                self._flush()

    def text(self, line: str) -> None:
        """A free-form line from the uploader (mapping, suites, coverage)."""
        if self._verbosity < 0:
            return
        with self._lock:
            if self._rewrite is not None and self._dirty:
                self._rewrite("")
            self._write_line(f"octane: {line}")
            self._flush()

    def close(self) -> None:
        with self._lock:
            if self._rewrite is not None and self._dirty:
                self._rewrite("")
                self._dirty = False
