"""Ctrl-C during an upload: the first stops sending, the second exits at once.

Python's default turns Ctrl-C into ``KeyboardInterrupt`` wherever the main thread is, which
during an upload means half-done bookkeeping, worker threads that keep going while the
interpreter waits for them, and a long traceback. Instead, while a job runs:

* the first Ctrl-C only sets a flag. No new slice is sent, waits (polls, retry backoff)
  end at once, requests in flight finish (each is bounded by its deadline) and record
  their task ids, and the summary prints the command that finishes the job;
* a second Ctrl-C ends the process at once (exit 130) with one line. The stores write
  atomically (a file rename, a transaction), so every slice is left Success, Failed, or
  Running with or without a task id — all of which ``resume``/``retry`` finish.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

from pytest_octane.errors import UploadInterrupted

if TYPE_CHECKING:
    from concurrent.futures import Future

__all__ = [
    "EXIT_INTERRUPTED",
    "SPOOL_STOPPED",
    "StopFlag",
    "ctrl_c",
    "exit_on_ctrl_c",
    "wait_all",
    "while_spooling",
]

#: 128 + SIGINT, what shells report for a process ended by Ctrl-C
EXIT_INTERRUPTED = 130
#: how often the main thread looks at the flag while workers run
_TICK_S = 0.2
#: the outcome's error after a Ctrl-C while the slices were spooled
SPOOL_STOPPED = "interrupted (Ctrl-C) while spooling: every slice is spooled, none was sent"
#: a second Ctrl-C while the slices are spooled: the job is not recorded yet
_SPOOL_EXIT_LINE = (
    "pytest-octane: Ctrl-C again: stopped at once while spooling; nothing was recorded or "
    "sent (the test results are in pytest's own output only)"
)
_T = TypeVar("_T")


class StopFlag:
    """Set by the first Ctrl-C; every wait of the job checks it."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    @property
    def is_set(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise UploadInterrupted("interrupted (Ctrl-C) before this step")

    def sleeper(self, sleep: Callable[[float], None]) -> Callable[[float], None]:
        """``sleep`` that ends early (raising :class:`UploadInterrupted`) once the flag is set;
        an injected test sleep is kept and only checked around."""

        def wait(seconds: float) -> None:
            self.check()
            if sleep is time.sleep:
                if self._event.wait(seconds):
                    self.check()
                return
            sleep(seconds)
            self.check()

        return wait


@contextmanager
def ctrl_c(stop: StopFlag, exit_line: Callable[[], str]) -> Iterator[None]:
    """Within this block Ctrl-C sets ``stop``; a second one prints ``exit_line()`` and exits.

    Only the main thread can own signal handlers; elsewhere this does nothing.
    """

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        if not stop.is_set:
            stop.set()  # the main thread's wait loop says so: no printing in a handler
            return
        # os.write, not print: the interrupted code may be inside a write to stderr
        os.write(2, (exit_line() + "\n").encode("utf-8", "replace"))
        os._exit(EXIT_INTERRUPTED)

    with _on_sigint(on_sigint):
        yield


@contextmanager
def exit_on_ctrl_c(exit_line: Callable[[], str]) -> Iterator[None]:
    """Within this block a Ctrl-C prints ``exit_line()`` and ends the process with exit 130,
    as a ``SystemExit`` (output already written is flushed), never a traceback. For the end
    of a session, where a second Ctrl-C would land in code that cannot handle it.

    Only the main thread can own signal handlers; elsewhere this does nothing.
    """

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        os.write(2, (exit_line() + "\n").encode("utf-8", "replace"))
        raise SystemExit(EXIT_INTERRUPTED)

    with _on_sigint(on_sigint):
        yield


@contextmanager
def _on_sigint(handler: Callable[[int, FrameType | None], None]) -> Iterator[None]:
    """``handler`` takes SIGINT within the block (in the main thread; elsewhere nothing)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def wait_all(futures: Iterable[Future[Any]], stop: StopFlag, on_stop: Callable[[], None]) -> None:
    """Wait for ``futures`` (re-raising their errors); once ``stop`` is set, cancel the ones
    not started and call ``on_stop`` once."""
    from concurrent.futures import wait  # only the uploader waits: pytest's process skips it

    pending = set(futures)
    stopping = False
    while pending:
        done, pending = wait(pending, timeout=_TICK_S)
        for future in done:
            if not future.cancelled():
                future.result()
        if stop.is_set and not stopping:
            stopping = True
            for future in pending:
                future.cancel()
            on_stop()


def while_spooling(spool: Callable[[], _T]) -> tuple[_T, UploadInterrupted | None]:
    """Run ``spool`` (local files and the job's record: bounded) with a first Ctrl-C held
    back until it ends; return its result and, if Ctrl-C was pressed, the outcome's error
    (then send nothing: the job is recorded, ``resume`` sends it). A second one exits at
    once."""
    stop = StopFlag()
    with ctrl_c(stop, lambda: _SPOOL_EXIT_LINE):
        result = spool()
    return result, UploadInterrupted(SPOOL_STOPPED) if stop.is_set else None
