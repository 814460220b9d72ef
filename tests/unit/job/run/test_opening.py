"""job/run/opening.py: a job spooled and recorded before any request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_octane.job.run.opening import open_job, prepare_job
from pytest_octane.job.spool import JOURNAL_KEY, read_spooled_runs
from pytest_octane.model import SliceStatus
from pytest_octane.settings import Settings
from pytest_octane.simulator import Simulator
from pytest_octane.store import TaskStore


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
