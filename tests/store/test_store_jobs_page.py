"""What the jobs page reads from every store: outcome counts, failed runs, the slice timeline,
an older SQL schema upgraded in place, and the filtered, paged jobs list (``query_jobs``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from pytest_octane.model import FailedTest, JobRecord, SliceStatus, SliceWait
from pytest_octane.store import TaskStore, open_store
from pytest_octane.store.query import JobQuery, page_of, query_jobs

NewJob = Callable[..., JobRecord]
NEW_COLUMNS = (
    "runs_passed", "runs_failed", "runs_skipped", "failures", "failed_names",
    "sent_at", "accepted_at", "done_at", "waits",
)  # fmt: skip


def _with_outcomes(
    job: JobRecord, failed_name: str = "tests/test_shop.py::test_total"
) -> JobRecord:
    first, *rest = job.slices
    first = dataclasses.replace(
        first,
        runs_passed=7,
        runs_failed=2,
        runs_skipped=1,
        failures=(
            FailedTest(name=failed_name, message="assert 2 == 3", error_type="AssertionError"),
            FailedTest(name="tests/test_shop.py::test_tax", message="<b>x</b>"),
        ),
    )
    return dataclasses.replace(job, slices=(first, *rest))


def test_outcomes_and_failures_read_back(store: TaskStore, new_job: NewJob) -> None:
    job = _with_outcomes(new_job())
    store.create_job(job)
    got = store.get_job(job.job_id).slice(0)
    assert (got.runs_passed, got.runs_failed, got.runs_skipped) == (7, 2, 1)
    assert got.failures == job.slices[0].failures
    assert store.get_job(job.job_id).slice(1).failures == ()


def test_the_timeline_follows_the_slice_state(store: TaskStore, new_job: NewJob) -> None:
    store.create_job(new_job())
    wait = SliceWait(kind="budget", start=10.0, seconds=2.5)
    sent = store.update_slice(
        "job-1", 0, task_id=7, status=SliceStatus.RUNNING, sent_at=12.5, waits=(wait,)
    )
    assert sent.sent_at == 12.5 and sent.waits == (wait,)
    assert sent.accepted_at is not None and sent.done_at is None
    done = store.update_slice("job-1", 0, status=SliceStatus.FAILED)
    assert done.done_at is not None and done.accepted_at == sent.accepted_at
    again = store.update_slice("job-1", 0, task_id=8, status=SliceStatus.RUNNING, sent_at=20.0)
    assert again.done_at is None  # a new attempt is not done yet
    assert store.get_job("job-1").slice(0) == again


def test_a_bad_wait_is_refused(store: TaskStore, new_job: NewJob) -> None:
    from pytest_octane.errors import StoreError

    store.create_job(new_job())
    with pytest.raises(StoreError, match="slice wait"):
        store.update_slice("job-1", 0, waits=("ten seconds",))


def _seed(store: TaskStore, new_job: NewJob) -> None:
    for i in range(7):
        job = new_job(f"job-{i}", created_at=1_700_000_000.0 + i)
        if i == 3:
            job = dataclasses.replace(job, space_id=5005)
        if i == 5:
            job = dataclasses.replace(_with_outcomes(job, "tests/test_pay.py::test_refund"))
        store.create_job(job)
        for s in job.slices:
            if i % 2 == 0:
                store.update_slice(job.job_id, s.index, task_id=s.index + 1, status="Success")
        if i == 1:
            store.update_slice(job.job_id, 0, status="Failed")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (JobQuery(limit=3), ["job-6", "job-5", "job-4"]),
        (JobQuery(limit=3, offset=6), ["job-0"]),
        (JobQuery(status=SliceStatus.FAILED), ["job-1"]),
        (JobQuery(status=SliceStatus.RUNNING), ["job-5", "job-3"]),
        (JobQuery(status=SliceStatus.SUCCESS), ["job-6", "job-4", "job-2", "job-0"]),
        (JobQuery(space=5005), ["job-3"]),
        (JobQuery(text="TEST_REFUND"), ["job-5"]),
        (JobQuery(text="job-4"), ["job-4"]),
        (JobQuery(text="nightly", limit=2), ["job-6", "job-5"]),
        (JobQuery(text="50%_"), []),  # LIKE wildcards are plain characters
    ],
)
def test_query_jobs_filters_and_pages(
    store: TaskStore, new_job: NewJob, query: JobQuery, expected: list[str]
) -> None:
    _seed(store, new_job)
    page = query_jobs(store, query)
    assert [j.job_id for j in page.jobs] == expected
    assert page.spaces == [1001, 5005]
    # the SQL query and the generic filter agree
    generic = page_of(store.scan_jobs(), query)
    assert [j.job_id for j in generic.jobs] == expected
    assert page.total == generic.total
    assert page.jobs == generic.jobs


def test_tables_of_an_older_pytest_octane_get_the_new_columns(
    backend: Any, new_job: NewJob
) -> None:
    if backend.name == "json":
        pytest.skip("the JSON folder has no schema: old files read with the new fields empty")
    sqlalchemy = pytest.importorskip("sqlalchemy")
    store = open_store(backend.location)
    store.create_job(new_job())
    store.close()
    engine = sqlalchemy.create_engine(
        backend.location.replace("postgresql://", "postgresql+psycopg://")
    )
    try:
        with engine.begin() as conn:
            for column in NEW_COLUMNS:
                conn.exec_driver_sql(f"ALTER TABLE octane_upload_tasks DROP COLUMN {column}")
    finally:
        engine.dispose()
    store = open_store(backend.location)
    try:
        assert store.get_job("job-1").slice(0).runs_passed == 0
        store.update_slice("job-1", 0, status="Success")
        assert store.get_job("job-1").slice(0).done_at is not None
    finally:
        store.close()
    engine = sqlalchemy.create_engine(
        backend.location.replace("postgresql://", "postgresql+psycopg://")
    )
    try:
        with engine.connect() as conn:
            # still version 1: an older pytest-octane sharing the database keeps working
            assert conn.exec_driver_sql("SELECT version FROM octane_schema_version").scalar() == 1
            conn.exec_driver_sql(  # as an older pytest-octane inserts: without the new columns
                "INSERT INTO octane_upload_tasks (job_id, slice_index, path, run_count, status, "
                "attempts, created_at, updated_at) VALUES ('job-1', 9, 'p', 3, 'Running', 0, 1, 1)"
            )
            conn.commit()
    finally:
        engine.dispose()
    store = open_store(backend.location)
    try:
        old_style = store.get_job("job-1").slice(9)
        assert (old_style.runs_passed, old_style.failures, old_style.waits) == (0, (), ())
    finally:
        store.close()


def test_an_old_json_job_reads_with_empty_new_fields(backend: Any, new_job: NewJob) -> None:
    if backend.name != "json":
        pytest.skip("JSON folder only")
    import json
    from pathlib import Path

    store = open_store(backend.location)
    store.create_job(new_job())
    path = Path(backend.location) / "job-1.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    for raw in data["slices"]:
        for key in ("runs_passed", "failures", "sent_at", "done_at", "waits"):
            raw.pop(key)
    path.write_text(json.dumps(data), encoding="utf-8")
    got = store.get_job("job-1").slice(0)
    assert got.failures == () and got.waits == () and got.done_at is None
    store.close()
