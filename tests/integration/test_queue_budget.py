"""One queue budget for several runners sharing a task store (``--octane-queue-budget``).

Four real processes upload at once, four slices in flight each, into a simulator whose
queue holds six tasks. Without a shared budget they overrun it and meet queue-full
answers; with ``--octane-queue-budget=6`` they take turns through leases in the store.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_octane.errors import LockHolder
from pytest_octane.job.engine import upload_session
from pytest_octane.job.events import UploadState
from pytest_octane.settings import OPTIONS, resolve_settings
from pytest_octane.simulator import Simulator
from pytest_octane.store import open_store
from pytest_octane.store.locks import lease_alive
from tests.run_factory import make_test_run

WAIT_S = 180.0
RUNNERS = 4
RUNS = 400  # 8 slices of 50 per runner
pytestmark = pytest.mark.octane_simulator(queue_limit=6, processing_ms=150)

_WORKER = r"""
import json, os, sys, time
from pytest_octane.model import RunStatus, TestRun
from pytest_octane.settings import OPTIONS, resolve_settings
from pytest_octane.job.engine import upload_session

cli, go, name, runs = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
deadline = time.monotonic() + 60
while not os.path.exists(go):
    if time.monotonic() > deadline:
        sys.exit("no start signal")
    time.sleep(0.005)
tests = [TestRun(nodeid=f"t_{name}.py::test_{i}", module="", package="", klass=f"t_{name}",
                 name=f"test_{i}", status=RunStatus.PASSED, duration_ms=1,
                 started_ms=int(time.time() * 1000)) for i in range(runs)]
outcome = upload_session(resolve_settings(cli=cli, environ={}, ini={}), tests)
print(json.dumps({"ok": outcome.ok, "lines": outcome.summary_lines()}))
"""


def _cli(sim: Simulator, location: str, spool: Path, budget: int | None) -> dict[str, Any]:
    cli: dict[str, Any] = {
        "space": str(sim.space_id),
        "url": sim.url,
        "workspace": str(sim.workspace_id),
        "task_store": location,
        "spool_dir": str(spool),
        "module_mode": "off",
        "slice_size": "50",
        "max_parallel": "4",
        "queue_full_retry": "0.2",
        "connect_timeout": "5",
        "read_timeout": "30",
    }
    if budget is not None:
        cli["queue_budget"] = str(budget)
    return cli


def run_runners(sim: Simulator, location: str, root: Path, budget: int | None) -> str:
    """RUNNERS processes at once; each must upload all its runs.  Their summaries and
    warnings (a job that moved out of the store, say) come back for a failing assertion."""
    go = root / "go"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WORKER,
                json.dumps(_cli(sim, location, root / f"spool-{i}", budget)),
                str(go),
                f"r{i}",
                str(RUNS),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        for i in range(RUNNERS)
    ]
    time.sleep(0.5)
    go.touch()
    said = []
    for proc in procs:
        out, err = proc.communicate(timeout=WAIT_S)
        assert proc.returncode == 0, err[-3000:]
        assert json.loads(out.strip().splitlines()[-1])["ok"], out
        said.append(out + err[-3000:])
    return "\n".join(said)


def _location(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'tasks.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_four_runners_with_a_shared_budget_never_overrun_the_queue(
    sim: Simulator, tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    said = run_runners(sim, _location(kind, tmp_path, request), tmp_path, budget=6)
    counters = sim.counters
    assert counters["queue_full_rejections"] == 0, said
    assert counters["max_in_flight"] <= 6, said
    assert len(sim.runs()) == RUNNERS * RUNS and counters["duplicate_runs"] == 0


def test_without_a_budget_the_same_runners_meet_a_full_queue(
    sim: Simulator, tmp_path: Path
) -> None:
    """The control: the scenario above really overruns Octane's queue without the budget."""
    run_runners(sim, f"sqlite:///{tmp_path / 'tasks.db'}", tmp_path, budget=None)
    assert sim.counters["queue_full_rejections"] > 0
    assert len(sim.runs()) == RUNNERS * RUNS and sim.counters["duplicate_runs"] == 0


