"""The pytest process only journals: no requests, no database driver, no connection; the
uploader process gets its settings through a pipe, with no secret in its argv or environment."""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
import textwrap
from pathlib import Path

import pytest

from pytest_octane.job.journal import read_journal
from pytest_octane.model import SliceStatus

# pytester drops the modules a test imports first, and SQLAlchemy cannot be imported twice
from pytest_octane.simulator import Simulator
from pytest_octane.store import open_store
from pytest_octane.store import sql as _sql  # noqa: F401  # before pytester's module snapshot:

pytest_plugins = ["pytester"]

TESTS = 30
pytestmark = pytest.mark.octane_simulator(processing_ms=10)

SUITE = f"""
import pytest


@pytest.mark.parametrize("n", range({TESTS}))
def test_n(n):
    assert n % 11, "fails"
"""

#: the inner session's conftest: any connection from the pytest process fails, and what it
#: imported is written down at the very end
NO_NETWORK_CONFTEST = """
import json
import os
import socket
import sys


def _refuse(*args, **kwargs):
    raise OSError("the pytest process must not open a connection")


socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
socket.create_connection = _refuse


def pytest_unconfigure(config):
    with open(os.environ["MODULES_OUT"], "w") as fh:
        json.dump(sorted(sys.modules), fh)
"""

#: the inner session's conftest: one test writes down its uploader child's argv and environment
CHILD_CONFTEST = """
import os
from pathlib import Path


def _children():
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        yield from (task / "children").read_text().split()


def pytest_runtest_call(item):
    if item.name != "test_n[3]":
        return
    for pid in _children():
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        if b"pytest_octane.uploader" in cmdline:
            Path(os.environ["CHILD_OUT"]).write_bytes(
                cmdline + b"\\n--environ--\\n" + Path(f"/proc/{pid}/environ").read_bytes()
            )
"""


def _run(pytester: pytest.Pytester, sim: Simulator, conftest: str, *extra: str) -> str:
    pytester.makepyfile(test_suite=textwrap.dedent(SUITE))
    pytester.makeconftest(textwrap.dedent(conftest))
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:randomly",
        f"--octane-url={sim.url}", "--octane-space=1001", "--octane-workspace=1002",
        "--octane-slice-size=10", *extra,
    )  # fmt: skip
    text = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, text  # the suite's own failures
    assert "Traceback" not in text, text
    return text


