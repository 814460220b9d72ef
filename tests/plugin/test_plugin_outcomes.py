"""Every pytest outcome becomes exactly one Octane run with the right status and details."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest

OUTCOMES = """
    import sys
    import pytest

    def test_pass():
        pass

    def test_fail():
        raise ValueError("boom: the value was 42")

    @pytest.fixture
    def broken_setup():
        raise KeyError("no such fixture data")

    def test_setup_error(broken_setup):
        pass

    @pytest.fixture
    def broken_teardown():
        yield
        raise RuntimeError("cleanup failed")

    def test_teardown_error(broken_teardown):
        pass

    def test_fail_and_teardown_error(broken_teardown):
        raise AssertionError("call failed first")

    @pytest.mark.skip(reason="not on this platform")
    def test_skip():
        pass

    @pytest.mark.skipif(sys.version_info > (3,), reason="python 3 has no need")
    def test_skipif():
        pass

    def test_importorskip():
        pytest.importorskip("no_such_module_pytest_octane")

    def test_skip_inside():
        pytest.skip("decided at run time")

    @pytest.mark.xfail(reason="bug 17")
    def test_xfail():
        assert 1 == 2

    def test_xfail_inside():
        pytest.xfail("known to break")

    @pytest.mark.xfail(reason="fixed already?", strict=True)
    def test_xpass_strict():
        pass

    @pytest.mark.xfail(reason="flaky fix", strict=False)
    def test_xpass_lenient():
        pass
