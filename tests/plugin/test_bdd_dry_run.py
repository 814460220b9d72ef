"""pytest-bdd scenarios in a dry run: a gherkin_test_run per feature file, apart from plain runs."""

from __future__ import annotations

import pytest
from lxml import etree

from tests.bdd_suite import OUTCOMES, SHOP, make_bdd_suite

pytest.importorskip("pytest_bdd")

SCENARIOS = {
    "Add one item": "Passed",
    "Add several items [count=2]": "Passed",
    "Add several items [count=3]": "Passed",
    "Add several items [count=5]": "Passed",
    "Remove from an empty cart": "Failed",
    "Good password": "Passed",
    "Single sign-on": "Skipped",
}


def _gherkin_runs(slices: list[etree._Element]) -> list[etree._Element]:
    return [run for root in slices for run in root.iter("gherkin_test_run")]


def _scenarios(slices: list[etree._Element]) -> dict[str, etree._Element]:
    found = [s for run in _gherkin_runs(slices) for s in run.iter("scenario")]
    by_name = {str(s.get("name")): s for s in found}
    assert len(by_name) == len(found), "scenario names must be unique"
    return by_name


@pytest.mark.parametrize("xdist", [False, True], ids=["serial", "xdist"])
def test_two_features_become_two_gherkin_runs_of_seven_scenarios(
    pytester: pytest.Pytester, run_and_parse, xdist: bool
) -> None:
    make_bdd_suite(pytester)
    args = ("-n", "2") if xdist else ()
    dry = run_and_parse(*args, subprocess=xdist, check_count=False)
    dry.result.assert_outcomes(**OUTCOMES)
    for root in dry.slices:  # the XSD's choice: one kind of run per slice
        kinds = {child.tag for child in root.find("test_runs")}
        assert len(kinds) == 1, kinds
    assert sorted(dry.statuses().items()) == [
        ("test_plain_fails", "Failed"),
        ("test_plain_passes", "Passed"),
    ]
    features = {str(run.get("name")): run for run in _gherkin_runs(dry.slices)}
    assert {name: run.get("status") for name, run in features.items()} == {
        "Shopping cart": "Failed",
        "Login": "Passed",
    }
    scenarios = _scenarios(dry.slices)
    assert {name: s.get("status") for name, s in scenarios.items()} == SCENARIOS
    assert [scenarios[f"Add several items [count={n}]"].get("outlineIndex") for n in (2, 3, 5)] == [
        "1",
        "2",
        "3",
    ]
    assert scenarios["Add one item"].get("outlineIndex") is None

    shop = features["Shopping cart"].find("feature")
    assert shop.get("path") == "features/shop.feature"
    assert shop.findtext("file") == SHOP
    background = shop.findall("scenarios/background/steps/step")
    assert [(s.get("name"), s.get("status")) for s in background] == [
        ("Given an empty cart", "passed")
    ]
    remove = [
        (s.get("name"), s.get("status"))
        for s in scenarios["Remove from an empty cart"].iter("step")
    ]
    assert remove == [
        ("When I remove 1 apple", "failed"),
        ("Then the cart holds 0 item", "skipped"),
    ]
    error = scenarios["Remove from an empty cart"].findtext("steps/step/error_message")
    assert "ValueError: cannot remove from an empty cart" in error
    assert [s.get("status") for s in scenarios["Single sign-on"].iter("step")] == ["skipped"] * 2
    assert all(s.get("duration", "").isdigit() for s in shop.iter("step"))
    # markers and @KEY tags (feature and scenario) are the runs' JIRA keys
    assert dry.jira_keys == {
        "test_plain.py::test_plain_passes": ["QZ-9"],
        "test_steps.py::test_remove_from_an_empty_cart": ["QZ-7"],
        "test_steps.py::test_good_password": ["QZ-8"],
        "test_steps.py::test_single_signon": ["QZ-8"],
    }


