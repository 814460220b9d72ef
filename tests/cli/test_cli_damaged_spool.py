"""Damaged spools: a missing JIRA keys sidecar and an unreadable slice (issue 17, points 5, 8).

A slice's JIRA keys live only in ``slice-NNNN.keys.json``; without it ``retry`` used to send
the slice with no story links and exit 0. One unreadable slice used to stop ``resume`` for
the whole job. Now the damaged slice is reported by file and the others are finished.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from cli_harness import Octane, lines_without_traceback

from pytest_octane.job.spool import keys_path
from pytest_octane.model import SliceStatus
from tests.run_factory import make_test_run

STORIES = [{"id": 701, "name": "Login", "jira_key_udf": "QZ-1"}]
LINKED_SUITE = """
import pytest

pytestmark = pytest.mark.jira("QZ-1")


@pytest.mark.parametrize("n", range(8))
def test_number(n):
    pass
"""


def store_arg(octane: Octane) -> str:
    return f"--task-store={octane.store}"


@pytest.mark.octane_simulator(stories=STORIES)
def test_retry_with_a_missing_keys_file_names_it_and_never_drops_the_links(
    octane: Octane,
) -> None:
    suite = octane.root / "linked"
    suite.mkdir()
    (suite / "test_linked.py").write_text(textwrap.dedent(LINKED_SUITE))
    octane.sim.faults.fail_next_tasks(2)
    done = octane.run_pytest(suite, "--octane-slice-size=2", "--octane-max-parallel=1")
    assert done.returncode == 0, done.stdout + done.stderr
    job = octane.only_job()
    first, second = sorted(s.index for s in job.slices if s.status is SliceStatus.FAILED)
    sidecar = keys_path(Path(job.slice(first).path))
    saved = sidecar.read_bytes()
    sidecar.unlink()

    retried = octane.cli("retry", job.job_id, store_arg(octane))
    assert retried.code == 1, retried.text
    lines_without_traceback(retried.text)
    assert f"slice {first} failed: the JIRA keys file {sidecar} is missing" in retried.out
    after = octane.only_job()
    assert after.slice(first).status is SliceStatus.FAILED
    assert after.slice(second).status is SliceStatus.SUCCESS  # the other one is not held back
    assert len(octane.sim.runs()) == 6
    assert all(run["covered_content"] == [701] for run in octane.sim.runs())

    sidecar.write_bytes(saved)
    again = octane.cli("retry", job.job_id, store_arg(octane))
    assert again.code == 0, again.text
    octane.assert_every_run_once(8)
    assert all(run["covered_content"] == [701] for run in octane.sim.runs())


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"[[], [", "cannot be read (not JSON"),
        (b"[]", "has 0 entries for 2 runs"),
        (b'{"QZ-1": 1}', "is not a list of key lists"),
        (b'[["QZ-1"], [7]]', "is not a list of key lists"),
    ],
)
def test_a_damaged_keys_file_is_an_error_naming_it(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    from pytest_octane.errors import InputError
    from pytest_octane.job.spool import read_spooled_runs, write_spool
    from pytest_octane.octane.results_xml import ResultHeader

    runs = [
        make_test_run(f"t.py::t{i}", package="pkg", klass="K", started_ms=1, jira_keys=("QZ-1",))
        for i in range(2)
    ]
    (spooled,) = write_spool(tmp_path, ResultHeader(), runs, slice_size=10, max_trace=100)
    assert [r.jira_keys for r in read_spooled_runs(spooled.path)] == [("QZ-1",), ("QZ-1",)]
    keys_path(spooled.path).write_bytes(content)
    with pytest.raises(InputError) as caught:
        read_spooled_runs(spooled.path)
    message = str(caught.value)
    assert str(keys_path(spooled.path)) in message and reason in message
    assert "\n" not in message


def test_resume_reports_an_unreadable_slice_and_finishes_the_others(
    octane: Octane, junit_xml: Path
) -> None:
    done = octane.upload(junit_xml, args=("--slice-size=2", "--max-parallel=2"))
    assert done.code == 0, done.text
    job = octane.only_job()
    assert job.status is SliceStatus.SUCCESS and len(job.slices) == 5
    # as after a kill: slice 1 has its task id, slices 2 and 3 were never answered
    store = octane.open_store()
    try:
        store.update_slice(job.job_id, 1, status="Running", server_status=None)
        for index in (2, 3):
            store.update_slice(job.job_id, index, status="Running", task_id=None)
    finally:
        store.close()
    broken = Path(job.slice(3).path)
    broken.write_bytes(broken.read_bytes()[:100])
    gets = sum(
        1 for r in octane.sim.request_log if r.method == "GET" and "/test-results/" in r.path
    )

    resumed = octane.cli("resume", job.job_id, store_arg(octane))
    assert resumed.code == 1, resumed.text
    lines_without_traceback(resumed.text)
    assert f"slice 3 failed: spooled slice {broken} is not well-formed XML" in resumed.out
    assert "to re-upload the failed slices run: pytest-octane retry" in resumed.out
    after = octane.only_job()
    statuses = {s.index: s.status for s in after.slices}
    assert statuses == {
        1: SliceStatus.SUCCESS,
        2: SliceStatus.SUCCESS,
        3: SliceStatus.FAILED,
        4: SliceStatus.SUCCESS,
        5: SliceStatus.SUCCESS,
    }
    assert after.slice(1).task_id == job.slice(1).task_id  # polled, not sent again
    polls = sum(
        1 for r in octane.sim.request_log if r.method == "GET" and "/test-results/" in r.path
    )
    assert polls > gets
    octane.assert_every_run_once(10)
