"""How a job reports progress: free-form lines and the counters of its slices, for any front
end; and what a finished job came to, as pytest's process shows it (:class:`UploadReport`)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from pytest_octane.records import SliceWait

__all__ = [
    "FINISHING",
    "Progress",
    "UploadListener",
    "UploadReport",
    "UploadState",
    "collect_waits",
]

_collecting = threading.local()


@contextlib.contextmanager
def collect_waits(into: list[SliceWait]) -> Iterator[None]:
    """While inside, queue-full waits of requests made by this thread are added to ``into``
    (the slice being sent records them for its timeline on the jobs page)."""
    previous = getattr(_collecting, "waits", None)
    _collecting.waits = into
    try:
        yield
    finally:
        _collecting.waits = previous


#: Receives free-form progress lines ("mapped 3 of 4 JIRA keys ...").
Progress = Callable[[str], None]

#: said when the tests are over and the uploader still works (a Ctrl-C from now on stops it)
FINISHING = "the tests are done; finishing the upload (Ctrl-C stops sending)"

#: the counters another process reports (see :meth:`UploadState.mirror`)
COUNTERS = (
    "total", "done", "failed", "in_flight", "queue_full_waits", "retries", "waiting_for_slot",
)  # fmt: skip


@dataclass(slots=True)
class UploadState:
    """Counters of one job's upload, updated from the upload threads."""

    total: int = 0
    done: int = 0
    failed: int = 0
    in_flight: int = 0
    queue_full_waits: int = 0
    retries: int = 0
    waiting_for_slot: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _listeners: list[Callable[[UploadState, str, bool], None]] = field(
        default_factory=list, repr=False, compare=False
    )

    def listen(self, listener: Callable[[UploadState, str, bool], None]) -> None:
        self._listeners.append(listener)

    @property
    def has_listeners(self) -> bool:
        return bool(self._listeners)

    def _changed(self, event: str, notable: bool) -> None:
        for listener in self._listeners:
            listener(self, event, notable)

    def mirror(self, counters: dict[str, int], event: str, notable: bool) -> None:
        """Take the counters of the same job's state in another process, then tell the
        listeners (the pytest process shows its uploader's progress this way)."""
        with self._lock:
            for name in COUNTERS:
                setattr(self, name, int(counters.get(name, 0)))
        self._changed(event, notable)

    def started(self, total: int) -> None:
        with self._lock:
            self.total = total

    def slice_sent(self, index: int, task_id: int) -> None:
        self._changed(f"slice {index}: sent, task {task_id}", False)

    def slice_begins(self) -> None:
        with self._lock:
            self.in_flight += 1
        self._changed("", False)

    def slice_ends(self, index: int, ok: bool, detail: str) -> None:
        with self._lock:
            self.in_flight -= 1
            if ok:
                self.done += 1
            else:
                self.failed += 1
        self._changed(f"slice {index}: {detail}", True)

    def waited(self, kind: str, seconds: float, line: str = "") -> None:
        """A request is retried; ``line`` names the request, the cause and the retry."""
        with self._lock:
            if kind == "queue_full":
                self.queue_full_waits += 1
            else:
                self.retries += 1
        collected: list[SliceWait] | None = getattr(_collecting, "waits", None)
        if collected is not None and kind == "queue_full":
            from pytest_octane.records import SliceWait  # the uploader's: not at pytest's start

            collected.append(SliceWait(kind="queue-full", start=time.time(), seconds=seconds))
        if not line:
            what = "Octane's queue is full" if kind == "queue_full" else "a request failed"
            line = f"{what}; trying again in {seconds:.1f} s"
        self._changed(line, True)

    def slot_wait(self, index: int, budget: int, waiting: bool) -> None:
        """A slice waits for (``waiting``) or got a slot of the shared queue budget."""
        with self._lock:
            self.waiting_for_slot += 1 if waiting else -1
        if waiting:
            self._changed(
                f"slice {index}: waiting for a queue slot (all {budget} of the shared "
                "queue budget are taken by jobs sharing the task store)",
                True,
            )
        else:
            self._changed("", False)

    def line(self) -> str:
        parts = [f"{self.done + self.failed}/{self.total} slices done"]
        if self.failed:
            parts.append(f"{self.failed} failed")
        parts.append(f"{self.in_flight} in flight")
        if self.waiting_for_slot:
            parts.append(f"{self.waiting_for_slot} waiting for a queue slot")
        if self.queue_full_waits:
            parts.append(f"{self.queue_full_waits} queue-full waits")
        if self.retries:
            parts.append(f"{self.retries} retries")
        return "octane: " + ", ".join(parts)


#: Called on every change: (the state, the event line, whether it is worth a line of its own).
UploadListener = Callable[[UploadState, str, bool], None]


class UploadReport(NamedTuple):
    """What a finished job came to, in the words pytest's process prints: the uploader makes
    it from its ``JobOutcome`` (``JobOutcome.report``), so that pytest's process neither
    imports nor builds the task store's records to say it (issue 28: about 40 M instructions
    at each upload's end).  The outcome itself comes along pickled, for whoever asks for it
    (the ``pytest_octane_upload_finished`` hook)."""

    job_id: str
    #: the summary's lines (``JobOutcome.summary_lines``) and the one line of ``-q``
    summary: tuple[str, ...]
    one_line: str
    #: why the upload counts as failed (JIRA keys without a story only with --octane-strict)
    failures: tuple[str, ...]
    #: the task store failed in mid-session: where the job went (shown even by -q)
    moved: str | None
    #: Ctrl-C stopped the job
    interrupted: bool
    #: ``pickle.dumps`` of the ``JobOutcome``
    outcome: bytes