def test_slicing_keeps_a_feature_whole_and_never_mixes_kinds(
    pytester: pytest.Pytester, run_and_parse
) -> None:
    make_bdd_suite(pytester)
    dry = run_and_parse("--octane-slice-size=2", check_count=False)
    shapes = [
        sorted((child.tag, len(child.findall(".//scenario"))) for child in root.find("test_runs"))
        for root in dry.slices
    ]
    # the 5 scenarios of shop.feature stay together although slices hold 2 runs
    assert shapes == [
        [("test_run", 0), ("test_run", 0)],
        [("gherkin_test_run", 2)],
        [("gherkin_test_run", 5)],
    ]


def test_the_jira_tag_pattern_picks_which_tags_are_keys(
    pytester: pytest.Pytester, run_and_parse
) -> None:
    make_bdd_suite(pytester)
    dry = run_and_parse("--octane-jira-tag-pattern=QZ-7", check_count=False)
    assert dry.jira_keys == {
        "test_plain.py::test_plain_passes": ["QZ-9"],
        "test_steps.py::test_remove_from_an_empty_cart": ["QZ-7"],
    }


def test_a_bad_jira_tag_pattern_is_a_one_line_usage_error(pytester: pytest.Pytester) -> None:
    make_bdd_suite(pytester)
    result = pytester.runpytest("--octane-dry-run=out", "--octane-jira-tag-pattern=QZ-[")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--octane-jira-tag-pattern*'QZ-[' is not a valid regular expression*"]
    )
    assert "Traceback" not in result.stderr.str()


def test_without_pytest_bdd_plain_tests_upload_as_before_and_it_is_never_imported(
    pytester: pytest.Pytester, run_and_parse
) -> None:
    pytester.makeconftest(
        """
        import sys

        def pytest_sessionfinish():
            assert "pytest_bdd" not in sys.modules, "pytest-octane imported pytest_bdd"
        """
    )
    pytester.makepyfile(test_plain="def test_one():\n    pass\n")
    dry = run_and_parse("-p", "no:pytest-bdd", subprocess=True)
    dry.result.assert_outcomes(passed=1)
    assert dry.names() == ["test_one"]
    assert dry.result.ret == 0


def test_a_missing_step_definition_fails_that_step_and_skips_the_rest(
    pytester: pytest.Pytester, run_and_parse
) -> None:
    (pytester.mkdir("features") / "odd.feature").write_text(
        "Feature: Odd\n  Scenario: Undefined\n    Given a known step\n"
        "    When nobody wrote this step\n    Then nothing more\n",
        encoding="utf-8",
    )
    pytester.makepyfile(
        test_odd="""
        from pytest_bdd import given, scenario

        @scenario("features/odd.feature", "Undefined")
        def test_undefined():
            pass

        @given("a known step")
        def known():
            pass
        """
    )
    dry = run_and_parse(check_count=False)
    dry.result.assert_outcomes(failed=1)
    steps = [
        (s.get("name"), s.get("status")) for s in _scenarios(dry.slices)["Undefined"].iter("step")
    ]
    assert steps == [
        ("Given a known step", "passed"),
        ("When nobody wrote this step", "failed"),
        ("Then nothing more", "skipped"),
    ]
    assert "Step definition is not found" in _scenarios(dry.slices)["Undefined"].findtext(
        ".//error_message"
    )


_REGISTERED_CONFTEST = """
def pytest_sessionfinish(session):
    registered = session.config.pluginmanager.get_plugin("octane-bdd") is not None
    session.config.rootpath.joinpath("registered.txt").write_text(str(registered))
"""


@pytest.mark.parametrize("with_scenarios", [False, True], ids=["plain", "scenarios"])
def test_the_bdd_collector_is_registered_only_for_a_suite_with_scenarios(
    pytester: pytest.Pytester, run_and_parse, with_scenarios: bool
) -> None:
    """Issue 28: its report wrapper costs each test three calls, so a suite without
    scenarios (pytest-bdd merely installed) must not get it."""
    if with_scenarios:
        make_bdd_suite(pytester)
    else:
        pytester.makepyfile(test_plain="def test_a():\n    pass\n")
    pytester.makeconftest(_REGISTERED_CONFTEST)
    dry = run_and_parse(check_count=False)
    assert (pytester.path / "registered.txt").read_text() == str(with_scenarios)
    assert bool(_gherkin_runs(dry.slices)) is with_scenarios
