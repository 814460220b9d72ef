"""The uploader's engine in-process: it follows a journal, and loses nothing when pytest dies
or the task store fails in mid-session."""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from uploader_support import make_run, wait_until

from pytest_octane.errors import InputError, StoreError
from pytest_octane.job.engine import open_job
from pytest_octane.job.journal import JOURNAL_NAME, JournalWriter, read_journal
from pytest_octane.job.outcome import JobOutcome
from pytest_octane.job.run import session as session_module
from pytest_octane.job.run.failover import MOVED_EVENT
from pytest_octane.job.run.journaled import INTERRUPTED_EVENT, catch_up, record_journal_slices
from pytest_octane.job.run.session import Inbox, SessionUpload
from pytest_octane.job.spool import SpooledRun
from pytest_octane.model import JobRecord, SliceStatus
from pytest_octane.octane.credentials import Credentials
from pytest_octane.octane.results_xml import header_from_settings
from pytest_octane.settings import Settings
from pytest_octane.simulator import Simulator
from pytest_octane.store import open_store


class Session:
    """A SessionUpload in a thread, fed by a journal this test writes."""

    def __init__(self, settings: Settings, sim: Simulator, job_id: str = "job-1") -> None:
        self.journal = Path(settings.spool_dir) / job_id / JOURNAL_NAME
        self.writer = JournalWriter(self.journal, job_id, slice_size=settings.slice_size)
        self.inbox = Inbox()
        self.ready = threading.Event()
        self.lines: list[str] = []
        self.upload = SessionUpload(
            settings,
            job_id,
            self.journal,
            self.inbox,
            credentials=Credentials.api_key(sim.client_id, sim.client_secret, source="test"),
            progress=self.lines.append,
        )
        self.outcome: JobOutcome | None = None
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self) -> None:
        upload = self.upload
        opened = open_job(upload.settings, [], upload.job_id, journal=self.journal)
        self.ready.set()
        self.outcome = upload.run(opened)

    def add(self, first: int, last: int) -> None:
        for i in range(first, last):
            self.writer.add(make_run(i))

    def end(self) -> JobOutcome:
        self.writer.end(0)
        self.inbox.end()
        return self.wait()

    def wait(self) -> JobOutcome:
        self.thread.join(timeout=120)
        assert not self.thread.is_alive() and self.outcome is not None
        return self.outcome


def posts(sim: Simulator) -> list[float]:
    return [r.time for r in sim.request_log if r.method == "POST" and "test-results" in r.path]


def assert_every_run_once(sim: Simulator, expected: int) -> None:
    sim.wait_for_tasks()
    counted = Counter((r["package"], r["class"], r["name"]) for r in sim.runs())
    assert all(n == 1 for n in counted.values()), "a run arrived twice"
    assert len(counted) == expected


def test_slices_are_sent_as_the_journal_grows(settings: Settings, sim: Simulator) -> None:
    session = Session(settings, sim)
    session.add(0, 20)
    wait_until(lambda: len(posts(sim)) == 2, timeout=60, what="two slices sent")
    session.add(20, 25)
    outcome = session.end()
    assert outcome.ok, outcome.summary_lines()
    assert [s.run_count for s in outcome.job.slices] == [10, 10, 5]
    assert_every_run_once(sim, 25)


