"""pytest-xdist and pytest-rerunfailures change how reports arrive, never which runs come out."""

from __future__ import annotations

import pytest

SUITE = """
    import pytest

    pytestmark = pytest.mark.jira("MOD-1")

    @pytest.fixture
    def broken():
        raise OSError("disk gone")

    @pytest.mark.parametrize("n", range(6))
    def test_many(n):
        assert n != 4, "four is unlucky"

    @pytest.mark.jira("FN-2")
    def test_setup_error(broken):
        pass

    @pytest.mark.skip(reason="later")
    def test_skipped():
        pass

    @pytest.mark.xfail(reason="known", strict=True)
    def test_xpass_strict():
        pass

    @pytest.mark.jira("CLS-3")
    class TestGroup:
        def test_a(self):
            pass

        @pytest.mark.jira("FN-4")
        def test_b(self):
            pass
"""


def test_xdist_runs_equal_a_serial_run(pytester: pytest.Pytester, run_and_parse) -> None:
    pytester.makepyfile(test_suite=SUITE)
    serial = run_and_parse()
    parallel = run_and_parse("-n", "2", subprocess=True)
    assert "2 workers" in parallel.result.stdout.str()
    assert len(serial.runs) == 11
    assert parallel.identities() == serial.identities()
    assert parallel.jira_keys == serial.jira_keys
    assert parallel.jira_keys["test_suite.py::TestGroup::test_b"] == ["FN-4", "CLS-3", "MOD-1"]
    # one set of slices, written by the controller only
    assert sorted(p.name for p in parallel.folder.iterdir()) == [
        "jira-keys.json",
        "slice-0001.xml",
    ]
    assert parallel.result.stdout.str().count("dry run: 11 test runs") == 1
    error = parallel.run("test_setup_error").find("error")
    assert (error.get("type"), error.get("message")) == ("OSError", "disk gone")


RERUN = """
    import pytest

    attempts = {"flaky": 0}

    def test_flaky():
        attempts["flaky"] += 1
        assert attempts["flaky"] >= 3, f"attempt {attempts['flaky']}"

    def test_always_fails():
        raise ValueError("never works")

    @pytest.fixture
    def flaky_setup():
        attempts.setdefault("setup", 0)
        attempts["setup"] += 1
        if attempts["setup"] < 2:
            raise RuntimeError("setup flakes once")

    def test_flaky_setup(flaky_setup):
        pass

    def test_steady():
        pass
"""


def test_reruns_count_only_the_final_attempt(pytester: pytest.Pytester, run_and_parse) -> None:
    pytester.makepyfile(test_rerun=RERUN)
    dry = run_and_parse("--reruns", "2")
    outcomes = dry.result.parseoutcomes()
    assert outcomes["rerun"] == 5  # flaky 2, always_fails 2, flaky_setup 1
    assert sorted(dry.names()) == [
        "test_always_fails",
        "test_flaky",
        "test_flaky_setup",
        "test_steady",
    ]
    assert dry.statuses() == {
        "test_flaky": "Passed",
        "test_always_fails": "Failed",
        "test_flaky_setup": "Passed",
        "test_steady": "Passed",
    }
    assert dry.run("test_always_fails").find("error").get("message") == "never works"
    assert dry.run("test_flaky").find("error") is None
