"""job/run/failover.py: a task store that fails in mid-session loses nothing of the job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_octane.errors import StoreError
from pytest_octane.job.run.failover import MOVED_EVENT, FailoverStore
from pytest_octane.job.run.journaled import prepare_job
from pytest_octane.model import SliceStatus
from pytest_octane.settings import Settings
from pytest_octane.store import TaskStore

WRITES = ("update_slice", "add_history", "add_slices", "finish_job", "create_job")


class Breakable:
    """A real task store whose writes fail while ``broken`` is set (a full disk)."""

    def __init__(self, store: TaskStore) -> None:
        self.store = store
        self.broken = False

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.store, name)
        if name not in WRITES:
            return method

        def write(*args: Any, **kwargs: Any) -> Any:
            if self.broken:
                raise StoreError(f"{name}: no space left on device")
            return method(*args, **kwargs)

        return write


def _no_lease(pool: str, limit: int, ttl: float) -> str | None:
    """A store's ``take_slot`` whose lease folder cannot be written."""
    raise StoreError("the lease folder is read-only")


def _failover(
    settings: Settings, store: TaskStore, make_run: Any
) -> tuple[FailoverStore, Breakable]:
    job = prepare_job(settings, [make_run(1), make_run(2), make_run(4)], store, job_id="job-1")
    primary = Breakable(store)
    return FailoverStore(primary, job), primary  # type: ignore[arg-type]


def test_while_the_store_works_everything_goes_there(
    settings: Settings, store: TaskStore, make_run: Any
) -> None:
    failover, _ = _failover(settings, store, make_run)
    failover.update_slice("job-1", 1, status=SliceStatus.SUCCESS, task_id=7)
    assert not failover.failed_over and failover.moved is None
    assert store.get_job("job-1").slice(1).task_id == 7
    assert failover.location == store.location
    assert failover.write_back()


def test_at_the_first_error_the_job_moves_to_a_private_store_with_every_change(
    settings: Settings, store: TaskStore, make_run: Any
) -> None:
    failover, primary = _failover(settings, store, make_run)
    failover.update_slice("job-1", 1, task_id=11)
    primary.broken = True
    failover.update_slice("job-1", 2, task_id=12)  # fails there, done in the private store
    assert failover.failed_over and failover.folder is not None
    assert failover.moved is not None and str(failover.folder / "store") in failover.moved
    assert "no space left on device" in failover.moved
    moved = failover.get_job("job-1")
    assert [s.task_id for s in moved.slices] == [11, 12]
    assert moved.history[-1]["event"] == MOVED_EVENT
    assert Path(failover.location).is_relative_to(failover.folder)
    assert store.get_job("job-1").slice(2).task_id is None  # the original never saw it


def test_the_job_is_written_back_once_the_store_works_again(
    settings: Settings, store: TaskStore, make_run: Any
) -> None:
    failover, primary = _failover(settings, store, make_run)
    primary.broken = True
    failover.update_slice("job-1", 1, status=SliceStatus.SUCCESS, task_id=21)
    assert not failover.write_back()  # still failing: the job stays in the private store
    assert failover.failed_over
    primary.broken = False
    assert failover.write_back()
    back = store.get_job("job-1")
    assert (back.slice(1).status, back.slice(1).task_id) == (SliceStatus.SUCCESS, 21)
    assert back.history[-1] == {
        **back.history[-1],
        "event": MOVED_EVENT,
        "to": str(failover.folder),
    }
    assert not failover.failed_over
    assert failover.moved is not None and "written back at the end" in failover.moved
    failover.close()


def test_a_moved_job_keeps_sharing_the_queue_budget_of_the_original_store(
    settings: Settings, store: TaskStore, make_run: Any
) -> None:
    failover, primary = _failover(settings, store, make_run)
    primary.broken = True
    failover.update_slice("job-1", 1, task_id=31)  # the job moves
    assert failover.failed_over
    ours = failover.take_slot("queue:octane", 2, 60.0)
    theirs = store.take_slot("queue:octane", 2, 60.0)  # another runner of the same store
    assert ours is not None and theirs is not None
    assert store.take_slot("queue:octane", 2, 60.0) is None, "the moved job's slot was not seen"
    assert failover.take_slot("queue:octane", 2, 60.0) is None
    failover.release_slot("queue:octane", ours)
    assert store.take_slot("queue:octane", 2, 60.0) is not None
    failover.close()


def test_a_moved_job_whose_store_cannot_lease_counts_its_own_slots(
    settings: Settings, store: TaskStore, make_run: Any, caplog: pytest.LogCaptureFixture
) -> None:
    failover, primary = _failover(settings, store, make_run)
    primary.broken = True
    failover.update_slice("job-1", 1, task_id=41)
    primary.take_slot = _no_lease  # type: ignore[attr-defined]
    first = failover.take_slot("queue:octane", 1, 60.0)
    assert first is not None
    assert failover.take_slot("queue:octane", 1, 60.0) is None  # its own slot counts
    failover.renew_slots("queue:octane", [first], 60.0)
    failover.release_slot("queue:octane", first)
    assert failover.take_slot("queue:octane", 1, 60.0) is not None
    assert [r.getMessage() for r in caplog.records if "queue budget" in r.getMessage()] == [
        f"the shared queue budget in {store.location} cannot be reached (the lease folder is "
        "read-only): this job counts only its own uploads against it"
    ]
    failover.close()


def test_before_any_move_a_store_that_cannot_lease_raises(
    settings: Settings, store: TaskStore, make_run: Any
) -> None:
    failover, primary = _failover(settings, store, make_run)
    primary.take_slot = _no_lease  # type: ignore[attr-defined]
    with pytest.raises(StoreError, match="read-only"):
        failover.take_slot("queue:octane", 1, 60.0)
    assert not failover.failed_over