_HOG = r"""
import sys, time
from pytest_octane.job.coord import pool_name
from pytest_octane.store import open_store
store = open_store(sys.argv[1])
pool = pool_name(sys.argv[2], int(sys.argv[3]))
assert all(store.take_slot(pool, 6, 600.0) for _ in range(6))
open(sys.argv[4], "w").close()
time.sleep(120)
"""


def test_slots_of_a_killed_runner_do_not_block_the_others(sim: Simulator, tmp_path: Path) -> None:
    location = f"sqlite:///{tmp_path / 'tasks.db'}"
    ready = tmp_path / "ready"
    hog = subprocess.Popen(
        [sys.executable, "-c", _HOG, location, sim.url, str(sim.space_id), str(ready)]
    )
    deadline = time.monotonic() + WAIT_S
    while not ready.exists():
        assert hog.poll() is None and time.monotonic() < deadline, "the slot holder did not start"
        time.sleep(0.02)
    store = open_store(location)
    try:
        from pytest_octane.job.coord import pool_name

        assert store.take_slot(pool_name(sim.url, sim.space_id), 6, 600.0) is None  # all taken
    finally:
        store.close()
    os.kill(hog.pid, signal.SIGKILL)
    hog.wait(timeout=WAIT_S)

    settings = resolve_settings(
        cli=_cli(sim, location, tmp_path / "spool", budget=6), environ=dict(os.environ), ini={}
    )
    outcome = upload_session(settings, _runs(100))
    assert outcome.ok, outcome.summary_lines()
    assert len(sim.runs()) == 100


def _runs(count: int) -> list[Any]:
    now = int(time.time() * 1000)
    return [make_test_run(f"t.py::test_{i}", started_ms=now) for i in range(count)]


def test_a_lease_lives_while_its_process_lives_or_until_it_expires_elsewhere() -> None:
    now = time.time()
    here = socket.gethostname()
    assert lease_alive(LockHolder(os.getpid(), here), now + 60, now)
    assert not lease_alive(LockHolder(os.getpid(), here), now - 1, now)  # expired
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=WAIT_S)
    assert not lease_alive(LockHolder(dead.pid, here), now + 60, now)  # gone from this host
    assert lease_alive(LockHolder(dead.pid, "other-host.example"), now + 60, now)  # cannot tell
    assert not lease_alive(LockHolder(dead.pid, "other-host.example"), now - 1, now)


def test_a_waiting_slice_says_so_in_the_progress_line() -> None:
    state = UploadState(total=4)
    events: list[str] = []
    state.listen(lambda _s, event, notable: events.append(event) if notable else None)
    state.slot_wait(2, 6, True)
    assert "1 waiting for a queue slot" in state.line()
    assert events == [
        "slice 2: waiting for a queue slot (all 6 of the shared queue budget are taken by "
        "jobs sharing the task store)"
    ]
    state.slot_wait(2, 6, False)
    assert "waiting" not in state.line()


@pytest.mark.parametrize(
    ("source", "value"),
    [("cli", "7"), ("env", "7"), ("ini", "7")],
)
def test_the_queue_budget_option_from_every_source(source: str, value: str) -> None:
    kwargs: dict[str, Any] = {"cli": {}, "environ": {}, "ini": {}}
    key = {"cli": "queue_budget", "env": "OCTANE_QUEUE_BUDGET", "ini": "queue_budget"}
    kwargs["environ" if source == "env" else source][key[source]] = value
    assert resolve_settings(**kwargs).queue_budget == 7
    assert resolve_settings(cli={}, environ={}, ini={}).queue_budget is None
    [spec] = [o for o in OPTIONS if o.name == "queue_budget"]
    assert (spec.flag, spec.ini, spec.spaces_key) == (
        "--octane-queue-budget",
        "octane_queue_budget",
        "queueBudget",
    )


def test_a_bad_queue_budget_is_a_one_line_error() -> None:
    from pytest_octane.errors import ConfigError

    with pytest.raises(ConfigError) as bad:
        resolve_settings(cli={"queue_budget": "0"}, environ={}, ini={})
    assert "--octane-queue-budget" in str(bad.value) and "\n" not in str(bad.value)
