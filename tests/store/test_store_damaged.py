"""One damaged job beside a healthy one (issue 17, point 7), on every backend.

``pytest-octane jobs`` used to exit 1 listing nothing and the jobs page answered 500. Now the
healthy jobs are listed and each damaged one gets one line naming its file or row.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from pytest_octane import cli
from pytest_octane.errors import StoreError
from pytest_octane.model import JobRecord
from pytest_octane.store import TaskStore, open_store
from pytest_octane.web.server import JobsServer

NewJob = Callable[..., JobRecord]


def damage(backend: Any, job_id: str) -> str:
    """Break one job the way a crash or a bad hand edit would; return what names it."""
    if backend.name == "json":
        path = Path(backend.location) / f"{job_id}.json"
        path.write_bytes(path.read_bytes()[:40])  # truncated
        return str(path)
    sqlalchemy = pytest.importorskip("sqlalchemy")
    url = backend.location.replace("postgresql://", "postgresql+psycopg://")
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "UPDATE octane_upload_jobs SET settings = '{\"slice_size\": 5' "
                f"WHERE job_id = '{job_id}'"
            )
    finally:
        engine.dispose()
    return f"settings of job {job_id}"


@pytest.fixture
def two_jobs(store: TaskStore, backend: Any, new_job: NewJob) -> str:
    store.create_job(new_job("job-old", created_at=1_700_000_000.0))
    store.create_job(new_job("job-new", created_at=1_700_000_100.0))
    return damage(backend, "job-old")


def test_the_store_lists_the_healthy_job_and_names_the_damaged_one(
    store: TaskStore, two_jobs: str
) -> None:
    listing = open_store(store.location).scan_jobs()
    assert [j.job_id for j in listing.jobs] == ["job-new"]
    ((damaged),) = listing.damaged
    assert damaged.job_id == "job-old" and two_jobs in damaged.problem
    assert "\n" not in damaged.problem
    assert listing.has("job-old") and listing.has("job-new") and not listing.has("job-x")
    with pytest.raises(StoreError, match="job-old"):
        store.list_jobs()  # the strict form still refuses to hide a damaged job


def test_jobs_command_lists_the_healthy_job_and_one_line_per_damaged(
    store: TaskStore, two_jobs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    where = f"--task-store={store.location}"
    code = cli.main(["jobs", where])
    out, err = capsys.readouterr()
    assert code == 1  # something was damaged
    lines = out.splitlines()
    assert lines[0].startswith("JOB") and len(lines) == 2 and lines[1].startswith("job-new ")
    assert err.count("\n") == 1 and err.startswith("pytest-octane: damaged job job-old: ")
    assert two_jobs in err and "Traceback" not in err

    code = cli.main(["jobs", "--json", where])
    out, err = capsys.readouterr()
    assert code == 1
    assert [j["job_id"] for j in json.loads(out)] == ["job-new"]
    assert err.count("\n") == 1 and "job-old" in err

    # a typo is still a usage error, the damaged job still a store error naming it
    assert cli.main(["status", "job-typo", where]) == 2
    assert "is not in the task store" in capsys.readouterr().err
    assert cli.main(["status", "job-new", where]) == 1  # Running: not finished yet
    out, err = capsys.readouterr()
    assert out.startswith("job job-new: Running") and err == ""
    assert cli.main(["status", "job-old", where]) == 1
    assert two_jobs in capsys.readouterr().err


def test_jobs_page_shows_the_healthy_job_and_the_damaged_one(
    store: TaskStore, two_jobs: str
) -> None:
    args = cli.build_parser().parse_args(["serve", f"--task-store={store.location}"])
    with JobsServer(args, store, port=0, quiet=True) as server:
        page = requests.get(server.url + "/", timeout=30)
        broken = requests.get(server.url + "/jobs/job-old", timeout=30)
    assert page.status_code == 200
    assert '<tr id="job-job-new">' in page.text
    damaged = page.text.split('<ul id="damaged"')[1].split("</ul>")[0]
    assert "job-old" in damaged
    assert broken.status_code == 500  # the damaged job's own page says what is wrong
    assert "Task store error" in broken.text


def test_an_impossible_count_in_a_job_is_one_line_not_an_overflow(
    store: TaskStore, backend: Any, new_job: NewJob
) -> None:
    """Issue 24 point 1: a slice's run count or a request's duration of 1e309 (JSON reads it
    as infinity) made ``int()`` raise OverflowError through every reader."""
    store.create_job(new_job("job-inf", created_at=1_700_000_000.0))
    store.create_job(new_job("job-ok", created_at=1_700_000_100.0))
    if backend.name == "json":
        path = Path(backend.location) / "job-inf.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        data["slices"][0]["run_count"] = float("inf")
        path.write_text(json.dumps(data).replace("Infinity", "1e309"), encoding="utf-8")
    elif backend.name == "postgresql":
        pytest.skip("PostgreSQL's integer columns cannot hold infinity")
    else:
        with sqlite3.connect(backend.location.removeprefix("sqlite:///")) as conn:
            conn.execute(
                "UPDATE octane_upload_tasks SET run_count = 1e999 WHERE job_id = 'job-inf'"
            )
    listing = open_store(store.location).scan_jobs()
    assert [j.job_id for j in listing.jobs] == ["job-ok"]
    ((damaged),) = listing.damaged
    assert damaged.job_id == "job-inf" and "\n" not in damaged.problem
    with pytest.raises(StoreError):
        store.get_job("job-inf")
