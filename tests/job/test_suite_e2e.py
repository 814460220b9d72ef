"""The suite flow end to end against the simulator: one suite run per job, coverage, delink."""

from __future__ import annotations

import argparse
import collections
import threading
from pathlib import Path
from typing import Any

import pytest
from suite_support import STORIES, SettingsFor, make_runs, per_test_ids, story_id

from pytest_octane.cli.delink import configure_delink_parser, run_delink
from pytest_octane.job.engine import JobOutcome, upload_session
from pytest_octane.model import JobRecord
from pytest_octane.simulator import Simulator
from pytest_octane.store import open_store
from tests.octane_env import OctaneEnv

QZ1 = story_id("QZ-1")
SUITE_PATH = {"suite": "Team/Area/Nightly", "jira": ["QZ-1"], "update_auto_runs": True}

pytestmark = pytest.mark.octane_simulator(stories=STORIES)


def stored_job(tmp_path: Path, job_id: str) -> JobRecord:
    store = open_store(str(tmp_path / "store"))
    try:
        return store.get_job(job_id)
    finally:
        store.close()


def events(job: JobRecord, name: str) -> list[dict[str, Any]]:
    return [e for e in job.history if e.get("event") == name]


def suite_run_of(sim: Simulator, outcome: JobOutcome) -> dict[str, Any]:
    [suite_run] = [r for r in sim.suite_runs() if r["name"] == outcome.job.job_id]
    return suite_run


def delink(tmp_path: Path, *argv: str) -> int:
    parser = argparse.ArgumentParser()
    configure_delink_parser(parser)
    return run_delink(parser.parse_args([*argv, "--task-store", str(tmp_path / "store")]))


def endpoint_counts(sim: Simulator) -> dict[str, int]:
    return dict(sim.counters["requests_per_endpoint"])


def test_one_job_is_one_suite_run_and_every_run_is_covered(
    sim: Simulator, settings_for: SettingsFor, tmp_path: Path
) -> None:
    runs = make_runs(2500)
    outcome = upload_session(settings_for(slice_size="1000", **SUITE_PATH), runs)
    assert outcome.ok, outcome.summary_lines()
    assert [s.run_count for s in outcome.job.slices] == [1000, 1000, 500]

    modules = {(m["name"], m["parent_id"]): m["id"] for m in sim.application_modules()}
    root = modules[("Automated", sim.system_root_id)]
    team = modules[("Team", root)]
    area = modules[("Area", team)]
    [suite] = [t for t in sim.tests() if t["subtype"] == "test_suite"]
    assert (suite["name"], suite["product_areas"]) == ("Nightly", [area])

    # ONE suite run, named after the job (no build context), holding all 2,500 runs
    [suite_run] = sim.suite_runs()
    assert (suite_run["suite_id"], suite_run["name"]) == (suite["id"], outcome.job.job_id)
    stored = sim.runs()
    assert len(stored) == 2500 and sorted(suite_run["run_ids"]) == sorted(r["id"] for r in stored)

    by_name = {r["name"]: r for r in stored}
    for run in runs:
        covered = set(by_name[run.name]["covered_content"])
        assert covered == {QZ1} | per_test_ids(run), run.name
    # the job-level story links runs only; tests keep just their own stories
    assert all(QZ1 not in t["covered_content"] for t in sim.tests())
    # test fields name pytest unless set
    automated = [t for t in sim.tests() if t["subtype"] == "test_automated"]
    assert all(
        t["test_fields"] == {"framework": "pytest", "testing_tool_type": "pytest"}
        for t in automated
    )

    job = stored_job(tmp_path, outcome.job.job_id)
    assert list(job.settings["jira"]) == ["QZ-1"]
    [suite_event] = events(job, "suite")
    assert suite_event["suite_id"] == suite["id"] and suite_event["module_ids"] == [team, area]
    [coverage] = events(job, "coverage")
    assert coverage["complete"] and coverage["runs_found"] == 2500
    assert coverage["runs_linked"] == 2500 and coverage["job_story_ids"] == [QZ1]

    counts = endpoint_counts(sim)
    assert counts["POST /test-results"] == 3
    assert counts["PUT /automated_runs"] == 13  # at most 200 runs per call, as the CI SDK
    assert counts["GET /automated_runs"] == 3  # pages of 1000
    assert counts["POST /tests"] == 1 and counts["POST /application_modules"] == 3
    assert counts["GET /stories"] == 1  # job-level and per-test keys in one query
    assert "DELETE /tests/{id}" not in counts


