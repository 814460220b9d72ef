"""job/coverage.py: the job's runs linked to their stories (append only), and delinked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_octane.errors import InputError
from pytest_octane.job.coverage import (
    delink_job,
    find_suite_runs,
    link_job_runs,
    spooled_tests,
)
from pytest_octane.job.engine import upload_session
from pytest_octane.job.recorded import recorded_suite_id
from pytest_octane.job.run.context import make_client
from pytest_octane.job.run.journaled import prepare_job
from pytest_octane.model import JobRecord
from pytest_octane.octane.credentials import Credentials
from pytest_octane.simulator import Simulator
from pytest_octane.store import TaskStore


def _puts(sim: Simulator) -> int:
    return sum(1 for r in sim.request_log if r.method == "PUT" and "automated_runs" in r.path)


def _uploaded(settings_for: Any, credentials: Credentials, make_run: Any) -> JobRecord:
    """A job of 3 runs uploaded into one suite run, its coverage linked (job key ABC-1)."""
    settings = settings_for(suite="Team/Nightly", jira="ABC-1")
    runs = [make_run(1, jira_keys=("ABC-2",)), make_run(2), make_run(4)]
    outcome = upload_session(settings, runs, hook=lambda: credentials)
    assert outcome.job.slices and not outcome.error, outcome.summary_lines()
    return outcome.job


def test_spooled_tests_are_the_runs_and_their_keys_in_slice_order(
    settings_for: Any, store: TaskStore, make_run: Any
) -> None:
    runs = [make_run(i, jira_keys=(f"ABC-{i}",) if i == 2 else ()) for i in (1, 2, 4)]
    job = prepare_job(settings_for(), runs, store)
    assert spooled_tests(job) == [
        (("", "tests", "test_m", "test_1"), ()),
        (("", "tests", "test_m", "test_2"), ("ABC-2",)),
        (("", "tests", "test_m", "test_4"), ()),
    ]


def test_a_damaged_spool_says_which_slice_cannot_be_read(
    settings_for: Any, store: TaskStore, make_run: Any
) -> None:
    job = prepare_job(settings_for(), [make_run(1)], store)
    Path(job.slices[0].path).write_text("<test_result><test_runs>", encoding="utf-8")
    with pytest.raises(InputError, match=r"slice-0001\.xml of job .* cannot be read"):
        spooled_tests(job)


def test_linking_appends_only_the_links_a_run_lacks(
    settings_for: Any, sim: Simulator, credentials: Credentials, make_run: Any
) -> None:
    job_story, test_story = sim.add_story("ABC-1"), sim.add_story("ABC-2")
    job = _uploaded(settings_for, credentials, make_run)
    covered = {r["name"]: set(r["covered_content"]) for r in sim.runs()}
    assert covered == {
        "test_1": {job_story, test_story},
        "test_2": {job_story},
        "test_4": {job_story},
    }
    suite_id = recorded_suite_id(job)
    assert suite_id is not None
    puts = _puts(sim)
    with make_client(settings_for(), credentials=credentials) as client:
        [suite_run] = find_suite_runs(client, suite_id, job.job_id)
        again = link_job_runs(client, job, suite_id, {"ABC-1": [job_story]}, {})
    assert _puts(sim) == puts  # every link is there already: nothing is sent
    assert again.event["runs_found"] == 3 and again.event["runs_linked"] == 0
    assert again.event["suite_run_ids"] == [suite_run]


def test_delink_removes_the_jobs_story_and_keeps_every_other_link(
    settings_for: Any,
    sim: Simulator,
    credentials: Credentials,
    make_run: Any,
    store: TaskStore,
) -> None:
    sim.add_story("ABC-1")
    test_story = sim.add_story("ABC-2")
    job = _uploaded(settings_for, credentials, make_run)
    job = store.get_job(job.job_id)
    with make_client(settings_for(), credentials=credentials) as client:
        result = delink_job(client, store, job)
    covered = {r["name"]: set(r["covered_content"]) for r in sim.runs()}
    assert covered == {"test_1": {test_story}, "test_2": set(), "test_4": set()}
    assert result.event["runs_delinked"] == 3 and result.unmapped_keys == []
    assert store.get_job(job.job_id).history[-1]["event"] == "delink"
