"""JobOutcome: the error it holds, the fix, the one line and the summary the front ends print."""

from __future__ import annotations

import pickle

import pytest

from pytest_octane.errors import (
    ConnectionFailed,
    CredentialsError,
    OctaneError,
    OctaneHTTPError,
    UploadInterrupted,
)
from pytest_octane.job.outcome import JobOutcome
from pytest_octane.model import JobRecord, SliceRecord, SliceStatus
from pytest_octane.settings import Settings, resolve_settings

SERVER = "https://octane.example.com"
STORE = "octane_task_logs"


def job(*states: SliceStatus, errors: dict[int, str] | None = None) -> JobRecord:
    errors = errors or {}
    return JobRecord(
        job_id="j1",
        space_id=1001,
        workspace_id=1002,
        server=SERVER,
        created_at=0.0,
        slices=tuple(
            SliceRecord(
                index=index,
                path=f"slice-{index}.xml",
                run_count=10,
                status=state,
                task_id=100 + index if state is SliceStatus.SUCCESS else None,
                last_error=errors.get(index),
            )
            for index, state in enumerate(states, start=1)
        ),
    )


def settings(**cli: str) -> Settings:
    return resolve_settings(cli=cli, environ={}, ini={})


def test_a_clean_outcome_is_ok_and_says_nothing_to_fix() -> None:
    outcome = JobOutcome(job=job(SliceStatus.SUCCESS, SliceStatus.SUCCESS), store_location=STORE)
    assert outcome.ok and outcome.error_text is None and outcome.reason() is None
    assert outcome.one_line() == "job j1: 2/2 slices uploaded"
    assert outcome.summary_lines() == [
        "job j1: 20 runs in 2 slice(s) to shared space 1001, workspace 1002 (0.0 s)",
        "slices: 2 ok, 0 failed, 0 unfinished",
        f"Octane: {SERVER}/ui/?p=1001/1002",
        "task ids (slice:task): 1:101, 2:102",
    ]


def test_an_error_alone_makes_the_outcome_not_ok() -> None:
    outcome = JobOutcome(job=job(SliceStatus.SUCCESS), store_location=STORE)
    outcome.error = OctaneError("the runs were uploaded but not linked to their stories")
    assert not outcome.ok
    assert outcome.reason() == "the runs were uploaded but not linked to their stories"


def test_a_lost_connection_says_the_results_stay_on_disk() -> None:
    outcome = JobOutcome(job=job(SliceStatus.RUNNING), store_location=STORE)
    outcome.error = ConnectionFailed("cannot reach octane.example.com", url=SERVER)
    assert outcome.error_text == ("cannot reach octane.example.com — the results are kept on disk")
    assert outcome.one_line() == (
        "job j1: 0/1 slices uploaded: cannot reach octane.example.com — the results are kept "
        "on disk; run: pytest-octane resume j1 --task-store octane_task_logs"
    )
    assert "error: cannot reach octane.example.com — the results are kept on disk" in (
        outcome.summary_lines()
    )


def test_a_permanent_error_prints_its_fix_and_the_retry_command() -> None:
    error = CredentialsError("no credentials for shared space 1001")
    outcome = JobOutcome(
        job=job(SliceStatus.FAILED, SliceStatus.FAILED, errors={1: str(error), 2: str(error)}),
        store_location=STORE,
    )
    outcome.error = error
    outcome.fix = outcome.hint(error, settings())
    assert outcome.fix == "provide the credentials, then upload the spooled results"
    lines = outcome.summary_lines()
    assert lines[3:] == [  # the slices' error is said once, on the error line
        "error: no credentials for shared space 1001",
        "to fix: provide the credentials, then upload the spooled results",
        "to re-upload the failed slices after the fix run: "
        "pytest-octane retry j1 --task-store octane_task_logs",
    ]
    assert outcome.one_line() == (
        "job j1: 0/2 slices uploaded: no credentials for shared space 1001; provide the "
        "credentials, then upload the spooled results; run: pytest-octane retry j1 "
        "--task-store octane_task_logs"
    )


@pytest.mark.parametrize(
    ("cli", "where"),
    [
        ({}, f"shared space 1001 or workspace 1002 does not exist at {SERVER}"),
        (
            {"url": "https://other.example.com", "space": "7", "workspace": "8"},
            "shared space 7 or workspace 8 does not exist at https://other.example.com",
        ),
    ],
    ids=["the job's", "the settings'"],
)
def test_the_hint_names_the_settings_connection_else_the_jobs(
    cli: dict[str, str], where: str
) -> None:
    outcome = JobOutcome(job=job(SliceStatus.FAILED), store_location=STORE)
    missing = OctaneHTTPError("Octane refused GET: 404", status=404, url=SERVER)
    assert outcome.hint(missing, settings(**cli)).startswith(where + ": ")


def test_slice_errors_are_grouped_by_text_with_ranges() -> None:
    outcome = JobOutcome(
        job=job(
            *[SliceStatus.FAILED] * 3,
            SliceStatus.SUCCESS,
            SliceStatus.FAILED,
            SliceStatus.RUNNING,
            errors={1: "HTTP 400", 2: "HTTP 400", 3: "HTTP 400", 5: "HTTP 400", 6: "slow"},
        ),
        store_location=STORE,
    )
    lines = outcome.summary_lines()
    assert "slices 1-3, 5 failed: HTTP 400" in lines
    assert "slice 6 unfinished: slow" in lines
    assert lines[-1] == "to finish the upload later run: pytest-octane resume j1 --task-store " + (
        "octane_task_logs"
    )
    assert outcome.reason() == "slice 1: HTTP 400"


def test_a_masked_database_password_is_not_pasted_into_the_command() -> None:
    outcome = JobOutcome(
        job=job(SliceStatus.FAILED), store_location="postgresql://u:***@db.example.com/octane"
    )
    assert outcome.retry_command() == (
        'pytest-octane retry j1 --task-store "$OCTANE_TASK_STORE"  # the store URL with its '
        "password"
    )
    plain = JobOutcome(job=job(SliceStatus.FAILED), store_location="my store")
    assert plain.retry_command() == "pytest-octane retry j1 --task-store 'my store'"


@pytest.mark.parametrize(
    "error",
    [
        UploadInterrupted("interrupted (Ctrl-C): no more slices were sent"),
        ConnectionFailed("cannot reach octane.example.com", url=SERVER),
        OctaneHTTPError("Octane refused POST: 403", status=403, url=SERVER, error_code="x"),
        CredentialsError("no credentials"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_the_outcome_crosses_the_pipe_and_prints_the_same(error: OctaneError) -> None:
    outcome = JobOutcome(job=job(SliceStatus.FAILED, SliceStatus.RUNNING), store_location=STORE)
    outcome.error = error
    outcome.interrupted = isinstance(error, UploadInterrupted)
    outcome.fix = None if error.transient else outcome.hint(error, settings())
    back = pickle.loads(pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL))
    assert type(back.error) is type(error) and vars(back.error) == vars(error)
    assert back.summary_lines() == outcome.summary_lines()
    assert back.one_line() == outcome.one_line()
