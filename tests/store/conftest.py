"""Fixtures for the task-store suite: one store per backend (JSON folder, SQLite, PostgreSQL).

PostgreSQL runs when OCTANE_TEST_POSTGRES_URL is set (``source .ci/postgres.sh``); each test
gets its own fresh schema through ``search_path``. Without the URL the PostgreSQL cases are
skipped locally and fail in CI, so a broken CI setup cannot hide them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_octane.model import JobRecord, SliceRecord
from pytest_octane.store import TaskStore, open_store

PG_ENV = "OCTANE_TEST_POSTGRES_URL"
BACKENDS = ["json", "sqlite", "postgresql"]


@dataclass(frozen=True)
class Backend:
    name: str
    location: str
    root: Path  # tmp folder of the test (JSON folder / SQLite file live under it)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    name: str = request.param
    if name == "json":
        return Backend(name, str(tmp_path / "octane_task_logs"), tmp_path)
    if name == "sqlite":
        return Backend(name, f"sqlite:///{tmp_path / 'tasks.db'}", tmp_path)
    return Backend(name, request.getfixturevalue("pg_url"), tmp_path)


@pytest.fixture
def store(backend: Backend) -> Iterator[TaskStore]:
    opened = open_store(backend.location)
    yield opened
    opened.close()


@pytest.fixture
def new_job() -> Callable[..., JobRecord]:
    """Factory for a two-slice job (tests cannot import from conftest by name)."""
    return _make_job


def _make_job(
    job_id: str = "job-1", *, slices: int = 2, created_at: float = 1_700_000_000.0
) -> JobRecord:
    return JobRecord(
        job_id=job_id,
        space_id=1001,
        workspace_id=2002,
        server="https://octane.example.com",
        created_at=created_at,
        build={"server_id": "ci", "job_id": "nightly", "build_id": "42"},
        settings={"slice_size": 500, "parallel": 2, "tags": ["a", "b"]},
        slices=tuple(
            SliceRecord(index=i, path=f"slices/{job_id}/{i}.xml", run_count=10 + i)
            for i in range(slices)
        ),
    )
