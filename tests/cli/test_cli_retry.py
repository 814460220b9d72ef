"""``pytest-octane retry``: re-upload exactly the Failed slices, each as a new Octane task.

The simulator, like Octane, answers a byte-identical payload with the original task
(``fromOlderPush``), even a failed one; these tests check that a retry is really a new task,
that it never touches a Success slice, and that every run ends up in Octane exactly once.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from cli_harness import Octane, lines_without_traceback

from pytest_octane.model import JobRecord, SliceStatus

BACKENDS = ["json", "sqlite", "postgresql"]
TESTS = 10  # write_suite(params=7): 7 + 3 items
FLAGS = ("--octane-slice-size=2", "--octane-max-parallel=2")
UPLOAD_FLAGS = ("--slice-size=2", "--max-parallel=2")


def failed_indexes(job: JobRecord) -> set[int]:
    return {s.index for s in job.slices if s.status is SliceStatus.FAILED}


def upload_with_failed_tasks(octane: Octane, junit_xml: Path, failed: int) -> JobRecord:
    """``upload`` in slices of two whose first ``failed`` tasks fail: the job it leaves."""
    octane.sim.faults.fail_next_tasks(failed)
    assert octane.upload(junit_xml, args=UPLOAD_FLAGS).code == 1
    return octane.only_job()


def printed_command(output: str, kind: str) -> list[str]:
    """The command the summary tells the user to run, split the way a shell would."""
    match = re.search(rf"^to {kind}.* run: (pytest-octane .*)$", output, re.MULTILINE)
    assert match, f"no '{kind}' command in the output:\n{output}"
    return shlex.split(match.group(1))


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_retry_reuploads_exactly_the_failed_slices(octane: Octane) -> None:
    octane.sim.faults.fail_next_tasks(2)
    done = octane.run_pytest(octane.write_suite(params=7), *FLAGS)
    assert done.returncode == 1, done.stdout + done.stderr  # the failing test; upload not strict

    before = octane.only_job()
    failed = failed_indexes(before)
    assert len(failed) == 2, before
    assert len(before.slices) == 5
    assert "slices: 3 ok, 2 failed, 0 unfinished" in done.stdout
    # one line per distinct error, naming exactly the slices it hit ("slices 2, 4" / "2-3")
    match = re.search(
        r"^slices? ([0-9, -]+) failed: Simulated processing failure", done.stdout, re.M
    )
    assert match, done.stdout
    named: set[int] = set()
    for part in match.group(1).split(", "):
        low, _, high = part.partition("-")
        named.update(range(int(low), int(high or low) + 1))
    assert named == set(failed)
    command = printed_command(done.stdout, "re-upload")
    assert command == [
        "pytest-octane", "retry", before.job_id, "--task-store", octane.store,
    ]  # fmt: skip
    arrived = sum(s.run_count for s in before.slices if s.index not in failed)
    assert len(octane.sim.runs()) == arrived
    posts = octane.posts()

    retried = octane.cli(*command[1:])
    assert retried.code == 0, retried.text
    lines_without_traceback(retried.err)
    assert octane.posts() - posts == len(failed)
    after = octane.only_job()
    assert after.status is SliceStatus.SUCCESS
    old_tasks = {s.task_id for s in before.slices}
    for old, new in zip(before.slices, after.slices, strict=True):
        if old.index in failed:
            assert new.task_id not in old_tasks, "the retry reused an old (failed) task"
            assert new.attempts == old.attempts + 1
            assert new.last_error is None
        else:
            assert new == old, "a Success slice was touched by the retry"
    assert octane.sim.counters["from_older_push"] == 0
    tasks = {t["id"]: t for t in octane.sim.tasks()}
    for index in failed:
        record = after.slice(index)
        assert record.task_id is not None
        assert tasks[record.task_id]["status"] == "success"
        assert len(tasks[record.task_id]["run_ids"]) == record.run_count
    octane.assert_every_run_once(TESTS)
    assert [e["event"] for e in after.history] == ["retry"]
    assert sorted(after.history[0]["slices"]) == sorted(failed)

    again = octane.cli(*command[1:])
    assert again.code == 0, again.text
    assert f"job {after.job_id}: every slice already succeeded; nothing to re-upload" in again.out
    assert octane.posts() - posts == len(failed)
    octane.assert_every_run_once(TESTS)
    octane.assert_no_secret(done.stdout, done.stderr, retried.text, again.text)


def test_a_retry_that_fails_again_is_sent_as_a_new_payload_next_time(
    octane: Octane, junit_xml: Path
) -> None:
    octane.sim.faults.fail_next_tasks(1)
    done = octane.upload(junit_xml, args=UPLOAD_FLAGS)
    assert done.code == 1, done.text
    job = octane.only_job()
    (index,) = failed_indexes(job)
    command = printed_command(done.out, "re-upload")[1:]
    task_ids = [job.slice(index).task_id]

    octane.sim.faults.fail_next_tasks(1)
    first = octane.cli(*command)
    assert first.code == 1, first.text
    assert f"slice {index} failed: Simulated processing failure" in first.out
    assert printed_command(first.out, "re-upload")[1:] == command
    job = octane.only_job()
    assert job.slice(index).status is SliceStatus.FAILED
    task_ids.append(job.slice(index).task_id)

    second = octane.cli(*command)
    assert second.code == 0, second.text
    job = octane.only_job()
    task_ids.append(job.slice(index).task_id)
    assert job.slice(index).status is SliceStatus.SUCCESS
    assert job.slice(index).attempts == 3
    assert len(set(task_ids)) == 3, f"a retry got an old task back: {task_ids}"
    assert octane.sim.counters["from_older_push"] == 0
    assert [e["event"] for e in job.history] == ["retry", "retry"]
    octane.assert_every_run_once(TESTS)


def test_a_500_on_the_post_leaves_the_slice_resumable(octane: Octane, junit_xml: Path) -> None:
    """A 5xx is transient: the slice stays Running without task id; resume sends it (once)."""
    octane.sim.faults.fail_next("POST */test-results", 500)
    done = octane.upload(junit_xml, args=["--slice-size=4", "--max-parallel=1"])
    assert done.code == 1, done.text
    job = octane.only_job()
    assert not failed_indexes(job)
    (index,) = [s.index for s in job.slices if s.status is SliceStatus.RUNNING]
    assert job.slice(index).task_id is None
    assert "500" in (job.slice(index).last_error or "")
    posts = octane.posts()

    resumed = octane.cli(*printed_command(done.out, "finish")[1:])
    assert resumed.code == 0, resumed.text
    assert octane.posts() - posts == 1
    assert octane.only_job().slice(index).status is SliceStatus.SUCCESS
    octane.assert_every_run_once(TESTS)


def test_a_400_on_the_post_fails_the_slice_and_retry_sends_it(
    octane: Octane, junit_xml: Path
) -> None:
    """A 400 is permanent: the slice is Failed with the error, the summary says retry."""
    octane.sim.faults.fail_next("POST */test-results", 400)
    done = octane.upload(junit_xml, args=["--slice-size=4", "--max-parallel=1"])
    assert done.code == 1, done.text
    job = octane.only_job()
    (index,) = failed_indexes(job)
    assert "400" in (job.slice(index).last_error or "")
    assert job.finished_at is not None
    assert "to fix: Octane rejected the request" in done.out

    retried = octane.cli(
        *printed_command(done.out, "re-upload the failed slices after the fix")[1:]
    )
    assert retried.code == 0, retried.text
    assert octane.only_job().slice(index).status is SliceStatus.SUCCESS
    octane.assert_every_run_once(TESTS)


def test_retry_of_one_slice_leaves_the_other_failed_slice_alone(
    octane: Octane, junit_xml: Path
) -> None:
    job = upload_with_failed_tasks(octane, junit_xml, 2)
    first, second = sorted(failed_indexes(job))
    store = f"--task-store={octane.store}"
    posts = octane.posts()

    one = octane.cli("retry", job.job_id, "--slice", str(second), store)
    assert one.code == 1, one.text  # slice `first` is still Failed
    assert octane.posts() - posts == 1
    job = octane.only_job()
    assert job.slice(second).status is SliceStatus.SUCCESS
    assert job.slice(first).status is SliceStatus.FAILED

    ok_slice = next(s.index for s in job.slices if s.status is SliceStatus.SUCCESS)
    untouched = octane.cli("retry", job.job_id, "--slice", str(ok_slice), store)
    assert octane.posts() - posts == 1, "a Success slice was re-uploaded"
    assert f"slice {ok_slice} of job {job.job_id} already succeeded" in untouched.out

    rest = octane.cli("retry", job.job_id, store)
    assert rest.code == 0, rest.text
    assert octane.posts() - posts == 2
    octane.assert_every_run_once(TESTS)


def test_retry_of_a_slice_the_job_does_not_have_is_a_usage_error(
    octane: Octane, junit_xml: Path
) -> None:
    job = upload_with_failed_tasks(octane, junit_xml, 1)
    posts = octane.posts()
    result = octane.cli("retry", job.job_id, "--slice", "99", f"--task-store={octane.store}")
    assert result.code == 2, result.text
    (line,) = lines_without_traceback(result.err)
    assert "slice 99" in line and job.job_id in line
    assert octane.posts() == posts


def test_retry_keeps_the_jobs_upload_settings(octane: Octane, junit_xml: Path) -> None:
    """Application modules and skip-errors of the original upload apply to the re-upload."""
    octane.sim.faults.fail_next_tasks(1)
    done = octane.upload(junit_xml, args=[*UPLOAD_FLAGS, "--root-module=Shop", "--skip-errors"])
    assert done.code == 1, done.text
    job = octane.only_job()
    (index,) = failed_indexes(job)
    first_areas = [r["product_areas"] for r in octane.sim.runs()]
    assert first_areas and all(first_areas), "the first upload linked no modules"

    retried = octane.cli(*printed_command(done.out, "re-upload")[1:])  # no settings given
    assert retried.code == 0, retried.text
    octane.assert_every_run_once(TESTS)
    areas = {r["name"]: r["product_areas"] for r in octane.sim.runs()}
    assert all(areas.values()), f"re-uploaded runs lost their modules: {areas}"
    assert len({tuple(a) for a in areas.values()}) == 1  # one test module: one area
    queries = [
        r.query
        for r in octane.sim.request_log
        if r.method == "POST" and r.path.endswith("/test-results")
    ]
    assert len(queries) == len(job.slices) + 1
    assert all("skip-errors=true" in q for q in queries), queries
    assert octane.only_job().slice(index).status is SliceStatus.SUCCESS


def test_the_printed_retry_command_survives_a_shell(octane: Octane, junit_xml: Path) -> None:
    """A store folder with a space (or a database URL with ``&``) must be quoted."""
    octane.store = str(octane.root / "task logs")
    octane.sim.faults.fail_next_tasks(1)
    done = octane.upload(junit_xml, args=UPLOAD_FLAGS)
    job = octane.only_job()
    assert printed_command(done.out, "re-upload") == [
        "pytest-octane", "retry", job.job_id, "--task-store", octane.store,
    ]  # fmt: skip
