"""A pytest job against the simulator, then ``jobs``, ``status`` and ``logs`` read it back.

Runs for every store backend; PostgreSQL only with OCTANE_TEST_POSTGRES_URL (required in CI).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from cli_harness import Octane

from pytest_octane.model import SliceStatus
from tests.octane_env import run_child

BACKENDS = ["json", "sqlite", "postgresql"]


@pytest.mark.octane_simulator(rotate_cookie_every=3)  # more cookie values that must not leak
@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_pytest_job_shows_in_jobs_status_and_logs_without_secrets(octane: Octane) -> None:
    suite = octane.write_suite(params=4)  # 4 + 3 tests, one of them failing on purpose
    done = octane.run_pytest(suite, "--octane-slice-size=3", "--octane-max-parallel=2")
    assert done.returncode == 1, done.stdout + done.stderr  # the failing test, not the upload

    job = octane.only_job()
    assert [s.index for s in job.slices] == [1, 2, 3]
    assert [s.run_count for s in job.slices] == [3, 3, 1]
    assert all(s.status is SliceStatus.SUCCESS for s in job.slices)
    task_ids = [s.task_id for s in job.slices]
    assert None not in task_ids and len(set(task_ids)) == 3
    assert sorted(task_ids) == sorted(t["id"] for t in octane.sim.tasks())  # type: ignore[type-var]
    assert (job.space_id, job.workspace_id) == (octane.sim.space_id, octane.sim.workspace_id)
    assert job.finished_at is not None
    assert f"job {job.job_id}: 7 runs in 3 slice(s)" in done.stdout
    octane.assert_every_run_once(7)
    store = f"--task-store={octane.store}"

    table = octane.cli("jobs", store)
    assert table.code == 0, table.text
    header, *rows = table.out.splitlines()
    assert header.split() == ["JOB", "SPACE", "STARTED", "OK", "FAILED", "RUNNING"]
    assert len(rows) == 1
    assert rows[0].split()[0] == job.job_id
    assert rows[0].split()[1] == str(octane.sim.space_id)
    assert rows[0].split()[-3:] == ["3", "0", "0"]

    listed = octane.cli("jobs", "--json", store)
    assert listed.code == 0, listed.text
    assert json.loads(listed.out) == [
        {
            "job_id": job.job_id,
            "space_id": octane.sim.space_id,
            "workspace_id": octane.sim.workspace_id,
            "created_at": job.created_at,
            "status": "Success",
            "slices": {"Running": 0, "Success": 3, "Failed": 0},
        }
    ]

    status = octane.cli("status", job.job_id, store)
    assert status.code == 0, status.text
    assert status.out.startswith(f"job {job.job_id}: Success; shared space {octane.sim.space_id}")
    for record in job.slices:
        line = next(
            line
            for line in status.out.splitlines()
            if re.match(rf"\s+slice\s+{record.index}:", line)
        )
        assert "Success" in line
        assert f"task={record.task_id} " in line
        assert f"runs={record.run_count} " in line

    detail = octane.cli("status", job.job_id, "--json", store)
    assert detail.code == 0, detail.text
    data = json.loads(detail.out)
    assert data["job_id"] == job.job_id and data["status"] == "Success"
    assert [(s["index"], s["task_id"], s["status"]) for s in data["slices"]] == [
        (s.index, s.task_id, "Success") for s in job.slices
    ]
    assert data["server"] == octane.sim.url.rstrip("/")

    logs = octane.cli("logs", job.job_id, store)
    assert logs.code == 0, logs.text
    lines = logs.out.splitlines()
    posts = [line for line in lines if re.search(r"\bPOST\s+202\b.*/test-results\b", line)]
    assert len(posts) == 3, logs.out
    assert any(re.search(r"\bGET\s+200\b.*/test-results/\d+", line) for line in lines)
    assert any("sign_in" in line or "authentication" in line for line in lines), logs.out
    with_bodies = octane.cli("logs", job.job_id, "--bodies", store)
    assert with_bodies.code == 0, with_bodies.text

    assert len(octane.cookies) > 1, "the simulator rotated no cookie"
    octane.assert_no_secret(
        done.stdout,
        done.stderr,
        *(r.text for r in (table, listed, status, detail, logs, with_bodies)),
    )
    if not octane.store.startswith("postgres"):
        return
    # the database rows are not files under the test folder: read them back in full
    opened = octane.open_store()
    try:
        dumped = repr(opened.list_jobs()) + repr(opened.read_requests(job.job_id))
    finally:
        opened.close()
    octane.assert_no_secret(dumped)


def test_jobs_of_an_empty_store_say_so(octane: Octane) -> None:
    if "://" not in octane.store:
        Path(octane.store).mkdir(parents=True)  # a missing folder is an error
    listed = octane.cli("jobs", f"--task-store={octane.store}")
    assert listed.code == 0
    assert listed.out.strip() == f"no jobs in {octane.store}"
    as_json = octane.cli("jobs", "--json", f"--task-store={octane.store}")
    assert (as_json.code, json.loads(as_json.out)) == (0, [])


def test_the_console_script_reads_the_store_from_the_environment(octane: Octane) -> None:
    suite = octane.write_suite(params=1)
    done = octane.run_pytest(suite, "-k", "not discount")
    assert done.returncode == 0, done.stdout + done.stderr
    job = octane.only_job()
    env_store = octane.env() | {"OCTANE_TASK_STORE": octane.store}
    shown = run_child(
        [sys.executable, "-m", "pytest_octane", "status", job.job_id],
        cwd=octane.root,
        env=env_store,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert shown.stdout.startswith(f"job {job.job_id}: Success")