def test_two_jobs_at_once_share_modules_and_suite_and_delink_touches_one(
    sim: Simulator, settings_for: SettingsFor, tmp_path: Path
) -> None:
    runs = make_runs(2500)
    barrier = threading.Barrier(2)
    outcomes: dict[str, JobOutcome] = {}

    def upload(name: str) -> None:
        settings = settings_for(slice_size="1000", external_run_id=f"nightly-{name}", **SUITE_PATH)
        barrier.wait()
        outcomes[name] = upload_session(settings, runs)

    threads = [threading.Thread(target=upload, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(o.ok for o in outcomes.values()), [o.summary_lines() for o in outcomes.values()]

    # each module and the suite were created exactly once, and both jobs used them
    counts = endpoint_counts(sim)
    assert counts["POST /application_modules"] == 3 and counts["POST /tests"] == 1
    assert not [name for name in counts if name.startswith("DELETE")]
    names = collections.Counter((m["name"], m["parent_id"]) for m in sim.application_modules())
    assert sorted(n for n, _ in names) == ["Area", "Automated", "Team"]
    assert set(names.values()) == {1}
    suites = [t for t in sim.tests() if t["subtype"] == "test_suite"]
    assert [t["name"] for t in suites] == ["Nightly"]
    jobs = {name: stored_job(tmp_path, o.job.job_id) for name, o in outcomes.items()}
    assert {events(j, "suite")[0]["suite_id"] for j in jobs.values()} == {suites[0]["id"]}

    # two suite runs, one per external run id, 2,500 runs each, all covered by QZ-1
    suite_runs = {r["name"]: r for r in sim.suite_runs()}
    assert sorted(suite_runs) == ["nightly-a", "nightly-b"]
    runs_of = {
        name: [r for r in sim.runs() if r["suite_run_id"] == suite_runs[f"nightly-{name}"]["id"]]
        for name in ("a", "b")
    }
    assert all(len(r) == 2500 for r in runs_of.values())
    assert all(QZ1 in r["covered_content"] for rs in runs_of.values() for r in rs)

    assert delink(tmp_path, outcomes["a"].job.job_id) == 0
    expected = {run.name: per_test_ids(run) for run in runs}
    after = {r["id"]: r for r in sim.runs()}
    for r in runs_of["a"]:
        assert set(after[r["id"]]["covered_content"]) == expected[r["name"]]
    for r in runs_of["b"]:
        assert set(after[r["id"]]["covered_content"]) == {QZ1} | expected[r["name"]]
    [event] = events(stored_job(tmp_path, outcomes["a"].job.job_id), "delink")
    assert event["keys"] == ["QZ-1"] and event["runs_delinked"] == 2500
    assert not events(stored_job(tmp_path, outcomes["b"].job.job_id), "delink")


def test_delink_one_per_test_story_keeps_the_rest(
    sim: Simulator, settings_for: SettingsFor, tmp_path: Path
) -> None:
    runs = make_runs(60)
    outcome = upload_session(settings_for(**SUITE_PATH), runs)
    assert outcome.ok, outcome.summary_lines()
    before = {r["name"]: set(r["covered_content"]) for r in sim.runs()}
    assert delink(tmp_path, outcome.job.job_id, "--jira", "QZ-3") == 0
    for r in sim.runs():
        assert set(r["covered_content"]) == before[r["name"]] - {story_id("QZ-3")}
    # delinking again finds nothing left to change
    assert delink(tmp_path, outcome.job.job_id, "--jira", "QZ-3") == 0
    [_, second] = events(stored_job(tmp_path, outcome.job.job_id), "delink")
    assert second["runs_delinked"] == 0


def test_delink_usage_errors_and_octane_failures(
    sim: Simulator, settings_for: SettingsFor, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert delink(tmp_path, "20990101-000000-deadbeef") == 2
    assert "is not in the task store" in capsys.readouterr().err
    plain = upload_session(settings_for(), make_runs(5))
    assert plain.ok
    assert delink(tmp_path, plain.job.job_id) == 2
    assert "without a suite" in capsys.readouterr().err
    no_jira = upload_session(settings_for(suite="Team/Nightly"), make_runs(5))
    assert no_jira.ok
    assert delink(tmp_path, no_jira.job.job_id) == 2
    assert "--jira KEY" in capsys.readouterr().err
    assert delink(tmp_path, no_jira.job.job_id, "--jira", "nope") == 2
    assert delink(tmp_path, no_jira.job.job_id, "--jira", "ZZ-9") == 2
    assert "match no Octane story" in capsys.readouterr().err
    sim.faults.fail_next("PUT */automated_runs", 400, error_code="platform.invalid_value")
    assert delink(tmp_path, no_jira.job.job_id, "--jira", "QZ-3") == 1
    assert "platform.invalid_value" in capsys.readouterr().err
    assert delink(tmp_path, no_jira.job.job_id, "--jira", "QZ-3") == 0


def test_external_run_id_defaults_to_the_build_id(
    sim: Simulator, settings_for: SettingsFor
) -> None:
    build = {"build_server_id": "jenkins", "build_job_id": "nightly", "build_id": "481"}
    first = upload_session(settings_for(suite="Team/Nightly", **build), make_runs(20))
    second = upload_session(settings_for(suite="Team/Nightly", **build), make_runs(20)[10:])
    assert first.ok and second.ok
    # both jobs of build 481 land in the same suite run
    [suite_run] = sim.suite_runs()
    assert suite_run["name"] == "481" and len(suite_run["run_ids"]) == 30


def test_an_explicit_suite_id_gets_coverage_too(
    sim: Simulator, settings_for: SettingsFor, tmp_path: Path
) -> None:
    suite = sim.add_test_suite("Existing")
    runs = make_runs(30)
    outcome = upload_session(settings_for(suite_id=str(suite), jira=["QZ-1"]), runs)
    assert outcome.ok, outcome.summary_lines()
    [suite_run] = sim.suite_runs()
    assert (suite_run["suite_id"], suite_run["name"]) == (suite, outcome.job.job_id)
    assert all(QZ1 in r["covered_content"] for r in sim.runs())
    assert [t["subtype"] for t in sim.tests()].count("test_suite") == 1
    assert delink(tmp_path, outcome.job.job_id) == 0
    assert all(QZ1 not in r["covered_content"] for r in sim.runs())


def test_failed_linking_is_finished_by_resume(
    sim: Simulator, settings_for: SettingsFor, tmp_path: Path
) -> None:
    from pytest_octane.job.engine import execute_job

    runs = make_runs(40)
    sim.faults.fail_next("PUT */automated_runs", 400, error_code="platform.invalid_value")
    settings = settings_for(**SUITE_PATH)
    outcome = upload_session(settings, runs)
    assert not outcome.ok and outcome.error is not None
    assert "not linked to their stories" in str(outcome.error) and "resume" in str(outcome.error)
    assert all(QZ1 not in r["covered_content"] for r in sim.runs())
    store = open_store(str(tmp_path / "store"))
    try:
        resumed = execute_job(settings, store, store.get_job(outcome.job.job_id), mode="resume")
    finally:
        store.close()
    assert resumed.ok, resumed.summary_lines()
    by_name = {r["name"]: set(r["covered_content"]) for r in sim.runs()}
    assert all(by_name[run.name] == {QZ1} | per_test_ids(run) for run in runs)
    [coverage] = events(stored_job(tmp_path, outcome.job.job_id), "coverage")
    assert coverage["complete"]


def test_coverage_adds_per_test_stories_the_runs_lack(
    sim: Simulator, settings_for: SettingsFor, tmp_path: Path
) -> None:
    """If Octane linked only the tests at ingest, updateAutoRuns links the runs itself."""
    from pytest_octane.job.engine import execute_job, make_client

    runs = make_runs(120)
    outcome = upload_session(settings_for(suite="Team/Nightly"), runs)  # no linking asked
    assert outcome.ok and not events(stored_job(tmp_path, outcome.job.job_id), "coverage")
    with make_client(settings_for()) as client:
        ids = [{"id": str(r["id"]), "covered_content": {"data": []}} for r in sim.runs()]
        client.update_entities("automated_runs", ids)
    assert all(r["covered_content"] == [] for r in sim.runs())

    settings = settings_for(update_auto_runs=True)
    store = open_store(str(tmp_path / "store"))
    try:
        resumed = execute_job(settings, store, store.get_job(outcome.job.job_id), mode="resume")
    finally:
        store.close()
    assert resumed.ok, resumed.summary_lines()
    by_name = {r["name"]: set(r["covered_content"]) for r in sim.runs()}
    assert all(by_name[run.name] == per_test_ids(run) for run in runs)
    [coverage] = events(stored_job(tmp_path, outcome.job.job_id), "coverage")
    assert coverage["job_story_ids"] == [] and coverage["runs_with_test_stories"] == 96


def test_job_level_keys_alone_link_only_those_stories(
    sim: Simulator, settings_for: SettingsFor, tmp_path: Path
) -> None:
    runs = make_runs(50)
    outcome = upload_session(settings_for(suite="Team/Nightly", jira=["QZ-1", "ZZ-404"]), runs)
    assert outcome.ok, outcome.summary_lines()
    assert outcome.unmapped_keys == ["ZZ-404"]
    by_name = {r["name"]: set(r["covered_content"]) for r in sim.runs()}
    assert all(by_name[run.name] == {QZ1} | per_test_ids(run) for run in runs)
    [coverage] = events(stored_job(tmp_path, outcome.job.job_id), "coverage")
    assert coverage["runs_with_test_stories"] == 0 and coverage["job_stories"] == {"QZ-1": [QZ1]}
    assert "GET /tests" in endpoint_counts(sim)  # the suite lookup, not a per-test lookup
    assert endpoint_counts(sim)["GET /tests"] == 2


def test_the_pytest_plugin_uploads_into_one_suite_run(
    pytester: pytest.Pytester, octane_env: OctaneEnv
) -> None:
    sim = octane_env.sim
    pytester.makepyfile(
        test_plugin_suite="""
        import pytest

        @pytest.mark.jira("QZ-2")
        @pytest.mark.parametrize("n", range(30))
        def test_many(n):
            pass
        """
    )
    result = pytester.runpytest(
        *octane_env.pytest_args(
            "--octane-root-module=Automated",
            "--octane-suite=Team/Area/Nightly",
            "--octane-jira=QZ-1",
            "--octane-external-run-id=nightly-1",
            "--octane-slice-size=10",
        )
    )
    result.assert_outcomes(passed=30)
    [suite_run] = sim.suite_runs()
    assert suite_run["name"] == "nightly-1" and len(suite_run["run_ids"]) == 30
    assert all(set(r["covered_content"]) == {QZ1, story_id("QZ-2")} for r in sim.runs())
