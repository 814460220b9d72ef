"""``pytest --octane-space`` end to end: a real suite uploaded to the simulator by the plugin."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import pytest

# Imported here so pytester's in-process runs reuse these modules instead of importing
# fresh copies (a fresh http.cookiejar next to an old requests breaks requests' cookie jar).
import pytest_octane.job.engine  # noqa: F401
from pytest_octane.simulator import Simulator
from tests.octane_env import OctaneEnv, qz_stories

pytestmark = pytest.mark.octane_simulator(stories=qz_stories(1, 2, 3))
#: The root module every upload here goes under.
AUTOMATED = "--octane-root-module=Automated"


SUITE = """
import pytest

pytestmark = pytest.mark.jira("QZ-1")

@pytest.mark.jira("QZ-2")
@pytest.mark.parametrize("n", range({count}))
def test_many(n):
    assert n >= 0

class TestFew:
    pytestmark = pytest.mark.jira("QZ-3")

    def test_fails(self):
        assert 1 == 2

    @pytest.mark.skip(reason="not today")
    def test_skipped(self):
        pass
"""


def test_a_3000_test_suite_uploads_in_slices_and_every_run_arrives_once(
    pytester: pytest.Pytester, sim: Simulator, octane_env: OctaneEnv
) -> None:
    pytester.makepyfile(test_big=SUITE.format(count=2998))
    result = pytester.runpytest(
        *octane_env.pytest_args(AUTOMATED, "--octane-slice-size=1000", "--octane-max-parallel=2")
    )
    result.assert_outcomes(passed=2998, failed=1, skipped=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # the suite's own failure, nothing more
    # 1000, 1000, then the last slice cut in two (875 sent while the last 125 tests run)
    result.stdout.fnmatch_lines(["*octane*", "*3000 runs in 4 slice(s)*", "*4 ok, 0 failed*"])
    runs = sim.runs()
    assert len(runs) == 3000
    assert not [
        k for k, n in collections.Counter((r["class"], r["name"]) for r in runs).items() if n > 1
    ]
    by_name = {r["name"]: r for r in runs}
    assert set(by_name["test_many[7]"]["covered_content"]) == {101, 102}
    assert set(by_name["test_fails"]["covered_content"]) == {101, 103}
    assert by_name["test_fails"]["status"] == "Failed"
    assert by_name["test_skipped"]["status"] == "Skipped"
    assert sim.counters["max_in_flight"] <= 2


def test_octane_unreachable_keeps_results_and_prints_the_resume_command(
    pytester: pytest.Pytester, sim: Simulator, octane_env: OctaneEnv, tmp_path: Path
) -> None:
    pytester.makepyfile(test_small=SUITE.format(count=5))
    url = sim.url
    sim.stop()
    result = pytester.runpytest(
        *octane_env.pytest_args(AUTOMATED, "--octane-connect-timeout=0.5", "--octane-backoff=0.01")
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # unchanged by the failed upload
    result.stdout.fnmatch_lines(["*pytest-octane resume * --task-store*"])
    job_files = list((tmp_path / "store").glob("*.json"))
    assert len(job_files) == 1
    job = json.loads(job_files[0].read_text())
    assert url  # the spooled slice is on disk, waiting
    assert all(Path(s["path"]).is_file() for s in job["slices"])


def test_strict_turns_a_failed_upload_into_a_failed_session(
    pytester: pytest.Pytester, sim: Simulator, octane_env: OctaneEnv
) -> None:
    pytester.makepyfile(test_ok="def test_ok():\n    pass\n")
    sim.stop()
    args = octane_env.pytest_args(
        AUTOMATED, "--octane-connect-timeout=0.5", "--octane-backoff=0.01"
    )
    assert pytester.runpytest(*args).ret == pytest.ExitCode.OK
    assert pytester.runpytest(*args, "--octane-strict").ret == pytest.ExitCode.TESTS_FAILED
