"""Named locks and slot leases, the same contract on every backend (folder, SQLite, PostgreSQL)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_octane.errors import LockBusy
from pytest_octane.store import TaskStore, open_store

WAIT_S = 60.0

_HOLDER = r"""
import sys, time
from pytest_octane.store import open_store
location, mode, ready = sys.argv[1:4]
store = open_store(location)
if mode == "lock":
    with store.lock("job:shared", timeout=30):
        open(ready, "w").close()
        time.sleep(120)
else:
    ids = [store.take_slot("pool-a", 3, 600.0) for _ in range(2)]
    assert all(ids), ids
    open(ready, "w").close()
    time.sleep(120)
"""


def _start_holder(backend: Any, mode: str) -> subprocess.Popen[bytes]:
    ready = backend.root / f"ready-{mode}"
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, backend.location, mode, str(ready)])
    deadline = time.monotonic() + WAIT_S
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"holder process did not start (exit {proc.poll()})")
        time.sleep(0.02)
    return proc


def _kill(proc: subprocess.Popen[bytes]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=WAIT_S)


def test_a_held_lock_refuses_a_second_holder_and_names_the_first(store: TaskStore) -> None:
    with store.lock("job:a", timeout=0):
        with pytest.raises(LockBusy) as busy:
            with store.lock("job:a", timeout=0):
                pytest.fail("two holders of one lock")
    assert busy.value.holder is not None
    assert busy.value.holder.pid == os.getpid()
    assert busy.value.holder.host == socket.gethostname()
    assert f"pid {os.getpid()} on {socket.gethostname()}" in str(busy.value)


def test_a_released_lock_can_be_taken_again_and_names_are_independent(store: TaskStore) -> None:
    with store.lock("job:a", timeout=0), store.lock("job:b", timeout=0):
        pass
    with store.lock("job:a", timeout=0):
        pass


def test_the_lock_excludes_other_threads_until_released(store: TaskStore, backend: Any) -> None:
    inside = 0
    most = 0
    guard = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        nonlocal inside, most
        other = open_store(backend.location)
        try:
            for _ in range(5):
                with other.lock("job:threads", timeout=WAIT_S):
                    with guard:
                        inside += 1
                        most = max(most, inside)
                    time.sleep(0.01)
                    with guard:
                        inside -= 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            other.close()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT_S)
    assert not errors
    assert most == 1


def test_a_lock_held_by_another_process_is_freed_when_it_is_killed(
    store: TaskStore, backend: Any
) -> None:
    proc = _start_holder(backend, "lock")
    try:
        with pytest.raises(LockBusy) as busy:
            with store.lock("job:shared", timeout=0.2):
                pytest.fail("lock taken while another process holds it")
        assert busy.value.holder is not None and busy.value.holder.pid == proc.pid
    finally:
        _kill(proc)
    with store.lock("job:shared", timeout=WAIT_S):
        pass


def test_slots_are_limited_and_given_back(store: TaskStore) -> None:
    first = store.take_slot("pool-a", 2, 600.0)
    second = store.take_slot("pool-a", 2, 600.0)
    assert first and second and first != second
    assert store.take_slot("pool-a", 2, 600.0) is None
    assert store.take_slot("pool-b", 2, 600.0) is not None  # pools are independent
    store.release_slot("pool-a", first)
    assert store.take_slot("pool-a", 2, 600.0) is not None


def test_an_expired_lease_no_longer_counts_unless_renewed(store: TaskStore) -> None:
    renewed = store.take_slot("pool-a", 2, -1.0)
    assert renewed is not None
    store.renew_slots("pool-a", [renewed], 600.0)
    assert store.take_slot("pool-a", 2, -1.0) is not None  # expired at once
    assert store.take_slot("pool-a", 2, 600.0) is not None  # so this one fits
    assert store.take_slot("pool-a", 2, 600.0) is None


def test_slots_of_a_killed_process_are_free_again(store: TaskStore, backend: Any) -> None:
    proc = _start_holder(backend, "slots")
    try:
        assert store.take_slot("pool-a", 3, 600.0) is not None
        assert store.take_slot("pool-a", 3, 600.0) is None
    finally:
        _kill(proc)
    assert store.take_slot("pool-a", 3, 600.0) is not None
    assert store.take_slot("pool-a", 3, 600.0) is not None


def test_lock_files_stay_out_of_the_job_list(store: TaskStore, tmp_path: Path) -> None:
    with store.lock("job:listed", timeout=0):
        assert store.list_jobs() == []
    store.take_slot("pool-a", 1, 600.0)
    assert store.list_jobs() == []
