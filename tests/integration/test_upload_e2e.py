"""The uploader end to end against the bundled simulator (issue: uploader).

Every scenario ends with the same proof: each run arrived exactly once, linked to the
stories of its JIRA keys, and the task store agrees with the simulator.
"""

from __future__ import annotations

import collections
import threading
import time
from pathlib import Path

import pytest

from pytest_octane.job.engine import JobOutcome, upload_session
from pytest_octane.model import RunStatus, SliceStatus, TestRun
from pytest_octane.settings import Settings
from pytest_octane.simulator import Simulator
from pytest_octane.store import open_store
from tests.octane_env import OctaneEnv
from tests.run_factory import make_test_run

N_KEYS = 40
STORIES = [{"id": 9000 + i, "name": f"story {i}", "jira_key_udf": f"QZ-{i}"} for i in range(N_KEYS)]
pytestmark = pytest.mark.octane_simulator(stories=STORIES)


def make_runs(count: int, *, modules: int = 6) -> list[TestRun]:
    now = int(time.time() * 1000)
    return [
        make_test_run(
            f"tests/test_m{i % modules}.py::test_{i}",
            status=RunStatus.FAILED if i % 97 == 0 else RunStatus.PASSED,
            duration_ms=i % 13,
            started_ms=now + i,
            jira_keys=(f"QZ-{i % N_KEYS}", f"QZ-{(i + 1) % N_KEYS}"),
        )
        for i in range(count)
    ]


def settings_for(sim: Simulator, tmp_path: Path, **extra: str) -> Settings:
    env = OctaneEnv(sim, tmp_path, str(tmp_path / "store"), tmp_path / "spool")
    return env.settings(**{"root_module": "Automated", "read_timeout": "5", **extra})


def assert_arrived_once(sim: Simulator, runs: list[TestRun]) -> None:
    arrived = sim.runs()
    identities = collections.Counter((r["package"], r["class"], r["name"]) for r in arrived)
    duplicated = {k: n for k, n in identities.items() if n > 1}
    assert not duplicated, f"runs stored twice: {list(duplicated)[:5]}"
    expected = {(r.package, r.klass, r.name) for r in runs}
    assert set(identities) == expected
    story_of = {s["jira_key_udf"]: s["id"] for s in STORIES}
    by_identity = {(r["package"], r["class"], r["name"]): r for r in arrived}
    for run in runs:
        linked = set(by_identity[(run.package, run.klass, run.name)]["covered_content"])
        assert linked == {story_of[key] for key in run.jira_keys}, run.name


def assert_store_agrees(outcome: JobOutcome, sim: Simulator, tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "store"))
    try:
        job = store.get_job(outcome.job.job_id)
    finally:
        store.close()
    assert job.status is SliceStatus.SUCCESS
    assert sum(s.run_count for s in job.slices) == len(sim.runs())
    task_ids = {t["id"] for t in sim.tasks()}
    assert {s.task_id for s in job.slices} <= task_ids


def test_three_thousand_runs_upload_in_slices_with_two_in_flight(
    sim: Simulator, tmp_path: Path
) -> None:
    runs = make_runs(3000)
    outcome = upload_session(settings_for(sim, tmp_path, slice_size="1000", max_parallel="2"), runs)
    assert outcome.ok, outcome.summary_lines()
    assert len(outcome.job.slices) == 3
    assert_arrived_once(sim, runs)
    assert_store_agrees(outcome, sim, tmp_path)
    counters = sim.counters
    assert counters["max_in_flight"] <= 2
    # one story query per 50 keys (+ paging), modules: root + 6 children created once
    story_queries = [r for r in sim.request_log if r.method == "GET" and "/stories" in r.path]
    assert len(story_queries) == 1
    modules = sim.application_modules()
    assert sorted(m["name"] for m in modules) == ["Automated"] + [
        f"tests.test_m{i}" for i in range(6)
    ]


def test_queue_full_for_a_while_still_uploads_everything(sim: Simulator, tmp_path: Path) -> None:
    sim.faults.fail_next("POST */test-results", 503, count=12, error_code="testbox.queue_full")
    runs = make_runs(600)
    outcome = upload_session(settings_for(sim, tmp_path, slice_size="200"), runs)
    assert outcome.ok, outcome.summary_lines()
    assert_arrived_once(sim, runs)
    assert_store_agrees(outcome, sim, tmp_path)