def test_the_pytest_process_imports_no_http_or_database_library_and_connects_nowhere(
    pytester: pytest.Pytester, sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    modules = tmp_path / "modules.json"
    monkeypatch.setenv("MODULES_OUT", str(modules))
    store = f"sqlite:///{tmp_path / 'tasks.db'}"  # a database store: its driver stays out too
    text = _run(pytester, sim, NO_NETWORK_CONFTEST, f"--octane-task-store={store}")
    assert "runs: 3 Failed, 27 Passed" in text
    imported = set(json.loads(modules.read_text()))
    assert "pytest_octane.plugin.uploading" in imported  # the check saw an upload session
    # issue 28: nor the XML writer (the uploader process writes the slices), nor http.client
    # and ssl (the task store's file: URLs pulled them in)
    for name in (
        *("requests", "urllib3", "sqlite3", "_sqlite3", "psycopg", "psycopg2", "lxml"),
        *("http.client", "ssl"),
    ):
        assert name not in imported, f"the pytest process imported {name}"
    assert not [m for m in imported if m.startswith("pytest_octane.octane.client")]
    sim.wait_for_tasks()
    assert len(sim.runs()) == TESTS
    opened = open_store(store)
    try:
        (job,) = opened.list_jobs()
    finally:
        opened.close()
    assert job.status is SliceStatus.SUCCESS and len(job.slices) == 3


@pytest.mark.skipif(
    not Path(f"/proc/{os.getpid()}/task").is_dir(), reason="reads the child through Linux /proc"
)
def test_the_uploader_gets_no_secret_through_its_argv_or_environment(
    pytester: pytest.Pytester, sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    child = tmp_path / "child.bin"
    monkeypatch.setenv("CHILD_OUT", str(child))
    monkeypatch.setenv("DEPLOY_DB_PASSWORD", "pw-" + sim.client_secret)  # not ours, secret
    monkeypatch.setenv("CI_DEPLOY_TOKEN", "token-" + sim.client_secret)
    _run(pytester, sim, CHILD_CONFTEST)
    cmdline, _, environ = child.read_bytes().partition(b"\n--environ--\n")
    assert cmdline.split(b"\0")[:-1] == [sys.executable.encode(), b"-m", b"pytest_octane.uploader"]
    names = [entry.partition(b"=")[0] for entry in environ.split(b"\0") if entry]
    assert b"PATH" in names
    assert not [n for n in names if n.upper().startswith(b"OCTANE_")], names
    assert b"CI_DEPLOY_TOKEN" not in names and b"DEPLOY_DB_PASSWORD" not in names
    assert sim.client_secret.encode() not in cmdline + environ
    sim.wait_for_tasks()
    assert len(sim.runs()) == TESTS  # it signed in all the same: through the pipe


def test_an_uploader_that_cannot_start_costs_no_test_and_says_so(
    pytester: pytest.Pytester, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # sys.modules' copy, the one the inner session imports (an earlier in-process session may
    # have left another on the package's attribute)
    uploading = importlib.import_module("pytest_octane.plugin.uploading")

    def cannot_start(stderr: object) -> None:
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(uploading, "_spawn", cannot_start)
    pytester.makepyfile(test_suite=textwrap.dedent(SUITE))
    result = pytester.runpytest(  # in this process, where _spawn is replaced
        "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:randomly",
        f"--octane-url={sim.url}", "--octane-space=1001", "--octane-workspace=1002",
    )  # fmt: skip
    text = result.stdout.str()
    result.assert_outcomes(passed=27, failed=3)  # the tests ran as if nothing happened
    assert "upload failed: the uploader failed (it could not be started: Cannot allocate" in text
    journal = re.search(r"nothing was uploaded; the results are in (\S+journal\.jsonl)", text)
    assert journal, text
    assert len(read_journal(Path(journal.group(1))).runs) == TESTS
    assert sim.request_log == []


MODIFY_CONFTEST = """
def pytest_octane_modify_run(run):
    from dataclasses import replace
    return replace(run, description=f"changed {run.name}")
"""


@pytest.mark.parametrize("hook", [False, True], ids=["lines-from-reports", "modify-run-hook"])
def test_the_journal_holds_each_run_as_the_session_made_it(
    pytester: pytest.Pytester, sim: Simulator, tmp_path: Path, hook: bool
) -> None:
    """Issue 28: without a hook that changes runs, each result is journaled as a line made
    straight from its reports; with one, as the run the hook returned.  --octane-started
    applies either way."""
    spool = tmp_path / "spool"
    started = "--octane-started=1700000000000"
    _run(pytester, sim, MODIFY_CONFTEST if hook else "", f"--octane-spool-dir={spool}", started)
    (path,) = spool.glob("*/journal.jsonl")
    runs = read_journal(path).runs
    assert sorted(run.name for run in runs) == sorted(f"test_n[{n}]" for n in range(TESTS))
    assert {run.started_ms for run in runs} == {1_700_000_000_000}
    failed = [run for run in runs if run.error is not None]
    assert len(failed) == 3 and all("fails" in run.error.message for run in failed)  # type: ignore[union-attr]
    described = {run.description for run in runs}
    assert described == ({f"changed {run.name}" for run in runs} if hook else {None})
    sim.wait_for_tasks()
    assert len(sim.runs()) == TESTS


#: the inner session's conftest: after the session, which pipes of child processes are open
PIPES_CONFTEST = """
import gc
import json
import os
import subprocess

import pytest


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    open_pipes = [
        [str(arg) for arg in process.args]
        for process in gc.get_objects()
        if isinstance(process, subprocess.Popen)
        and any(s is not None and not s.closed for s in (process.stdin, process.stdout))
    ]
    with open(os.environ["PIPES_OUT"], "w") as fh:
        json.dump(open_pipes, fh)
"""


def test_the_uploaders_pipes_are_closed_when_the_session_ends(
    pytester: pytest.Pytester, sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pipe left to the garbage collector warns (ResourceWarning) in whatever test runs
    when it is collected: each one is closed when the uploader has been waited for."""
    out = tmp_path / "pipes.json"
    monkeypatch.setenv("PIPES_OUT", str(out))
    _run(pytester, sim, PIPES_CONFTEST, f"--octane-spool-dir={tmp_path / 'spool'}")
    assert json.loads(out.read_text()) == []
