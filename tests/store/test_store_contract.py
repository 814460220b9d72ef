"""The TaskStore contract, run against every backend (JSON folder, SQLite, PostgreSQL)."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_octane.errors import StoreError
from pytest_octane.model import JobRecord, RequestLogEntry, SliceRecord, SliceStatus
from pytest_octane.store import TaskStore, open_store

NewJob = Callable[..., JobRecord]


def test_a_created_job_reads_back_with_sorted_running_slices(
    store: TaskStore, new_job: NewJob
) -> None:
    job = new_job("job-1", slices=3)
    shuffled = dataclasses.replace(job, slices=tuple(reversed(job.slices)))
    before = time.time()
    store.create_job(shuffled)

    got = store.get_job("job-1")

    assert [s.index for s in got.slices] == [0, 1, 2]
    assert got.status is SliceStatus.RUNNING
    assert all(s.status is SliceStatus.RUNNING and s.task_id is None for s in got.slices)
    assert all(before <= s.created_at == s.updated_at <= time.time() for s in got.slices)
    expected_slices = tuple(
        dataclasses.replace(s, created_at=g.created_at, updated_at=g.updated_at)
        for s, g in zip(job.slices, got.slices, strict=True)
    )
    assert got == dataclasses.replace(job, slices=expected_slices)


def test_given_slice_timestamps_are_kept(store: TaskStore, new_job: NewJob) -> None:
    job = new_job()
    stamped = dataclasses.replace(
        job,
        slices=tuple(dataclasses.replace(s, created_at=5.0, updated_at=6.5) for s in job.slices),
    )
    store.create_job(stamped)
    assert store.get_job(job.job_id).slices == stamped.slices


def test_a_job_without_slices_is_success(store: TaskStore, new_job: NewJob) -> None:
    store.create_job(new_job("empty", slices=0))
    got = store.get_job("empty")
    assert got.slices == ()
    assert got.status is SliceStatus.SUCCESS


def test_list_jobs_is_newest_first(store: TaskStore, new_job: NewJob) -> None:
    assert store.list_jobs() == []
    for job_id, created in [("old", 100.0), ("newest", 300.0), ("middle", 200.0)]:
        store.create_job(new_job(job_id, created_at=created))

    listed = store.list_jobs()

    assert [j.job_id for j in listed] == ["newest", "middle", "old"]
    assert listed[0] == store.get_job("newest")


def test_creating_the_same_job_twice_is_refused(store: TaskStore, new_job: NewJob) -> None:
    store.create_job(new_job("dup"))
    with pytest.raises(StoreError, match="dup already exists"):
        store.create_job(new_job("dup", slices=5))
    assert len(store.get_job("dup").slices) == 2


def test_a_slice_index_given_twice_is_refused(store: TaskStore, new_job: NewJob) -> None:
    job = new_job("twice")
    with pytest.raises(StoreError, match="slice index 0 twice"):
        store.create_job(dataclasses.replace(job, slices=(job.slices[0], job.slices[0])))
    with pytest.raises(StoreError, match="unknown job twice"):
        store.get_job("twice")


def test_update_slice_changes_the_given_fields_and_stamps_updated_at(
    store: TaskStore, new_job: NewJob
) -> None:
    store.create_job(new_job())
    other_before = store.get_job("job-1").slice(0)
    before = time.time()

    returned = store.update_slice(
        "job-1",
        1,
        task_id=9_000_000_001,
        status="Success",
        attempts=2,
        server_status="FINISHED",
        error_details=None,
        path="slices/job-1/1-retry.xml",
    )

    got = store.get_job("job-1")
    assert returned == got.slice(1)
    assert returned.task_id == 9_000_000_001
    assert returned.status is SliceStatus.SUCCESS
    assert (returned.attempts, returned.server_status) == (2, "FINISHED")
    assert returned.path == "slices/job-1/1-retry.xml"
    assert before <= returned.updated_at <= time.time()
    assert returned.created_at == other_before.created_at
    assert got.slice(0) == other_before


def test_update_slice_accepts_the_enum_and_records_a_failure(
    store: TaskStore, new_job: NewJob
) -> None:
    store.create_job(new_job())
    store.update_slice("job-1", 0, status=SliceStatus.SUCCESS, task_id=7)
    failed = store.update_slice(
        "job-1", 1, status=SliceStatus.FAILED, last_error="503 queue full", attempts=3
    )
    assert failed.status is SliceStatus.FAILED
    assert failed.last_error == "503 queue full"
    assert store.get_job("job-1").status is SliceStatus.FAILED
    cleared = store.update_slice("job-1", 1, status="Running", last_error=None, updated_at=12.0)
    assert (cleared.status, cleared.last_error, cleared.updated_at) == (
        SliceStatus.RUNNING,
        None,
        12.0,
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"colour": "red"}, "cannot change slice field.*colour"),
        ({"slice_index": 3}, "cannot change slice field.*slice_index"),
        ({"status": "Done"}, "invalid slice status 'Done'"),
        ({"status": 1}, "cannot be 1"),
        ({"attempts": "2"}, "attempts cannot be '2'"),
        ({"attempts": True}, "attempts cannot be True"),
        ({"task_id": 1.5}, "task_id cannot be 1.5"),
    ],
)
def test_update_slice_refuses_bad_changes(
    store: TaskStore, new_job: NewJob, changes: dict[str, object], message: str
) -> None:
    store.create_job(new_job())
    with pytest.raises(StoreError, match=message):
        store.update_slice("job-1", 0, **changes)
    assert store.get_job("job-1").slice(0).attempts == 0


def test_update_slice_of_an_unknown_job_or_index_fails(store: TaskStore, new_job: NewJob) -> None:
    store.create_job(new_job())
    with pytest.raises(StoreError, match="unknown job nope"):
        store.update_slice("nope", 0, attempts=1)
    with pytest.raises(StoreError, match="job-1 has no slice 7"):
        store.update_slice("job-1", 7, attempts=1)
    with pytest.raises(StoreError, match="slice index must be an integer, not '0'"):
        store.update_slice("job-1", "0", attempts=1)  # type: ignore[arg-type]


def test_finish_job_records_the_time(store: TaskStore, new_job: NewJob) -> None:
    store.create_job(new_job())
    assert store.get_job("job-1").finished_at is None
    store.finish_job("job-1", 1_700_000_123.25)
    assert store.get_job("job-1").finished_at == 1_700_000_123.25


def test_history_keeps_events_in_order(store: TaskStore, new_job: NewJob) -> None:
    job = new_job()
    store.create_job(dataclasses.replace(job, history=({"event": "created"},)))
    store.add_history("job-1", {"event": "retry", "slice": 1, "reason": "503"})
    store.add_history("job-1", {"event": "delink", "stories": [1, 2], "ok": True})
    assert store.get_job("job-1").history == (
        {"event": "created"},
        {"event": "retry", "slice": 1, "reason": "503"},
        {"event": "delink", "stories": [1, 2], "ok": True},
    )


def test_values_that_are_not_json_are_refused(store: TaskStore, new_job: NewJob) -> None:
    store.create_job(new_job())
    with pytest.raises(StoreError, match="not plain JSON"):
        store.add_history("job-1", {"when": object()})
    with pytest.raises(StoreError, match="not plain JSON"):
        store.create_job(dataclasses.replace(new_job("job-2"), settings={"path": Path("x")}))
    assert store.get_job("job-1").history == ()


def test_the_request_log_round_trips_in_order(store: TaskStore, new_job: NewJob) -> None:
    store.create_job(new_job())
    store.create_job(new_job("job-2"))
    first = RequestLogEntry(
        time=1.5,
        method="POST",
        url="https://octane.example.com/api/test-results",
        status=202,
        duration_ms=120,
        correlation_id="c-1",
        body='{"id": 1001, "status": "queued"}',
    )
    failed = RequestLogEntry(
        time=2.0,
        method="GET",
        url="https://octane.example.com/api/test-results/1001",
        status=None,
        duration_ms=3000,
        correlation_id="c-2",
        error="connection reset ✗",
    )
    assert store.read_requests("job-1") == []
    store.append_requests("job-1", [first])
    store.append_requests("job-1", [])
    store.append_requests("job-2", [failed])
    store.append_requests("job-1", [failed, first])

    assert store.read_requests("job-1") == [first, failed, first]
    assert store.read_requests("job-2") == [failed]


def test_unknown_jobs_raise_store_error_everywhere(store: TaskStore) -> None:
    calls: list[Callable[[], object]] = [
        lambda: store.get_job("ghost"),
        lambda: store.finish_job("ghost", 1.0),
        lambda: store.add_history("ghost", {"event": "x"}),
        lambda: store.append_requests("ghost", []),
        lambda: store.read_requests("ghost"),
    ]
    for call in calls:
        with pytest.raises(StoreError, match="unknown job ghost"):
            call()


@pytest.mark.parametrize(
    "job_id", ["../evil", "a/b", "a\\b", "", ".hidden", "..", "a b", "x" * 129, "jöb", "a\x00b"]
)
def test_bad_job_ids_are_refused(
    store: TaskStore, new_job: NewJob, backend: Any, job_id: str
) -> None:
    with pytest.raises(StoreError, match="invalid job id"):
        store.create_job(new_job(job_id))
    with pytest.raises(StoreError, match="invalid job id"):
        store.get_job(job_id)
    with pytest.raises(StoreError, match="invalid job id"):
        store.update_slice(job_id, 0, attempts=1)
    assert store.list_jobs() == []


def test_data_survives_reopening_the_store(store: TaskStore, new_job: NewJob, backend: Any) -> None:
    store.create_job(new_job())
    store.update_slice("job-1", 0, task_id=5, status="Success")
    store.finish_job("job-1", 99.0)
    again = open_store(backend.location)
    try:
        assert again.get_job("job-1") == store.get_job("job-1")
        assert again.list_jobs() == [store.get_job("job-1")]
    finally:
        again.close()


def test_the_location_names_the_store(store: TaskStore, backend: Any) -> None:
    assert store.location == backend.location


def test_a_newer_schema_is_refused(store: TaskStore, new_job: NewJob, backend: Any) -> None:
    store.create_job(new_job())
    store.close()
    name = backend.name
    location = backend.location
    if name == "json":
        path = Path(location) / "job-1.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        data["format"] = 2
        path.write_text(json.dumps(data), encoding="utf-8")
        with pytest.raises(StoreError, match=r"job-1\.json' has format 2.*upgrade pytest-octane"):
            open_store(location).get_job("job-1")
        return
    sqlalchemy = pytest.importorskip("sqlalchemy")
    engine = sqlalchemy.create_engine(location.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE octane_schema_version SET version = 2")
    finally:
        engine.dispose()
    with pytest.raises(StoreError, match=r"schema version 2, newer than the 1.*upgrade"):
        open_store(location)


def test_records_are_the_frozen_model_types(store: TaskStore, new_job: NewJob) -> None:
    store.create_job(new_job())
    job = store.get_job("job-1")
    assert type(job) is JobRecord
    assert all(type(s) is SliceRecord for s in job.slices)
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.slices[0].attempts = 3  # type: ignore[misc]


def test_add_slices_records_new_running_slices_of_an_existing_job(
    store: TaskStore, new_job: NewJob
) -> None:
    store.create_job(new_job("job-1", slices=1))
    before = time.time()
    store.add_slices(
        "job-1",
        [
            SliceRecord(index=2, path="s/2.xml", run_count=5),
            SliceRecord(index=1, path="s/1.xml", run_count=4),
        ],
    )
    got = store.get_job("job-1")
    assert [(s.index, s.path, s.run_count) for s in got.slices] == [
        (0, "slices/job-1/0.xml", 10),
        (1, "s/1.xml", 4),
        (2, "s/2.xml", 5),
    ]
    assert all(s.status is SliceStatus.RUNNING and s.task_id is None for s in got.slices)
    assert before <= got.slices[2].created_at <= time.time()
    store.update_slice("job-1", 2, status=SliceStatus.SUCCESS, task_id=7)
    assert store.get_job("job-1").slice(2).task_id == 7


def test_add_slices_refuses_a_taken_index_and_an_unknown_job(
    store: TaskStore, new_job: NewJob
) -> None:
    store.create_job(new_job("job-1", slices=2))
    with pytest.raises(StoreError, match="twice"):
        store.add_slices(
            "job-1",
            [
                SliceRecord(index=5, path="a.xml", run_count=1),
                SliceRecord(index=1, path="b.xml", run_count=1),
            ],
        )
    assert [s.index for s in store.get_job("job-1").slices] == [0, 1]
    with pytest.raises(StoreError):
        store.add_slices("nope", [SliceRecord(index=0, path="a.xml", run_count=1)])
