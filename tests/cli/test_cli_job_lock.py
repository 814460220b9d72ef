"""One process at a time per job: ``retry``/``resume`` take the job's store lock.

Before the lock, two ``retry`` of one job at once both sent the failed slices again: on a
job of 30 failed slices (3,000 runs) more than a thousand runs arrived twice.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from cli_harness import SUBPROCESS_TIMEOUT, Octane, lines_without_traceback

from pytest_octane.job.coord import job_lock_name
from pytest_octane.model import SliceStatus

BACKENDS = ["json", "sqlite", "postgresql"]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
@pytest.mark.parametrize("verb", ["retry", "resume"])
def test_a_second_process_says_who_uploads_the_job_and_exits_1(octane: Octane, verb: str) -> None:
    octane.sim.faults.fail_next_tasks(1)
    done = octane.run_pytest(octane.write_suite(params=3), "--octane-slice-size=2")
    assert done.returncode == 1, done.stdout + done.stderr
    job = octane.only_job()
    assert any(s.status is SliceStatus.FAILED for s in job.slices)
    posts = octane.posts()
    store = octane.open_store()
    try:
        with store.lock(job_lock_name(job.job_id), timeout=0):
            refused = octane.cli(verb, job.job_id, f"--task-store={octane.store}")
    finally:
        store.close()
    assert refused.code == 1, refused.text
    lines_without_traceback(refused.err)
    expected = f"job {job.job_id} is being uploaded by pid {os.getpid()} on {socket.gethostname()}"
    assert expected in refused.out
    assert octane.posts() == posts
    assert octane.only_job().history == job.history  # nothing recorded by the refused one


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
@pytest.mark.octane_simulator(processing_ms=100)
def test_two_concurrent_retries_deliver_every_run_once(octane: Octane) -> None:
    octane.sim.faults.fail_next_tasks(30)
    done = octane.run_pytest(
        octane.write_suite(params=2997), "--octane-slice-size=100", "--octane-max-parallel=4"
    )
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    job = octane.only_job()
    assert len(job.slices) == 30
    assert all(s.status is SliceStatus.FAILED for s in job.slices)
    assert octane.sim.runs() == []

    command = [sys.executable, "-m", "pytest_octane", "retry", job.job_id,
               f"--task-store={octane.store}"]  # fmt: skip
    procs = [
        subprocess.Popen(
            command,
            cwd=octane.root,
            env=octane.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [p.communicate(timeout=SUBPROCESS_TIMEOUT) for p in procs]
    codes = [p.returncode for p in procs]
    for (out, err), code in zip(results, codes, strict=True):
        lines_without_traceback(err)
        if code != 0:
            assert code == 1 and f"job {job.job_id} is being uploaded by pid" in out, out + err
    assert 0 in codes, results
    octane.assert_every_run_once(3000)
    assert octane.only_job().status is SliceStatus.SUCCESS