"""


@pytest.fixture
def outcomes(pytester: pytest.Pytester, run_and_parse):
    pytester.makepyfile(test_outcomes=OUTCOMES)
    return run_and_parse()


def test_each_outcome_has_its_status(outcomes) -> None:
    assert outcomes.result.ret == pytest.ExitCode.TESTS_FAILED
    assert outcomes.statuses() == {
        "test_pass": "Passed",
        "test_fail": "Failed",
        "test_setup_error": "Failed",
        "test_teardown_error": "Failed",
        "test_fail_and_teardown_error": "Failed",
        "test_skip": "Skipped",
        "test_skipif": "Skipped",
        "test_importorskip": "Skipped",
        "test_skip_inside": "Skipped",
        "test_xfail": "Skipped",
        "test_xfail_inside": "Skipped",
        "test_xpass_strict": "Failed",
        "test_xpass_lenient": "Passed",
    }
    assert len(outcomes.slices) == 1
    assert "dry run: 13 test runs in 1 slice(s)" in outcomes.result.stdout.str()


def test_passed_run_has_no_error_or_description(outcomes) -> None:
    run = outcomes.run("test_pass")
    assert run.find("error") is None
    assert run.find("description") is None
    assert run.get("class") == "test_outcomes"
    assert run.get("package") is None  # a module at the rootdir has no package


def test_call_failure_carries_type_message_and_trace(outcomes) -> None:
    error = outcomes.run("test_fail").find("error")
    assert error.get("type") == "ValueError"
    assert error.get("message") == "boom: the value was 42"
    assert 'raise ValueError("boom: the value was 42")' in error.text
    assert "test_outcomes.py:" in error.text


def test_setup_error_takes_the_fixture_exception(outcomes) -> None:
    run = outcomes.run("test_setup_error")
    error = run.find("error")
    assert error.get("type") == "KeyError"
    assert "no such fixture data" in error.get("message")
    assert 'raise KeyError("no such fixture data")' in error.text
    assert run.findtext("description") == "error in setup"


def test_teardown_error_after_a_passing_call_fails_the_run(outcomes) -> None:
    run = outcomes.run("test_teardown_error")
    assert run.find("error").get("type") == "RuntimeError"
    assert run.find("error").get("message") == "cleanup failed"
    assert run.findtext("description") == "error in teardown"


def test_call_failure_wins_over_a_later_teardown_error(outcomes) -> None:
    error = outcomes.run("test_fail_and_teardown_error").find("error")
    assert error.get("type") == "AssertionError"
    assert error.get("message") == "call failed first"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("test_skip", "not on this platform"),
        ("test_skipif", "python 3 has no need"),
        ("test_importorskip", "could not import 'no_such_module_pytest_octane'"),
        ("test_skip_inside", "decided at run time"),
        ("test_xfail", "xfail: bug 17"),
        ("test_xfail_inside", "xfail: known to break"),
    ],
)
def test_skip_reasons_go_into_the_description(outcomes, name: str, reason: str) -> None:
    run = outcomes.run(name)
    assert run.findtext("description", "").startswith(reason)
    assert run.find("error") is None


def test_strict_xpass_is_a_failure_with_the_reason(outcomes) -> None:
    error = outcomes.run("test_xpass_strict").find("error")
    assert "XPASS(strict)" in error.get("message")
    assert "fixed already?" in error.get("message")


def test_run_count_equals_junitxml_testcases(pytester: pytest.Pytester, run_and_parse) -> None:
    pytester.makepyfile(test_outcomes=OUTCOMES)
    pytester.makepyfile(
        test_module_skip="""
        import pytest
        pytest.importorskip("no_such_module_at_module_level")

        def test_never():
            pass
        """
    )
    junit = pytester.path / "junit.xml"
    dry = run_and_parse(f"--junitxml={junit}")
    # junitxml writes a second <testcase> for a teardown error after a failed call: compare
    # distinct test cases
    testcases = {
        (case.get("classname"), case.get("name"))
        for case in ElementTree.parse(junit).getroot().iter("testcase")
    }
    assert len(dry.runs) == len(testcases) == 14
    module_skip = dry.run("test_module_skip.py")
    assert module_skip.get("status") == "Skipped"
    assert "no_such_module_at_module_level" in module_skip.findtext("description")


def test_collection_error_is_a_failed_run_named_after_the_module(
    pytester: pytest.Pytester,
    run_and_parse,
) -> None:
    pytester.makepyfile(
        test_ok="def test_fine():\n    pass\n",
        test_broken="import no_such_module_for_octane\n\ndef test_unreached():\n    pass\n",
    )
    pytester.mkdir("sub")
    pytester.path.joinpath("sub", "test_raises.py").write_text(
        "raise RuntimeError('module level boom')\n", encoding="utf-8"
    )
    dry = run_and_parse("--continue-on-collection-errors")
    assert dry.statuses() == {
        "test_fine": "Passed",
        "test_broken.py": "Failed",
        "test_raises.py": "Failed",
    }
    broken = dry.run("test_broken.py").find("error")
    assert broken.get("type") == "ModuleNotFoundError"
    assert "no_such_module_for_octane" in broken.get("message")
    assert "no_such_module_for_octane" in broken.text
    raises = dry.run("test_raises.py")
    assert raises.find("error").get("type") == "RuntimeError"
    assert raises.find("error").get("message") == "module level boom"
    assert (raises.get("package"), raises.get("class")) == ("sub", "test_raises")
    assert dry.slices[0].find("test_runs/test_run[@name='test_raises.py']") is not None
    for name in ("test_broken.py", "test_raises.py"):
        started = int(dry.run(name).get("started"))
        assert dry.started_before_ms - 1000 <= started <= dry.finished_after_ms + 1000


def test_collection_error_that_stops_the_session_is_not_dropped(
    pytester: pytest.Pytester, run_and_parse
) -> None:
    pytester.makepyfile(
        test_ok="def test_fine():\n    pass\n",
        test_broken="def test_x(:\n    pass\n",  # a syntax error
    )
    dry = run_and_parse()
    assert dry.result.ret == pytest.ExitCode.INTERRUPTED
    assert dry.statuses() == {"test_broken.py": "Failed"}
    assert "SyntaxError" in dry.run("test_broken.py").find("error").text


def test_duration_sums_setup_call_and_teardown(pytester: pytest.Pytester, run_and_parse) -> None:
    pytester.makepyfile(
        """
        import time
        import pytest

        @pytest.fixture
        def slow():
            time.sleep(0.02)
            yield
            time.sleep(0.02)

        def test_sleepy():
            time.sleep(0.05)

        def test_three_phases(slow):
            time.sleep(0.02)
        """
    )
    dry = run_and_parse()
    assert int(dry.run("test_sleepy").get("duration")) >= 40
    # each phase sleeps 20 ms: only their sum reaches 55
    assert int(dry.run("test_three_phases").get("duration")) >= 55
    for run in dry.runs:
        started = int(run.get("started"))
        assert dry.started_before_ms - 1000 <= started <= dry.finished_after_ms + 1000


def test_plugin_is_inert_unless_enabled(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        def pytest_terminal_summary(terminalreporter, config):
            pm = config.pluginmanager
            terminalreporter.write_line(
                f"OCTANE-PLUGINS reporter={pm.has_plugin('octane-reporter')} "
                f"enricher={pm.has_plugin('octane-enricher')}"
            )
        """
    )
    pytester.makepyfile("def test_one():\n    pass\n")
    before = {p.relative_to(pytester.path) for p in pytester.path.rglob("*")}
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["OCTANE-PLUGINS reporter=False enricher=False"])
    own_lines = [
        line
        for line in result.outlines
        if "octane" in line.lower() and not line.startswith(("plugins:", "OCTANE-PLUGINS"))
    ]
    assert own_lines == []
    after = {p.relative_to(pytester.path) for p in pytester.path.rglob("*")}
    written = {p for p in after - before if "__pycache__" not in p.parts}
    assert written == set()


