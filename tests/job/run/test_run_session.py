"""job/run/session.py: a pytest session's upload in the uploader process, following the
journal (named test_run_session: tests/uploader/test_session.py drives it end to end)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from pytest_octane.errors import CredentialsError
from pytest_octane.job.journal import JOURNAL_NAME, JournalWriter
from pytest_octane.job.outcome import JobOutcome
from pytest_octane.job.run.journaled import INTERRUPTED_EVENT, open_job
from pytest_octane.job.run.pipe import Inbox
from pytest_octane.job.run.session import SessionUpload
from pytest_octane.model import SliceStatus
from pytest_octane.octane.credentials import Credentials
from pytest_octane.settings import Settings
from pytest_octane.simulator import Simulator
from pytest_octane.store import open_store


def _run(
    settings: Settings, credentials: Credentials | None, *told: str, **kwargs: Any
) -> JobOutcome:
    """The session's upload after pytest ``told`` it these things (Inbox methods)."""
    inbox = Inbox()
    for word in told:
        getattr(inbox, word)()
    path = Path(settings.spool_dir) / "job-1" / JOURNAL_NAME
    upload = SessionUpload(settings, "job-1", path, inbox, credentials=credentials, **kwargs)
    return upload.run(open_job(settings, [], "job-1", journal=path))


def _journal(settings: Settings, make_run: Any, n: int, *, end: bool = True) -> Path:
    path = Path(settings.spool_dir) / "job-1" / JOURNAL_NAME
    writer = JournalWriter(path, "job-1", slice_size=settings.slice_size)
    for i in range(1, n + 1):
        writer.add(make_run(i))
    if end:
        writer.end(0)
    else:
        writer.close()
    return path


def test_the_job_is_recorded_before_any_request(
    settings: Settings, sim: Simulator, make_run: Any
) -> None:
    path = _journal(settings, make_run, 3)
    opened_settings, store, job, warning = open_job(settings, [], "job-1", journal=path)
    with contextlib.closing(store):
        assert (opened_settings, warning) == (settings, None)
        assert store.get_job("job-1").slices == ()
        assert job.job_id == "job-1"
    assert sim.request_log == []


def test_a_finished_session_uploads_every_journaled_result(
    settings: Settings, sim: Simulator, credentials: Credentials, make_run: Any
) -> None:
    _journal(settings, make_run, 5)
    outcome = _run(settings, credentials, "end")
    assert [s.run_count for s in outcome.job.slices] == [2, 2, 1]
    assert outcome.job.status is SliceStatus.SUCCESS and not outcome.warnings
    assert len(sim.runs()) == 5


def test_pytest_gone_without_the_end_mark_is_recorded_as_interrupted(
    settings: Settings, sim: Simulator, credentials: Credentials, make_run: Any
) -> None:
    _journal(settings, make_run, 3, end=False)
    outcome = _run(settings, credentials, "close")  # the pipe closed: pytest died
    assert len(sim.runs()) == 3
    assert any("pytest ended before the end of its session" in w for w in outcome.warnings)
    assert [e["event"] for e in outcome.job.history].count(INTERRUPTED_EVENT) == 1


def test_without_credentials_every_slice_is_recorded_failed_and_nothing_is_sent(
    settings: Settings, sim: Simulator, make_run: Any
) -> None:
    _journal(settings, make_run, 3)
    outcome = _run(settings, None, "end", credentials_error=CredentialsError("no key for 1001"))
    assert [s.status for s in outcome.job.slices] == [SliceStatus.FAILED, SliceStatus.FAILED]
    assert outcome.fix is not None
    assert sim.request_log == []
    with contextlib.closing(open_store(settings.task_store)) as store:
        assert [s.status for s in store.get_job("job-1").slices] == [SliceStatus.FAILED] * 2


def test_a_stop_before_the_end_sends_nothing_and_keeps_the_slices_resumable(
    settings: Settings, sim: Simulator, credentials: Credentials, make_run: Any
) -> None:
    _journal(settings, make_run, 4)
    outcome = _run(settings, credentials, "stop_sending", "end")
    assert outcome.interrupted
    assert [s.status for s in outcome.job.slices] == [SliceStatus.RUNNING, SliceStatus.RUNNING]
    assert not any("test-results" in r.path for r in sim.request_log)
