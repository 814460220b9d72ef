"""The simulator's task worker: a background thread that runs queued tasks through ingest."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from pytest_octane.simulator.ingest import ingest
from pytest_octane.simulator.state import SimState, Task

__all__ = ["TaskWorker"]


class TaskWorker:
    """One background thread: queued -> running -> (after processing_ms) a final status."""

    def __init__(
        self,
        state: SimState,
        take_forced_failure: Callable[[], str | None],
    ) -> None:
        self._state = state
        self._take_forced_failure = take_forced_failure
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="octane-sim-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._state.changed:
            self._state.changed.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _next(self) -> Task | None:
        state = self._state
        with state.changed:
            while not self._stop.is_set():
                queued = [t for t in state.tasks.values() if t.status == "queued"]
                if queued:
                    task = min(queued, key=lambda t: t.id)
                    state.set_task_status(task, "running")
                    return task
                state.changed.wait()
        return None

    def _loop(self) -> None:
        state = self._state
        while True:
            task = self._next()
            if task is None:
                return
            if not self._processing(task):
                return
            with state.lock:
                if state.tasks.get(task.id) is not task:
                    continue  # forgotten by a restart while it was being processed
                forced = self._take_forced_failure()
                if forced is not None:
                    state.set_task_status(task, "failed", forced)
                    continue
                try:
                    status, details = ingest(state, task)
                except Exception as exc:  # a simulator bug must not kill the worker
                    state.counters.internal_errors += 1
                    status, details = "failed", f"simulator internal error: {exc!r}"
                state.set_task_status(task, status, details)

    def _processing(self, task: Task) -> bool:
        """Wait ``processing_ms`` for ``task``, less if a restart forgets it; False on stop."""
        state = self._state
        deadline = time.monotonic() + state.config.processing_ms / 1000
        with state.changed:
            while not self._stop.is_set() and state.tasks.get(task.id) is task:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                state.changed.wait(left)
        return not self._stop.is_set()
