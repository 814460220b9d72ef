"""job/recorded.py: a recorded job turned back into settings, and what it recorded."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from pytest_octane.job.recorded import (
    CONNECTION_EVENT,
    COVERAGE_EVENT,
    SUITE_EVENT,
    Connection,
    JobSuite,
    apply_overrides,
    coverage_pending,
    external_run_id_for,
    recorded_connection,
    recorded_options,
    recorded_suite_id,
    settings_for_job,
)
from pytest_octane.model import JobRecord, SliceRecord, SliceStatus
from pytest_octane.settings import Settings, resolve_settings


def _job(**changes: Any) -> JobRecord:
    fields: dict[str, Any] = {
        "job_id": "job-1",
        "space_id": 1001,
        "workspace_id": 1002,
        "server": "https://octane.example.com",
        "created_at": 1.0,
    }
    fields.update(changes)
    return JobRecord(**fields)


def _settings(**cli: str) -> Settings:
    return resolve_settings(cli=cli, environ={}, ini={})


def test_the_last_connection_event_wins_over_the_recorded_place() -> None:
    job = _job(
        history=(
            {"event": CONNECTION_EVENT, "space": 2001},
            {"event": "retry"},
            {"event": CONNECTION_EVENT, "workspace": 2002, "url": "https://new.example.com"},
        )
    )
    assert recorded_connection(job) == Connection("https://new.example.com", 2001, 2002)
    settings = settings_for_job(_settings(space="9", url="https://x.example.com"), job)
    assert (settings.url, settings.space, settings.workspace) == (
        "https://new.example.com",
        2001,
        2002,
    )


def test_an_override_on_the_command_line_is_said_and_recorded() -> None:
    said: list[str] = []
    events: list[dict[str, Any]] = []
    settings = apply_overrides(
        _settings(space="3003"), _job(), space_given=True, record=events.append, say=said.append
    )
    assert settings.space == 3003 and settings.workspace == 1002
    assert said == ["job job-1: using --space 3003 instead of the job's recorded shared space 1001"]
    assert events == [
        {
            "event": CONNECTION_EVENT,
            "url": "https://octane.example.com",
            "space": 3003,
            "workspace": 1002,
        }
    ]


def test_no_override_says_and_records_nothing() -> None:
    said: list[str] = []
    events: list[dict[str, Any]] = []
    settings = apply_overrides(
        _settings(space="1001"), _job(), space_given=False, record=events.append, say=said.append
    )
    assert settings.space == 1001 and said == [] and events == []


def test_recorded_options_fill_what_the_command_line_leaves_out() -> None:
    job = _job(settings={"skip_errors": True, "jira_field": "key_udf", "url": "u", "nope": 1})
    assert recorded_options(job, lambda name: False) == {
        "skip_errors": "true",
        "jira_field": "key_udf",
    }
    assert recorded_options(job, lambda name: name == "jira_field") == {"skip_errors": "true"}


def test_the_suite_run_id_is_the_users_then_the_builds_then_the_jobs() -> None:
    settings = _settings()
    assert external_run_id_for(settings, "job-1") == "job-1"
    assert external_run_id_for(replace(settings, build_id="b7"), "job-1") == "b7"
    named = replace(settings, build_id="b7", external_run_id="nightly")
    assert external_run_id_for(named, "job-1") == "nightly"


def test_a_job_suite_is_read_back_from_the_job_record() -> None:
    assert JobSuite.of(_job()) is None
    job = _job(settings={"suite": "Team/Nightly", "jira": ["ABC-1"], "root_module": "Auto"})
    plan = JobSuite.of(job)
    assert plan == JobSuite(
        path="Team/Nightly",
        suite_id=None,
        external_run_id="job-1",
        jira_keys=("ABC-1",),
        update_auto_runs=False,
        root_module="Auto",
        jira_field="jira_key_udf",
    )
    assert plan.links_runs() and not replace(plan, jira_keys=()).links_runs()
    assert replace(plan, jira_keys=()).links_runs(update_auto_runs=True)


@pytest.mark.parametrize(
    ("settings", "history", "expected"),
    [
        ({"suite_id": 5}, ({"event": SUITE_EVENT, "suite_id": 9},), 5),
        (
            {"suite": "A/B"},
            ({"event": SUITE_EVENT, "suite_id": 8}, {"event": SUITE_EVENT, "suite_id": 9}),
            9,
        ),
        ({"suite": "A/B"}, (), None),
    ],
)
def test_the_recorded_suite_id_is_the_explicit_one_else_the_last_resolved(
    settings: dict[str, Any], history: tuple[dict[str, Any], ...], expected: int | None
) -> None:
    assert recorded_suite_id(_job(settings=settings, history=history)) == expected


def _slice(status: SliceStatus) -> SliceRecord:
    return SliceRecord(index=1, path="slice-0001.xml", run_count=1, status=status)


def test_coverage_is_pending_only_after_every_slice_succeeded_until_it_is_complete() -> None:
    linked = {"suite": "A/B", "jira": ["ABC-1"]}
    success = (_slice(SliceStatus.SUCCESS),)
    assert coverage_pending(_job(settings=linked, slices=success))
    assert not coverage_pending(_job(settings=linked, slices=(_slice(SliceStatus.RUNNING),)))
    assert not coverage_pending(_job(settings=linked))  # no slices
    assert not coverage_pending(_job(settings={"suite": "A/B"}, slices=success))
    assert coverage_pending(_job(settings={"suite": "A/B"}, slices=success), True)
    partly = ({"event": COVERAGE_EVENT, "complete": False},)
    assert coverage_pending(_job(settings=linked, slices=success, history=partly))
    done = (*partly, {"event": COVERAGE_EVENT, "complete": True})
    assert not coverage_pending(_job(settings=linked, slices=success, history=done))
