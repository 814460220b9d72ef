"""Issue 28: the plugin imports what a session needs, when it needs it.

Each session runs in a subprocess (a fresh interpreter) whose conftest writes down, at the
very end, every module that session imported.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from octane_env import OctaneEnv

MODULES_CONFTEST = """
import json
import os
import sys


def pytest_unconfigure(config):
    with open(os.environ["MODULES_OUT"], "w") as fh:
        json.dump(sorted(sys.modules), fh)
"""


def _imported(
    pytester: pytest.Pytester, out: Path, *args: str, ret: int = pytest.ExitCode.OK
) -> set[str]:
    pytester.makeconftest(MODULES_CONFTEST)
    pytester.makepyfile(test_a="def test_a():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", *args)
    assert result.ret == ret, result.stdout.str() + result.stderr.str()
    return set(json.loads(out.read_text()))


@pytest.fixture
def modules_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    out = tmp_path / "modules.json"
    monkeypatch.setenv("MODULES_OUT", str(out))
    for name in ("OCTANE_SPACE", "PYTEST_ADDOPTS"):
        monkeypatch.delenv(name, raising=False)
    return out


def test_an_inactive_plugin_imports_no_collector_model_or_xml_writer(
    pytester: pytest.Pytester, modules_out: Path
) -> None:
    imported = _imported(pytester, modules_out)
    assert "pytest_octane.plugin" in imported  # the entry point was loaded
    for name in (
        "pytest_octane.plugin.collect",
        "pytest_octane.plugin.reporter",
        "pytest_octane.model",
        "pytest_octane.reported",
        "pytest_octane.settings.resolve",  # the option table only: nothing is resolved
        "lxml",
    ):
        assert name not in imported, f"an inactive plugin imported {name}"


def test_a_dry_run_imports_the_xml_writer_only_when_it_writes(
    pytester: pytest.Pytester, modules_out: Path
) -> None:
    written = _imported(pytester, modules_out, f"--octane-dry-run={pytester.path / 'out'}")
    assert "pytest_octane.plugin.reporter" in written
    assert "pytest_octane.octane.results_xml" in written
    # plain runs are written as text: lxml is for pytest-bdd scenarios only
    assert not {name for name in written if name == "lxml" or name.startswith("lxml.")}
    # a dry run journals nothing and records no job: neither module is imported
    assert "pytest_octane.job.journal" not in written
    assert "pytest_octane.records" not in written
    # its test passed: what its reports said is written, no TestRun is made
    assert "pytest_octane.model" not in written
    # no scenario to write, and no upload to wait for at the end
    assert "pytest_octane.octane.gherkin_xml" not in written
    assert "pytest_octane.job.interrupt" not in written
    # pytest-bdd's part only for a scenario (pytest-bdd itself may be installed)
    assert "pytest_octane.plugin.bdd" not in written
    assert (pytester.path / "out" / "slice-0001.xml").is_file()
    nothing = _imported(
        pytester, modules_out, "--octane-dry-run=-", "-k", "no_such_test", ret=5
    )  # every test deselected: exit code 5, no run
    assert "pytest_octane.plugin.reporter" in nothing  # active, but no run to write
    assert "lxml" not in nothing and "pytest_octane.octane.results_xml" not in nothing


def test_an_upload_of_passing_tests_builds_no_record_in_pytests_process(
    pytester: pytest.Pytester, modules_out: Path, octane_env: OctaneEnv
) -> None:
    """The uploader process makes the runs, records the job and words the summary: pytest's
    process journals what the reports said and prints what the uploader told it."""
    imported = _imported(pytester, modules_out, *octane_env.pytest_args())
    assert "pytest_octane.plugin.uploading" in imported and "pytest_octane.job.journal" in imported
    for name in (
        "pytest_octane.model",  # no TestRun
        "pytest_octane.records",  # no JobRecord: the summary came as text
        "pytest_octane.job.outcome",
        "pytest_octane.job.evidence.files",  # no file was attached
        "pytest_octane.octane.results_xml",  # the uploader writes the slices
        "requests",
        "lxml",
    ):
        assert name not in imported, f"an upload imported {name} in pytest's process"


def test_the_upload_finished_hook_gets_the_jobs_record(
    pytester: pytest.Pytester, modules_out: Path, octane_env: OctaneEnv
) -> None:
    """The job's record is made in pytest's process only for a plugin that asks for it."""
    pytester.makepyfile(
        hook_plugin="""
import json, os

def pytest_octane_upload_finished(job):
    with open(os.environ["MODULES_OUT"] + ".job", "w") as fh:
        json.dump({"job_id": job.job_id, "slices": [s.status.value for s in job.slices]}, fh)
"""
    )
    pytester.syspathinsert()
    imported = _imported(pytester, modules_out, "-p", "hook_plugin", *octane_env.pytest_args())
    assert "pytest_octane.records" in imported
    job = json.loads(Path(f"{modules_out}.job").read_text())
    assert job["slices"] == ["Success"] and job["job_id"].startswith("20")


def test_the_plugins_modules_are_imported_without_assertion_rewriting(
    pytester: pytest.Pytester,
) -> None:
    """pytest would load each of them through its assertion rewriter (issue 28: 35 M
    instructions of a dry run's start); the tests' own asserts are still rewritten."""
    pytester.makeconftest(
        """
import sys

def pytest_unconfigure(config):
    rewritten = sorted(name for name, module in sys.modules.items() if name.startswith(
        "pytest_octane") and type(module.__loader__).__name__ != "SourceFileLoader")
    print("REWRITTEN", rewritten)
"""
    )
    pytester.makepyfile(test_a="def test_a():\n    left = 1\n    assert left == 2\n")
    out = pytester.path / "out"
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-s", f"--octane-dry-run={out}"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["E   *assert 1 == 2", "REWRITTEN *"])  # the test's: rewritten
    line = next(line for line in result.stdout.lines if line.startswith("REWRITTEN"))
    rewritten = set(ast.literal_eval(line.removeprefix("REWRITTEN ")))
    if not rewritten and int(pytest.__version__.split(".")[0]) < 8:
        pytest.skip("pytest 7 does not rewrite an editable install's plugin: nothing to opt out of")
    assert "pytest_octane.plugin" in rewritten  # the entry point: imported before its hooks
    session_modules = (
        "pytest_octane.hookspecs",
        "pytest_octane.settings.resolve",
        "pytest_octane.plugin.reporter",
        "pytest_octane.plugin.collect",
        "pytest_octane.octane.results_xml",
    )
    assert not rewritten.intersection(session_modules), rewritten
