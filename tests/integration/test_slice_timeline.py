"""What the engine records of each slice for the jobs page: its runs by outcome and its failed
runs when it is spooled, then the moments it was sent, taken by Octane and done, and what it
waited for (a queue budget slot, a queue-full answer), against the simulator."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from pytest_octane.job.coord import pool_name
from pytest_octane.job.engine import JobOutcome, upload_session
from pytest_octane.job.events import UploadState
from pytest_octane.model import RunError, RunStatus, SliceStatus, TestRun
from pytest_octane.settings import resolve_settings
from pytest_octane.simulator import Simulator
from pytest_octane.store import open_store
from tests.run_factory import make_test_run

WAIT_S = 60.0
pytestmark = pytest.mark.octane_simulator(processing_ms=0)


def _run(name: str, status: RunStatus, message: str | None = None) -> TestRun:
    error = RunError(type="AssertionError", message=message, trace="...") if message else None
    return make_test_run(f"tests/test_shop.py::{name}", status=status, duration_ms=3, error=error)


RUNS = [
    _run("test_total", RunStatus.PASSED),
    _run("test_discount", RunStatus.FAILED, "discount must never be negative"),
    _run("test_tax", RunStatus.SKIPPED),
    _run("test_ping", RunStatus.PASSED),
]


def test_slices_record_outcomes_times_and_waits(sim: Simulator, tmp_path: Path) -> None:
    location = str(tmp_path / "store")
    cli: dict[str, Any] = {
        "space": str(sim.space_id), "url": sim.url, "workspace": str(sim.workspace_id),
        "task_store": location, "spool_dir": str(tmp_path / "spool"), "module_mode": "off",
        "slice_size": "2", "max_parallel": "1", "queue_budget": "1",
        "queue_full_retry": "0.1", "read_timeout": "30",
    }  # fmt: skip
    settings = resolve_settings(cli=cli, environ={}, ini={})
    store = open_store(location)
    pool = pool_name(settings.url or "", sim.space_id)
    held = store.take_slot(pool, 1, 120.0)  # another job holds the only slot
    assert held is not None
    sim.faults.fail_next("POST */test-results", 503, error_code="testbox.queue_full")
    waiting = threading.Event()
    state = UploadState()
    state.listen(lambda s, _event, _notable: waiting.set() if s.waiting_for_slot else None)
    result: list[JobOutcome] = []
    upload = threading.Thread(
        target=lambda: result.append(upload_session(settings, RUNS, state=state))
    )
    upload.start()
    try:
        assert waiting.wait(WAIT_S), "the first slice never waited for the budget slot"
    finally:
        store.release_slot(pool, held)
        upload.join(WAIT_S)
    assert not upload.is_alive() and result and result[0].ok, result
    job = store.get_job(result[0].job.job_id)
    store.close()

    first, second = job.slices
    assert (first.runs_passed, first.runs_failed, first.runs_skipped) == (1, 1, 0)
    assert (second.runs_passed, second.runs_failed, second.runs_skipped) == (1, 0, 1)
    (failure,) = first.failures
    assert failure.name == "tests/test_shop.py::test_discount"
    assert (failure.error_type, failure.message) == (
        "AssertionError",
        "discount must never be negative",
    )
    assert second.failures == ()
    for record in job.slices:
        assert record.status is SliceStatus.SUCCESS
        assert record.sent_at is not None and record.accepted_at is not None
        assert record.done_at is not None
        assert record.created_at <= record.sent_at <= record.accepted_at <= record.done_at
    # the first slice waited for the held slot, then met one queue-full answer
    assert [w.kind for w in first.waits] == ["budget", "queue-full"]
    budget, full = first.waits
    assert budget.start + budget.seconds <= first.sent_at <= full.start
    assert full.seconds > 0
    assert second.waits == ()  # the slot was free and the queue had room
