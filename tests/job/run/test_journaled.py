"""job/run/journaled.py: a job spooled and recorded before any request, and the journal's
slices recorded, the same cut whoever makes it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_octane.errors import InputError
from pytest_octane.job.journal import JOURNAL_NAME, JournalWriter, read_journal
from pytest_octane.job.run.journaled import (
    catch_up,
    journal_of,
    open_job,
    prepare_job,
    record_journal_slices,
    writer_alive,
)
from pytest_octane.job.spool import JOURNAL_KEY, read_spooled_runs
from pytest_octane.model import JobRecord, SliceStatus
from pytest_octane.settings import Settings
from pytest_octane.simulator import Simulator
from pytest_octane.store import TaskStore


def _journaled(
    settings: Settings, store: TaskStore, make_run: Any, n: int
) -> tuple[JobRecord, Path]:
    """A job recorded with no slice yet, and (its path) a journal of ``n`` results beside it."""
    folder = Path(settings.spool_dir) / "job-1"
    writer = JournalWriter(folder / JOURNAL_NAME, "job-1", slice_size=settings.slice_size)
    for i in range(1, n + 1):
        writer.add(make_run(i))
    writer.end(0)
    job = prepare_job(settings, [], store, job_id="job-1", journal=folder / JOURNAL_NAME)
    return job, (folder / JOURNAL_NAME).resolve()


def test_journal_of_is_the_recorded_journal_or_none(
    settings: Settings, store: TaskStore, make_run: Any
) -> None:
    job, path = _journaled(settings, store, make_run, 1)
    assert journal_of(job) == path
    assert journal_of(prepare_job(settings, [], store, job_id="plain")) is None


def test_only_full_slices_are_cut_before_the_end_and_the_rest_after_it(
    settings: Settings, store: TaskStore, make_run: Any
) -> None:
    job, path = _journaled(settings, store, make_run, 5)
    journal = read_journal(path)
    folder = path.parent
    assert record_journal_slices(store, job, journal, ended=False, folder=folder) == [1, 2]
    job = store.get_job(job.job_id)
    # the same call again adds nothing: the store has those slices
    assert record_journal_slices(store, job, journal, ended=False, folder=folder) == []
    assert record_journal_slices(store, job, journal, ended=True, folder=folder) == [3]
    job = store.get_job(job.job_id)
    assert [s.run_count for s in job.slices] == [2, 2, 1]
    assert all(Path(s.path).parent == folder for s in job.slices)


def test_a_slice_file_left_by_a_kill_is_written_again_with_the_same_bytes(
    settings: Settings, store: TaskStore, make_run: Any, tmp_path: Path
) -> None:
    job, path = _journaled(settings, store, make_run, 2)
    journal = read_journal(path)
    other = prepare_job(settings, [], store, job_id="job-other", journal=path)
    first = record_journal_slices(store, job, journal, ended=True, folder=tmp_path / "a")
    again = record_journal_slices(store, other, journal, ended=True, folder=tmp_path / "b")
    a = Path(store.get_job(job.job_id).slice(first[0]).path).read_bytes()
    b = Path(store.get_job(other.job_id).slice(again[0]).path).read_bytes()
    assert a == b


def test_catch_up_records_what_the_dead_uploader_never_cut(
    settings: Settings, store: TaskStore, make_run: Any
) -> None:
    job, _ = _journaled(settings, store, make_run, 3)
    indexes, note = catch_up(store, job)
    assert indexes == [1, 2]
    assert note == "3 journaled runs were not in a slice yet: slices 1-2"
    assert catch_up(store, store.get_job(job.job_id)) == ([], None)


def test_catch_up_of_a_job_whose_journal_is_gone_finishes_its_recorded_slices(
    settings: Settings, store: TaskStore, make_run: Any
) -> None:
    job, path = _journaled(settings, store, make_run, 1)
    path.unlink()
    indexes, note = catch_up(store, job)
    assert indexes == [] and note is not None and "is gone" in note


def test_a_journal_still_being_written_is_not_resumed(
    settings: Settings, store: TaskStore, make_run: Any
) -> None:
    folder = Path(settings.spool_dir) / "live"
    writer = JournalWriter(folder / JOURNAL_NAME, "live", slice_size=2)  # this process: alive
    try:
        writer.add(make_run(1))
        job = prepare_job(settings, [], store, job_id="live", journal=folder / JOURNAL_NAME)
        assert writer_alive(read_journal(folder / JOURNAL_NAME))
        with pytest.raises(InputError, match=f"pid {os.getpid()}.*still writing"):
            catch_up(store, job)
    finally:
        writer.close()


def test_a_journal_whose_writer_ended_or_died_is_not_alive(
    settings: Settings, make_run: Any, tmp_path: Path
) -> None:
    ended = JournalWriter(tmp_path / "ended.jsonl", "e")
    ended.end(0)
    assert not writer_alive(read_journal(tmp_path / "ended.jsonl"))
    # a writer in a process that has exited (its pid is gone, the end mark never written)
    script = (
        "import sys; from pathlib import Path; from pytest_octane.job.journal import "
        "JournalWriter; JournalWriter(Path(sys.argv[1]), 'd').close()"
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "dead.jsonl")], check=True)
    assert not writer_alive(read_journal(tmp_path / "dead.jsonl"))


def test_prepare_job_spools_every_slice_and_records_the_job_without_a_request(
    settings: Settings, store: TaskStore, sim: Simulator, make_run: Any, tmp_path: Path
) -> None:
    runs = [make_run(i, jira_keys=(f"ABC-{i}",) if i % 2 else ()) for i in range(1, 6)]
    journal = tmp_path / "journal.jsonl"
    job = prepare_job(settings, runs, store, job_id="job-1", journal=journal)
    assert sim.request_log == []
    assert store.get_job("job-1").slices == job.slices
    assert [s.run_count for s in job.slices] == [2, 2, 1]  # slice size 2
    assert all(s.status is SliceStatus.RUNNING and s.task_id is None for s in job.slices)
    keys = [r.jira_keys for s in job.slices for r in read_spooled_runs(Path(s.path))]
    assert keys == [run.jira_keys for run in runs]
    assert job.settings[JOURNAL_KEY] == str(journal.resolve())
    assert (job.space_id, job.workspace_id) == (sim.space_id, sim.workspace_id)


def test_a_job_with_a_suite_records_the_one_run_id_every_slice_will_carry(
    settings_for: Any, store: TaskStore, make_run: Any
) -> None:
    named = settings_for(suite="Team/Nightly", external_run_id="build 7")
    assert prepare_job(named, [make_run(1)], store, job_id="a").settings["external_run_id"] == (
        "build 7"
    )
    unnamed = settings_for(suite="Team/Nightly")
    assert prepare_job(unnamed, [make_run(1)], store, job_id="b").settings["external_run_id"] == (
        "b"
    )
    plain = prepare_job(settings_for(), [make_run(1)], store, job_id="c")
    assert plain.settings.get("external_run_id") is None


def test_open_job_falls_back_to_a_private_folder_when_the_store_is_unusable(
    settings_for: Any, make_run: Any, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings = settings_for(task_store=str(blocker / "store"))
    opened, store, job, warning = open_job(settings, [make_run(1)], "job-2")
    try:
        assert warning is not None and "this job is kept in" in warning
        assert opened.task_store != settings.task_store
        assert opened.task_store in warning or str(Path(opened.task_store).parent) in warning
        assert store.get_job("job-2").slices == job.slices
    finally:
        store.close()


def test_open_job_uses_the_configured_store_when_it_works(
    settings: Settings, make_run: Any
) -> None:
    opened, store, job, warning = open_job(settings, [make_run(1)], "job-3")
    try:
        assert warning is None and opened is settings
        assert store.location == settings.task_store or settings.task_store in store.location
        assert [s.run_count for s in job.slices] == [1]
    finally:
        store.close()