def test_the_seeds_queue_full_spelling_is_retried_too(sim: Simulator, tmp_path: Path) -> None:
    sim.faults.fail_next("POST */test-results", 503, count=3, error_code="testbox_queue_full")
    runs = make_runs(50)
    outcome = upload_session(settings_for(sim, tmp_path), runs)
    assert outcome.ok, outcome.summary_lines()
    assert_arrived_once(sim, runs)


def test_sessions_expiring_mid_job_sign_in_again(sim: Simulator, tmp_path: Path) -> None:
    runs = make_runs(900)
    stop = threading.Event()

    def expire_repeatedly() -> None:
        # a few expiries while slices are in flight, as idle/global time-outs happen
        for _ in range(3):
            if stop.wait(0.25):
                return
            sim.faults.expire_sessions()

    thread = threading.Thread(target=expire_repeatedly, daemon=True)
    thread.start()
    try:
        outcome = upload_session(
            settings_for(sim, tmp_path, slice_size="100", max_parallel="3"), runs
        )
    finally:
        stop.set()
        thread.join()
    assert outcome.ok, outcome.summary_lines()
    assert_arrived_once(sim, runs)
    assert sim.counters["unauthorized"] >= 1  # the expiry really hit requests of this job
    sign_ins = [r for r in sim.request_log if r.path.endswith("/authentication/sign_in")]
    assert len(sign_ins) >= 2


def test_a_burst_of_bad_gateways_is_ridden_out(sim: Simulator, tmp_path: Path) -> None:
    for status in (502, 503, 504):
        sim.faults.fail_next("POST */test-results", status, count=1)
    sim.faults.fail_next("GET */test-results/*", 502, count=2)
    runs = make_runs(300)
    outcome = upload_session(settings_for(sim, tmp_path, slice_size="100", backoff="0.01"), runs)
    assert outcome.ok, outcome.summary_lines()
    assert_arrived_once(sim, runs)
    statuses = collections.Counter(r.status for r in sim.request_log)
    assert statuses[502] == 3 and statuses[503] == 1 and statuses[504] == 1


def test_two_uploaders_at_once_create_each_module_once(sim: Simulator, tmp_path: Path) -> None:
    runs = make_runs(120, modules=12)
    results: list[JobOutcome] = []
    barrier = threading.Barrier(2)

    def upload(n: int) -> None:
        barrier.wait()
        results.append(upload_session(settings_for(sim, tmp_path / f"u{n}"), runs))

    threads = [threading.Thread(target=upload, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.ok for r in results), [r.summary_lines() for r in results]
    names = collections.Counter((m["name"], m["parent_id"]) for m in sim.application_modules())
    assert all(n == 1 for n in names.values()), names
    assert len(names) == 13


def test_existing_duplicate_modules_use_the_lowest_id_and_warn(
    sim: Simulator, tmp_path: Path
) -> None:
    first = sim.add_application_module("Automated")
    sim.add_application_module("Automated")
    runs = make_runs(10, modules=1)
    outcome = upload_session(settings_for(sim, tmp_path), runs)
    assert outcome.ok
    assert any("duplicate application modules named 'Automated'" in w for w in outcome.warnings)
    child = [m for m in sim.application_modules() if m["name"] == "tests.test_m0"]
    assert [m["parent_id"] for m in child] == [first]


def test_unmapped_keys_are_listed_and_do_not_fail_the_job(sim: Simulator, tmp_path: Path) -> None:
    runs = [make_test_run("tests/test_x.py::test_a", started_ms=1, jira_keys=("QZ-1", "NOPE-7"))]
    outcome = upload_session(settings_for(sim, tmp_path), runs)
    assert outcome.ok
    assert outcome.unmapped_keys == ["NOPE-7"]
    assert any("NOPE-7" in line for line in outcome.summary_lines())


def test_a_compressed_job_refused_once_sends_plain_xml_for_the_rest(
    sim: Simulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sim.faults.fail_next("POST */test-results", 415, count=1)
    runs = make_runs(300)
    outcome = upload_session(settings_for(sim, tmp_path, slice_size="100", compress="true"), runs)
    assert outcome.ok, outcome.summary_lines()
    assert_arrived_once(sim, runs)
    posts = [r.status for r in sim.request_log if r.path.endswith("/test-results")]
    assert posts == [415, 202, 202, 202]  # one retry, then plain XML for the job
    assert sum("sending plain XML from now on" in r.message for r in caplog.records) == 1
