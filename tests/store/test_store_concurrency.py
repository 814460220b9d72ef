"""Several real processes sharing one store: no lost updates, no half-written files.

Workers are separate Python interpreters started with subprocess; they wait on a start
file so their work really overlaps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from pytest_octane.model import SliceStatus
from pytest_octane.store import open_store

UPDATES = 200
START_TIMEOUT_S = 60.0
WORKER_TIMEOUT_S = 240.0

_WORKER = r"""
import os, sys, time
from pytest_octane.model import RequestLogEntry
from pytest_octane.store import open_store

mode, location, start_dir, name, arg = sys.argv[1:6]
open(os.path.join(start_dir, f"ready-{name}"), "w").close()
deadline = time.monotonic() + float(os.environ["OCTANE_START_TIMEOUT"])
while not os.path.exists(os.path.join(start_dir, "go")):
    if time.monotonic() > deadline:
        sys.exit("no start signal")
    time.sleep(0.005)

if mode == "updates":
    index, count = int(name), int(arg)
    store = open_store(location)
    for i in range(count):
        store.update_slice("shared", index, attempts=i + 1, last_error=f"p{index}-{i}",
                           task_id=1000 * index + i)
        store.add_history("shared", {"worker": index, "i": i})
        store.append_requests("shared", [RequestLogEntry(
            time=time.time(), method="GET", url=f"u/{index}", status=200, duration_ms=i,
            correlation_id=f"{index}-{i}")])
    store.update_slice("shared", index, status="Success")
else:  # "open": first use of a fresh store by several processes at once
    from pytest_octane.model import JobRecord, SliceRecord
    store = open_store(location)
    store.create_job(JobRecord(job_id=f"job-{name}", space_id=1, workspace_id=2, server="s",
                               created_at=float(name),
                               slices=(SliceRecord(index=0, path="p", run_count=1),)))
store.close()
"""


def _run_workers(mode: str, location: str, start_dir: Path, args: dict[str, str]) -> None:
    """Start one worker per entry, release them together, and require clean exits."""
    start_dir.mkdir()
    env = {**os.environ, "OCTANE_START_TIMEOUT": str(START_TIMEOUT_S)}
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-c", _WORKER, mode, location, str(start_dir), name, arg],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for name, arg in args.items()
    }
    try:
        ready = {f"ready-{name}" for name in args}
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready <= {p.name for p in start_dir.iterdir()}:
            failed = [n for n, p in procs.items() if p.poll() is not None]
            assert not failed, f"workers {failed} exited before the start signal"
            assert time.monotonic() < deadline, "workers did not get ready in time"
            time.sleep(0.01)
        (start_dir / "go").touch()
        for name, proc in procs.items():
            _, err = proc.communicate(timeout=WORKER_TIMEOUT_S)
            assert proc.returncode == 0, f"worker {name} failed:\n{err}"
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_two_processes_updating_different_slices_lose_nothing(
    backend: Any, new_job: Any, tmp_path: Path
) -> None:
    store = open_store(backend.location)
    store.create_job(new_job("shared", slices=2))

    _run_workers("updates", backend.location, tmp_path / "start", {"0": "200", "1": "200"})

    job = store.get_job("shared")
    for index in (0, 1):
        record = job.slice(index)
        assert record.attempts == UPDATES
        assert record.last_error == f"p{index}-{UPDATES - 1}"
        assert record.task_id == 1000 * index + UPDATES - 1
        assert record.status is SliceStatus.SUCCESS
    assert job.status is SliceStatus.SUCCESS
    assert len(job.history) == 2 * UPDATES
    for index in (0, 1):
        mine = [e["i"] for e in job.history if e["worker"] == index]
        assert mine == list(range(UPDATES)), f"history of worker {index} lost or reordered"
    requests = store.read_requests("shared")
    assert len(requests) == 2 * UPDATES
    for index in (0, 1):
        ids = [r.correlation_id for r in requests if r.url == f"u/{index}"]
        assert ids == [f"{index}-{i}" for i in range(UPDATES)]
    if backend.name == "json":
        folder = Path(backend.location)
        assert sorted(p.name for p in folder.iterdir()) == [
            "shared.json",
            "shared.lock",
            "shared.requests.jsonl",
        ]
        json.loads((folder / "shared.json").read_text(encoding="utf-8"))
        for line in (folder / "shared.requests.jsonl").read_text(encoding="utf-8").splitlines():
            json.loads(line)
    store.close()


def test_processes_opening_a_fresh_store_at_once_all_succeed(backend: Any, tmp_path: Path) -> None:
    names = [str(n) for n in range(4)]

    _run_workers("open", backend.location, tmp_path / "start", dict.fromkeys(names, ""))

    store = open_store(backend.location)
    try:
        assert [j.job_id for j in store.list_jobs()] == [f"job-{n}" for n in reversed(names)]
    finally:
        store.close()
    if backend.name != "json":
        sqlalchemy = pytest.importorskip("sqlalchemy")
        engine = sqlalchemy.create_engine(backend.location)
        try:
            with engine.connect() as conn:
                rows = conn.exec_driver_sql("SELECT id, version FROM octane_schema_version")
                assert [tuple(r) for r in rows] == [(1, 1)]
        finally:
            engine.dispose()


def test_threads_sharing_one_store_object_lose_nothing(backend: Any, new_job: Any) -> None:
    """The uploader updates slices from a thread pool through one store object."""
    store = open_store(backend.location)
    store.create_job(new_job("pool", slices=4))

    def work(index: int) -> None:
        for i in range(50):
            store.update_slice("pool", index, attempts=i + 1)
            store.add_history("pool", {"slice": index, "i": i})

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(work, range(4)))

    job = store.get_job("pool")
    assert [s.attempts for s in job.slices] == [50, 50, 50, 50]
    for index in range(4):
        assert [e["i"] for e in job.history if e["slice"] == index] == list(range(50))
    store.close()
