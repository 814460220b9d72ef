"""Jobs sharing a task store create each module and suite once, with DELETE refused.

Two real processes upload into one suite path at the same moment; the simulator holds
every module and suite creation for a while, so both would query, find nothing and create
(and then need DELETE, which a CI key may lack) unless they take the store's lock.
"""

from __future__ import annotations

import collections
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from suite_support import STORIES, SettingsFor, make_runs

from pytest_octane.job.engine import upload_session
from pytest_octane.simulator import Simulator

RUNS = 600
WAIT_S = 120.0
CREATE_LATENCY_MS = 800

_WORKER = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
from suite_support import make_runs
from pytest_octane.settings import resolve_settings
from pytest_octane.job.engine import upload_session

cli = json.loads(sys.argv[2])
go = sys.argv[3]
deadline = time.monotonic() + 60
while not os.path.exists(go):
    if time.monotonic() > deadline:
        sys.exit("no start signal")
    time.sleep(0.005)
outcome = upload_session(resolve_settings(cli=cli, environ={}, ini={}), make_runs(int(sys.argv[4])))
print(json.dumps({"ok": outcome.ok, "lines": outcome.summary_lines()}))
"""

pytestmark = pytest.mark.octane_simulator(stories=STORIES)


def _cli(sim: Simulator, location: str, tmp_path: Path, name: str) -> dict[str, Any]:
    return {
        "space": str(sim.space_id),
        "url": sim.url,
        "workspace": str(sim.workspace_id),
        "task_store": location,
        "spool_dir": str(tmp_path / f"spool-{name}"),
        "root_module": "Automated",
        "module_mode": "off",
        "suite": "A/B/Nightly",
        "external_run_id": f"nightly-{name}",
        "slice_size": "200",
        "queue_full_retry": "0.05",
        "connect_timeout": "2",
        "read_timeout": "10",
    }


@pytest.mark.parametrize("kind", ["json", "sqlite"])
def test_two_jobs_at_once_sharing_a_store_create_each_module_and_suite_once(
    sim: Simulator, settings_for: SettingsFor, tmp_path: Path, kind: str
) -> None:
    location = str(tmp_path / "store") if kind == "json" else f"sqlite:///{tmp_path / 'tasks.db'}"
    sim.faults.fail_next("DELETE *", 403, count=1000, error_code="platform.forbidden")
    sim.faults.add_latency("POST */application_modules", CREATE_LATENCY_MS)
    sim.faults.add_latency("POST */tests", CREATE_LATENCY_MS)
    go = tmp_path / "go"
    here = str(Path(__file__).resolve().parent)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WORKER,
                here,
                json.dumps(_cli(sim, location, tmp_path, name)),
                str(go),
                str(RUNS),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    time.sleep(0.5)  # both interpreters import while we wait; the start file lines them up
    go.touch()
    results = [p.communicate(timeout=WAIT_S) for p in procs]
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err[-3000:]
        assert json.loads(out.strip().splitlines()[-1])["ok"], out
        # each job used the shared store (a job whose store failed to open goes on in a private
        # temporary one, where it cannot take the shared lock)
        assert "this job is kept in" not in out, out

    names = collections.Counter((m["name"], m["parent_id"]) for m in sim.application_modules())
    assert sorted(n for n, _ in names) == ["A", "Automated", "B"]
    assert set(names.values()) == {1}
    assert [t["name"] for t in sim.tests() if t["subtype"] == "test_suite"] == ["Nightly"]
    counts = dict(sim.counters["requests_per_endpoint"])
    assert counts["POST /application_modules"] == 3 and counts["POST /tests"] == 1
    assert not [name for name in counts if name.startswith("DELETE")]
    assert len(sim.runs()) == 2 * RUNS and sim.counters["duplicate_runs"] == 0

    third = upload_session(
        settings_for(**{**_cli(sim, location, tmp_path, "c"), "suite": "A/B/Nightly"}),
        make_runs(RUNS),
    )
    assert third.ok, third.summary_lines()
    after = dict(sim.counters["requests_per_endpoint"])
    assert after["POST /application_modules"] == 3 and after["POST /tests"] == 1
    assert len(sim.runs()) == 3 * RUNS and sim.counters["duplicate_runs"] == 0