def test_a_full_slice_is_cut_when_pytest_says_so_not_at_the_next_look(
    settings: Settings, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 28: the plugin tells the uploader of each full slice ("journaled"); the
    uploader's own look at the journal is only the fallback (here: an hour away)."""
    monkeypatch.setattr(session_module, "FOLLOW_S", 3600.0)
    waits: list[float] = []
    inbox_wait = Inbox.wait

    def recorded_wait(inbox: Inbox, seconds: float) -> None:
        waits.append(seconds)
        inbox_wait(inbox, seconds)

    monkeypatch.setattr(Inbox, "wait", recorded_wait)
    session = Session(settings, sim)
    wait_until(lambda: bool(waits), timeout=60, what="the uploader looked at the journal")
    session.add(0, 10)  # it looked at an empty journal: only being told wakes it
    session.inbox.journaled(10)
    wait_until(lambda: len(posts(sim)) == 1, timeout=60, what="the full slice sent")
    session.add(10, 15)
    outcome = session.end()
    assert outcome.ok, outcome.summary_lines()
    assert [s.run_count for s in outcome.job.slices] == [10, 5]
    assert_every_run_once(sim, 15)


def test_stream_off_sends_nothing_before_the_end_mark(settings: Settings, sim: Simulator) -> None:
    session = Session(replace(settings, stream=False), sim)
    session.inbox.expect([SpooledRun("tests", "test_m0", ())])  # no look-ahead either
    session.add(0, 25)
    assert session.ready.wait(60)
    ended_at = time.time()
    outcome = session.end()
    assert outcome.ok and len(outcome.job.slices) == 3
    assert min(r.time for r in sim.request_log) >= ended_at  # not even a sign-in before
    assert_every_run_once(sim, 25)


def test_pytest_gone_without_the_end_mark_every_journaled_result_is_sent(
    settings: Settings, sim: Simulator
) -> None:
    session = Session(settings, sim)
    session.add(0, 23)
    session.writer.close()  # pytest was killed: no end mark ...
    session.inbox.close()  # ... and its end of the pipe closed
    outcome = session.wait()
    assert outcome.ok, outcome.summary_lines()
    assert [s.run_count for s in outcome.job.slices] == [10, 10, 3]
    [event] = [e for e in outcome.job.history if e["event"] == INTERRUPTED_EVENT]
    assert event["runs"] == 23
    assert any("pytest ended before the end of its session" in w for w in outcome.warnings)
    assert_every_run_once(sim, 23)


class FailingStore:
    """The real store, failing from its ``after``-th slice update on until it is healed."""

    def __init__(self, store: Any, after: int) -> None:
        self._store, self._after = store, after
        self.updates = self.failures = 0
        self.healed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def _failing(self) -> bool:
        return self.updates >= self._after and not self.healed

    def update_slice(self, job_id: str, index: int, **changes: Any) -> Any:
        self.updates += 1
        if self._failing():
            self.failures += 1
            raise StoreError("database is locked (simulated: the disk is full)")
        return self._store.update_slice(job_id, index, **changes)

    def get_job(self, job_id: str) -> JobRecord:
        if self._failing():
            self.failures += 1
            raise StoreError("the task store is gone (simulated)")
        return self._store.get_job(job_id)  # type: ignore[no-any-return]


@pytest.mark.parametrize("comes_back", [False, True], ids=["stays-broken", "comes-back"])
def test_a_task_store_failing_in_mid_session_loses_nothing(
    settings: Settings, sim: Simulator, monkeypatch: pytest.MonkeyPatch, comes_back: bool
) -> None:
    failing: list[FailingStore] = []
    real_open_job = open_job

    def open_failing(*args: Any, **kwargs: Any) -> Any:
        settings, store, job, warning = real_open_job(*args, **kwargs)
        failing.append(FailingStore(store, after=3))
        return settings, failing[0], job, warning

    monkeypatch.setattr(sys.modules[__name__], "open_job", open_failing)  # Session's opening
    session = Session(settings, sim)
    session.add(0, 45)
    wait_until(lambda: failing and failing[0].failures, timeout=60, what="the store failing")
    failing[0].healed = comes_back  # PostgreSQL is back, or the disk stays full
    outcome = session.end()
    assert outcome.moved is not None and "failed in mid-session" in outcome.moved
    assert outcome.ok, outcome.summary_lines()
    assert outcome.moved in outcome.summary_lines()
    assert_every_run_once(sim, 45)
    where = settings.task_store if comes_back else outcome.store_location
    assert (outcome.store_location == settings.task_store) is comes_back
    assert ("written back" in outcome.moved) is comes_back
    store = open_store(where)
    try:
        job = store.get_job("job-1")
    finally:
        store.close()
    assert job.status is SliceStatus.SUCCESS and job.finished_at is not None
    assert sum(s.run_count for s in job.slices) == 45
    [moved] = [e for e in job.history if e["event"] == MOVED_EVENT]  # the job says so
    assert ("to" in moved) is comes_back and (
        "simulated" in moved.get("error", "")
    ) is not comes_back
    assert len({s.task_id for s in job.slices}) == 5  # every slice's task recorded once


# ---------------------------------------------------------------- resume from the journal


def test_a_kill_between_writing_a_slice_and_recording_it_loses_no_run(
    settings: Settings, tmp_path: Path
) -> None:
    journal = Path(settings.spool_dir) / "job-1" / JOURNAL_NAME
    writer = JournalWriter(journal, "job-1", header=header_from_settings(settings), slice_size=10)
    for i in range(25):
        writer.add(make_run(i))
    writer.end(0)
    whole = read_journal(journal)
    settings, store, job, _ = open_job(settings, [], "job-1", journal=journal)
    try:
        growing = replace(whole, runs=whole.runs[:20], exit_status=None)
        record_journal_slices(store, job, growing, ended=False, folder=journal.parent)
        third = journal.parent / "slice-0003.xml"
        third.write_bytes(b"<half written")  # the uploader died after this, before recording
        added, note = catch_up(store, store.get_job("job-1"))
        assert added == [3] and note is not None and "5 journaled runs" in note
        job = store.get_job("job-1")
    finally:
        store.close()
    assert [s.run_count for s in job.slices] == [10, 10, 5]
    # the same journal cut again elsewhere gives the same bytes: a re-sent slice is the same
    other = tmp_path / "again"
    again = open_store(str(other / "store"))
    try:
        copy = replace(settings, task_store=str(other / "store"))
        fresh = open_job(copy, [], "job-1", journal=journal)[2]
        record_journal_slices(again, fresh, whole, ended=True, folder=other)
    finally:
        again.close()
    for index in (1, 2, 3):
        name = f"slice-{index:04d}.xml"
        assert (journal.parent / name).read_bytes() == (other / name).read_bytes()
    assert b"<build " in (other / "slice-0001.xml").read_bytes() or settings.build_id is None


def test_resume_refuses_to_cut_a_journal_that_is_still_written(settings: Settings) -> None:
    journal = Path(settings.spool_dir) / "job-1" / JOURNAL_NAME
    writer = JournalWriter(journal, "job-1")  # this process is the live writer
    writer.add(make_run(1))
    settings, store, job, _ = open_job(settings, [], "job-1", journal=journal)
    try:
        with pytest.raises(InputError, match=r"pytest \(pid \d+\) is still writing"):
            catch_up(store, job)
        writer.end(0)
        assert catch_up(store, job)[0] == [1]
    finally:
        store.close()
