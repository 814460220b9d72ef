"""How a task is polled: the job's typical time first, and soon once pytest waits for the end."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_octane.job.outcome import JobOutcome
from pytest_octane.job.run.context import JobContext, RequestLog
from pytest_octane.job.run.slices import FIRST_LOOK_SHARE, QUICK_POLL_S, poll_task
from pytest_octane.model import JobRecord
from pytest_octane.octane.client import TaskState
from pytest_octane.settings import Settings
from pytest_octane.store import open_store


class Tasks:
    """A client whose task is final at the ``final_at``-th poll; it counts the polls."""

    def __init__(self, final_at: int) -> None:
        self.final_at = final_at
        self.polls = 0

    def get_task(self, task_id: int) -> TaskState:
        self.polls += 1
        return TaskState(id=task_id, status="success" if self.polls >= self.final_at else "running")


class Clock:
    """Monotonic time that moves only when the poller sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr("pytest_octane.job.run.slices.time.monotonic", lambda: clock.now)
    return clock


def _context(settings: Settings, tmp_path: Path, client: Tasks, clock: Clock) -> JobContext:
    job = JobRecord(job_id="j", space_id=1, workspace_id=1, server="http://x", created_at=0)
    store = open_store(str(tmp_path / "store"))
    context = JobContext(
        settings=settings,
        store=store,
        client=client,  # type: ignore[arg-type]
        request_log=RequestLog(),
        outcome=JobOutcome(job=job, store_location=store.location),
        progress=lambda line: None,
        sleep=clock.sleep,
    )
    context.task_times[:] = [1.5, 2.0, 2.5]  # the job's tasks so far took about 2 s
    return context


def test_a_fresh_task_is_first_polled_after_the_jobs_typical_time(
    settings: Settings, tmp_path: Path, clock: Clock
) -> None:
    client = Tasks(final_at=1)
    ctx = _context(settings, tmp_path, client, clock)
    assert poll_task(ctx, 1, 7, fresh=True) == ("success", None)
    assert clock.waits == [2.0]
    assert client.polls == 1


@pytest.mark.parametrize("final_at", [1, 2])
def test_once_pytest_waits_the_last_tasks_are_looked_at_soon_then_at_the_typical_time(
    settings: Settings, tmp_path: Path, clock: Clock, final_at: int
) -> None:
    client = Tasks(final_at=final_at)
    ctx = _context(settings, tmp_path, client, clock)
    ctx.ending = True
    assert poll_task(ctx, 1, 7, fresh=True)[0] == "success"
    # the quick look was too early: the next one comes at the typical time
    assert clock.waits == pytest.approx([QUICK_POLL_S, 2.0 - QUICK_POLL_S][:final_at])
    assert client.polls == final_at
    assert not ctx.polling


def test_polls_share_octanes_rate_only_with_the_tasks_polled_at_that_moment(
    settings: Settings, tmp_path: Path, clock: Clock
) -> None:
    client = Tasks(final_at=4)
    ctx = _context(settings, tmp_path, client, clock)
    ctx.task_times.clear()  # nothing learnt yet
    assert poll_task(ctx, 1, 7, fresh=False)[0] == "success"
    # max_parallel 2: P/20 = 0.1 s between two polls while the tests run
    assert clock.waits == pytest.approx([0.1] * 3)
    clock.waits.clear()
    client.polls = 0
    ctx.ending = True  # one task polled now: the floor is QUICK_POLL_S
    assert poll_task(ctx, 1, 7, fresh=False)[0] == "success"
    assert clock.waits == pytest.approx([QUICK_POLL_S] * 3)
    assert client.polls == 4


@pytest.mark.parametrize(("post_took", "first_wait"), [(0.03, QUICK_POLL_S - 0.03), (0.2, None)])
def test_the_quick_look_counts_from_the_start_of_the_post(
    settings: Settings, tmp_path: Path, clock: Clock, post_took: float, first_wait: float | None
) -> None:
    """Octane's 20 requests a second count from one request's start to the next: the POST's
    own time is not waited a second time (issue 28: the last slice's wait)."""
    client = Tasks(final_at=1)
    ctx = _context(settings, tmp_path, client, clock)
    ctx.ending = True
    posted = clock.now - post_took
    assert poll_task(ctx, 1, 7, fresh=True, posted=posted)[0] == "success"
    assert clock.waits == pytest.approx([first_wait] if first_wait else [])
    assert client.polls == 1


@pytest.mark.parametrize(("final_at", "counted"), [(1, 2.0 * FIRST_LOOK_SHARE), (2, 2.2)])
def test_a_task_final_at_its_first_look_counts_as_a_share_of_the_wait(
    settings: Settings, tmp_path: Path, clock: Clock, final_at: int, counted: float
) -> None:
    """Final at the first look (2 s, the typical time): it was done some time before, so it
    does not confirm the typical time; found at a later look, the wait is what it took."""
    client = Tasks(final_at=final_at)
    ctx = _context(settings, tmp_path, client, clock)
    assert poll_task(ctx, 1, 7, fresh=True)[0] == "success"
    assert ctx.task_times[-1] == pytest.approx(counted)


class Slowing:
    """A client whose tasks are final ``seconds[i]`` after the i-th poll_task began."""

    def __init__(self, clock: Clock, seconds: list[float]) -> None:
        self.clock = clock
        self.seconds = seconds
        self.began = 0.0
        self.polls = 0

    def get_task(self, task_id: int) -> TaskState:
        self.polls += 1
        final = self.clock.now - self.began >= self.seconds[task_id]
        return TaskState(id=task_id, status="success" if final else "running")


def test_after_a_slow_first_slice_the_first_look_comes_down_to_octanes_pace(
    settings: Settings, tmp_path: Path, clock: Clock
) -> None:
    """Octane took 20 s for the first slices and then 2 s: within a few slices each task
    is first looked at about when it is done, not 20 s after its POST."""
    seconds = [20.0] * 3 + [2.0] * 17
    client = Slowing(clock, seconds)
    ctx = _context(settings, tmp_path, client, clock)  # type: ignore[arg-type]
    ctx.task_times.clear()
    held: list[float] = []  # how long each task kept its worker and upload slot
    for task_id in range(len(seconds)):
        client.began = clock.now
        assert poll_task(ctx, 1, task_id, fresh=True)[0] == "success"
        held.append(clock.now - client.began)
    assert min(held[:3]) >= 20.0
    assert max(held[-5:]) < 2.0 * 1.3, held  # about Octane's 2 s, however slow the start
    assert client.polls < 4 * len(seconds)  # a few looks a task, not a poll storm
