"""pytest-bdd scenarios uploaded by the plugin: the simulator stores one Gherkin run per feature."""

from __future__ import annotations

import pytest

import pytest_octane.job.engine  # noqa: F401  (see test_plugin_upload.py)
from pytest_octane.simulator import Simulator
from tests.bdd_suite import OUTCOMES, make_bdd_suite
from tests.octane_env import OctaneEnv, qz_stories

pytestmark = pytest.mark.octane_simulator(stories=qz_stories(7, 8, 9), processing_ms=10)


pytest.importorskip("pytest_bdd")


@pytest.mark.parametrize("xdist", [False, True], ids=["serial", "xdist"])
def test_features_upload_as_gherkin_runs_linked_to_their_stories(
    pytester: pytest.Pytester, sim: Simulator, octane_env: OctaneEnv, xdist: bool
) -> None:
    make_bdd_suite(pytester)
    if xdist:
        result = pytester.runpytest_subprocess(*octane_env.pytest_args(), "-n", "2", timeout=120)
    else:
        result = pytester.runpytest(*octane_env.pytest_args())
    result.assert_outcomes(**OUTCOMES)
    result.stdout.fnmatch_lines(["*9 runs in 3 slice(s)*", "*3 ok, 0 failed*"])
    gherkin = {run["name"]: run for run in sim.gherkin_runs()}
    assert {name: run["status"] for name, run in gherkin.items()} == {
        "Shopping cart": "Failed",
        "Login": "Passed",
    }
    assert sum(len(run["scenarios"]) for run in gherkin.values()) == 7
    # a gherkin_test_run links through its document: each feature to its own stories
    assert gherkin["Shopping cart"]["covered_content"] == [107]
    assert gherkin["Login"]["covered_content"] == [108]
    assert gherkin["Shopping cart"]["background"][0]["name"] == "Given an empty cart"
    assert {r["name"]: r["status"] for r in sim.runs()} == {
        "test_plain_passes": "Passed",
        "test_plain_fails": "Failed",
    }


def test_a_second_upload_adds_runs_to_the_same_gherkin_test_per_feature(
    pytester: pytest.Pytester, sim: Simulator, octane_env: OctaneEnv
) -> None:
    make_bdd_suite(pytester)
    pytester.runpytest(*octane_env.pytest_args()).assert_outcomes(**OUTCOMES)
    pytester.runpytest(*octane_env.pytest_args()).assert_outcomes(**OUTCOMES)
    runs = sim.gherkin_runs()
    assert len(runs) == 4
    tests_by_feature = {(run["feature_path"], run["test_id"]) for run in runs}
    assert sorted(path for path, _ in tests_by_feature) == [
        "features/login.feature",
        "features/shop.feature",
    ]