def test_plugin_is_registered_when_dry_run_is_on(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        def pytest_terminal_summary(terminalreporter, config):
            pm = config.pluginmanager
            terminalreporter.write_line(f"OCTANE-REPORTER={pm.has_plugin('octane-reporter')}")
        """
    )
    pytester.makepyfile("def test_one():\n    pass\n")
    result = pytester.runpytest(f"--octane-dry-run={pytester.path / 'out'}")
    result.stdout.fnmatch_lines(["OCTANE-REPORTER=True"])


def test_modify_run_hook_from_conftest_changes_the_xml(
    pytester: pytest.Pytester, run_and_parse
) -> None:
    pytester.makeconftest(
        """
        import dataclasses

        def pytest_octane_modify_run(run):
            if run.name == "test_renamed":
                return dataclasses.replace(run, name="a better name", description="by hook")
            return None
        """
    )
    pytester.makepyfile("def test_renamed():\n    pass\n\ndef test_kept():\n    pass\n")
    dry = run_and_parse()
    assert sorted(dry.names()) == ["a better name", "test_kept"]
    assert dry.run("a better name").findtext("description") == "by hook"
    assert dry.run("test_kept").find("description") is None


@pytest.mark.parametrize("value", ["float('inf')", "float('nan')", "-5.0", "1e30"])
def test_an_impossible_report_time_is_written_as_zero(
    pytester: pytest.Pytester, run_and_parse, value: str
) -> None:
    """A plugin may put any number on a report (issue 24 point 1): never an OverflowError,
    always a valid ``xs:long`` (the run keeps its status; its time is written as 0)."""
    pytester.makeconftest(
        f"""
        import pytest

        @pytest.hookimpl(tryfirst=True)
        def pytest_runtest_logreport(report):
            if report.nodeid.endswith("test_odd"):
                report.duration = {value}
                report.start = {value}
        """
    )
    pytester.makepyfile(test_times="def test_odd():\n    pass\n\ndef test_fine():\n    pass\n")
    dry = run_and_parse()
    assert dry.result.ret == pytest.ExitCode.OK
    assert "INTERNALERROR" not in dry.result.stdout.str()
    odd = dry.run("test_odd")
    assert (odd.get("status"), odd.get("duration"), odd.get("started")) == ("Passed", "0", "0")
