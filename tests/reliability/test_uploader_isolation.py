"""Issue 22's acceptance tests: the upload is immune to what the tests do to pytest's process,
and nothing that finished is lost when pytest dies.

Each test runs a small generated project (32 tests and a probe or two, slices of 5) in a real
pytest process against the bundled simulator, and counts the runs that arrived per test name:
every test that finished must arrive exactly once, and nothing that did not finish may.  What
"finished" means comes from the suite's own record (``tests/reliability/conftest.py``:
``start``/``done`` lines written by an autouse fixture): a test counts as certainly finished
once a later test started, or the session reached its end, since the plugin has its final
result (after teardown) before the next test starts.

Kills are placed by the suite itself: it writes a marker at the chosen point and waits there
(bounded) until the outer test kills it or lets it go on; nothing is synchronised by a sleep.
After a kill the outer test waits, bounded, until every process of pytest's process group has
ended: the uploader, orphaned, finishes its work first.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Isolation

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="signals, /proc, permission bits")

TESTS = 32  # the project's plain tests (the conftest's ISOLATION_TESTS), slices of 5
ALL = frozenset(f"test_t[{i:02d}]" for i in range(TESTS))


def isolation_name(index: int) -> str:
    return f"test_t[{index:02d}]"


def green(
    isolation: Isolation,
    scenario: str,
    *extra: str,
    probes: tuple[str, ...],
    env: dict[str, str] | None = None,
) -> None:
    """Run the project to its end; every test (the probes too) must arrive exactly once."""
    assert isolation.tests == TESTS
    outcome = isolation.run(*extra, env=env)
    progress = isolation.progress()
    expected = ALL | frozenset(probes)
    problems = []
    if progress.done != expected:
        problems.append(f"the suite finished {sorted(progress.done ^ expected)[:6]} unexpectedly")
    if outcome.returncode != 0:
        problems.append(f"pytest exited {outcome.returncode}, the suite is green")
    if "Traceback" in outcome.output or "failed unexpectedly" in outcome.output:
        problems.append("pytest-octane failed unexpectedly / a traceback was printed")
    isolation.check_exactly_once(
        scenario, must=expected, observed=str(outcome.returncode), extra_problems=problems
    )


# ---------------------------------------------------------------- what the tests do to pytest


def test_a_suite_that_mocks_requests_for_the_whole_session_uploads_every_run(
    isolation: Isolation,
) -> None:
    isolation.write(
        conftest="""
import requests
import responses


@pytest.fixture(scope="session", autouse=True)
def _mocked_requests():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock
""",
        tests=f'''
def test_requests_is_mocked():
    import requests

    with pytest.raises(requests.ConnectionError):
        requests.get("{isolation.sim.url}", timeout=5)
''',
    )
    green(isolation, "session mocks requests (responses)", probes=("test_requests_is_mocked",))


@posix_only
def test_a_suite_run_with_disable_socket_uploads_every_run(isolation: Isolation) -> None:
    """pytest-socket blocks every socket the tests open, loopback included; the upload's own
    connections to the simulator on 127.0.0.1 must not be the tests' to block."""
    isolation.write(
        tests=f"""
def test_loopback_is_blocked():
    from pytest_socket import SocketBlockedError

    with pytest.raises(SocketBlockedError):
        socket.create_connection(("127.0.0.1", {isolation.sim.port}), timeout=5)
""",
    )
    green(isolation, "--disable-socket", "--disable-socket", probes=("test_loopback_is_blocked",))


def test_a_suite_that_churns_os_environ_uploads_every_run(isolation: Isolation) -> None:
    """Python 3.11's getproxies() iterates os.environ; every test here sets and pops many
    variables in a tight loop, as pytest does with PYTEST_CURRENT_TEST, only more."""
    isolation.write(
        conftest="""

@pytest.fixture(autouse=True)
def _churn():
    names = [f"ISO_CHURN_{i}" for i in range(64)]
    for _ in range(40):
        for name in names:
            os.environ[name] = "x"
        for name in names:
            os.environ.pop(name)
    yield
    for _ in range(40):
        for name in names:
            os.environ[name] = "y"
        for name in names:
            os.environ.pop(name)
""",
        tests="""
def test_environ_was_churned():
    assert not [k for k in os.environ if k.startswith("ISO_CHURN_")]
""",
    )
    # a CI runner's environment is large (hundreds of variables): every iteration of
    # os.environ takes longer, so a thread iterating it is more often caught mid-way
    bulk = {f"ISO_BULK_{i}": "v" * 40 for i in range(2000)}
    green(
        isolation,
        "tests churn os.environ",
        probes=("test_environ_was_churned",),
        env=isolation.env(**bulk),
    )


def test_a_suite_that_freezes_the_clock_uploads_every_run(isolation: Isolation) -> None:
    isolation.write(
        conftest="""
import freezegun


@pytest.fixture(scope="session", autouse=True)
def _frozen_clock():
    freezer = freezegun.freeze_time("2020-02-02 02:02:02")
    freezer.start()
    yield
    freezer.stop()
""",
        tests="""
def test_the_clock_is_frozen():
    first = time.time()
    time.sleep(0.01)
    assert time.time() == first and time.gmtime(first).tm_year == 2020
""",
    )
    green(isolation, "session freezes the clock (freezegun)", probes=("test_the_clock_is_frozen",))


def test_a_suite_that_monkeypatches_requests_uploads_every_run(isolation: Isolation) -> None:
    isolation.write(
        conftest="""
import requests


@pytest.fixture(scope="session", autouse=True)
def _no_http():
    def refuse(self, method, url, *args, **kwargs):
        raise RuntimeError("this suite makes no HTTP request: " + url)

    patch = pytest.MonkeyPatch()
    patch.setattr(requests.Session, "request", refuse)
    yield
    patch.undo()
""",
        tests=f'''
def test_requests_is_patched():
    import requests

    with pytest.raises(RuntimeError, match="no HTTP request"):
        requests.get("{isolation.sim.url}", timeout=5)
''',
    )
    green(
        isolation, "session monkeypatches requests.Session.request",
        probes=("test_requests_is_patched",),
    )  # fmt: skip


# ---------------------------------------------------------------- pytest dies


@posix_only
@pytest.mark.parametrize(
    ("moment", "hold", "stream"),
    [
        ("during collection", "collect", "on"),
        ("mid-session (a partial slice of 2 held)", isolation_name(12), "on"),
        ("mid-session, --octane-stream=off", isolation_name(12), "off"),
        ("in the last partial slice", isolation_name(TESTS - 1), "on"),
    ],
)
def test_pytest_sigkilled_while_tests_run_loses_no_finished_test(
    isolation: Isolation, moment: str, hold: str, stream: str
) -> None:
    """Only pytest is killed (not its group); no command afterwards."""
    isolation.write()
    proc = isolation.start(f"--octane-stream={stream}", env=isolation.env(ISO_HOLD=hold))
    point = "collect" if hold == "collect" else "test"
    isolation.reached(point, proc)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    isolation.wait_group_gone(proc.pid)
    progress = isolation.progress()
    if hold == "collect":
        assert not progress.started
    else:
        assert progress.started[-1] == hold and hold not in progress.done
    isolation.check_exactly_once(
        f"pytest SIGKILLed {moment}, no command after",
        must=progress.confirmed,
        may=progress.done,
        details=f"finished before the kill: {len(progress.confirmed)}",
    )


@posix_only
def test_pytest_sigkilled_in_the_upload_phase_loses_no_finished_test(
    isolation: Isolation,
) -> None:
    """The tests are over; the last (partial) slice's upload is held by the simulator when
    pytest is killed."""
    isolation.write()
    assert isolation.tests == TESTS and isolation.slice_size == 5
    proc = isolation.start(env=isolation.env(ISO_HOLD="finish"))
    isolation.reached("finish", proc)
    full = TESTS - TESTS % 5
    isolation.wait_until(
        lambda: len(isolation.sim.runs()) >= full, what=f"the {full} runs of full slices"
    )
    isolation.sim.faults.add_latency("POST */test-results", 1500, count=1)
    isolation.release("finish")
    isolation.wait_until(
        lambda: not isolation.sim.faults.pending()["rules"] or proc.poll() is not None,
        what="the last slice's upload to reach the simulator",
    )
    assert proc.poll() is None, "pytest ended before the last slice was sent\n" + (
        isolation.output()
    )
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    isolation.wait_group_gone(proc.pid)
    progress = isolation.progress()
    assert progress.session_finished and progress.done == ALL
    isolation.check_exactly_once(
        "pytest SIGKILLed in the upload phase, no command after", must=progress.confirmed
    )


@posix_only
def test_process_group_sigkilled_then_resume_loses_no_finished_test(isolation: Isolation) -> None:
    """A CI cancel kills pytest and its uploader at once; ``resume`` finishes from what the
    killed session left on disk."""
    isolation.write()
    hold = isolation_name(17)  # slices 0-14 full, 15 and 16 in a partial one
    proc = isolation.start(env=isolation.env(ISO_HOLD=hold))
    isolation.reached("test", proc)
    os.killpg(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    isolation.wait_group_gone(proc.pid)
    jobs = isolation.job_ids()
    assert len(jobs) == 1, f"jobs in the store: {jobs}\n" + isolation.output()
    resumed = isolation.cli("resume", jobs[0], f"--task-store={isolation.store}")
    progress = isolation.progress()
    problems = [] if resumed.returncode == 0 else [f"resume exited {resumed.returncode}"]
    if "Traceback" in resumed.output:
        problems.append("resume printed a traceback")
    isolation.check_exactly_once(
        "process group SIGKILLed mid-session",
        follow_up="`resume`",
        must=progress.confirmed,
        may=progress.done,
        extra_problems=problems,
        details=resumed.describe(),
    )


# ---------------------------------------------------------------- the task store fails


@posix_only
def test_task_store_made_read_only_mid_session_loses_nothing_and_says_so(
    isolation: Isolation,
) -> None:
    """At test 12 the folder task store turns read-only (what a filesystem remounted
    read-only after an I/O error, or a full disk, looks like to the store: reads work, every
    write fails).  The spool (and the journal under it) stay writable."""
    probe = isolation.work / "probe"
    probe.mkdir()
    probe.chmod(0o555)
    try:
        prefix = isolation.unprivileged_prefix(probe)
    finally:
        probe.chmod(0o755)
    store = isolation.store
    isolation.write()
    # test files run in name order: a dozen tests, then the store turns read-only (the job
    # and its first slices are recorded by then), then the project's 32 tests
    (isolation.suite / "test_aa_first.py").write_text(
        f"""import os

import pytest


@pytest.mark.parametrize("k", range(12))
def test_first(k):
    assert k >= 0


def test_store_turns_read_only():
    for folder, _, files in [*os.walk({str(store)!r})]:
        os.chmod(folder, 0o555)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o444)
    with pytest.raises(PermissionError):
        open(os.path.join({str(store)!r}, "probe"), "w")
""",
        encoding="utf-8",
    )
    try:
        outcome = isolation.run("-q", prefix=prefix)
    finally:
        if store.exists():
            isolation.chmod_tree(store, 0o755)
            for path in store.rglob("*"):
                if path.is_file():
                    path.chmod(0o644)
    progress = isolation.progress()
    expected = progress.done
    assert len(expected) == TESTS + 13, sorted(expected)
    problems = []
    if outcome.returncode != 0:
        problems.append(f"pytest exited {outcome.returncode}, the suite is green")
    if "task store" not in outcome.stdout.lower():
        problems.append("pytest -q did not say the task store failed")
    jobs = isolation.job_ids()
    for job in jobs:
        status = isolation.cli("status", job, f"--task-store={store}")
        if "Traceback" in status.output:
            problems.append("status printed a traceback")
    isolation.check_exactly_once(
        "task store (folder) turned read-only mid-session",
        must=expected,
        observed=str(outcome.returncode),
        extra_problems=problems,
    )


# ---------------------------------------------------------------- what pytest's process holds


def test_the_pytest_process_imports_neither_requests_nor_sqlalchemy(isolation: Isolation) -> None:
    isolation.write()
    sqlite = f"sqlite:///{isolation.work / 'tasks.db'}"
    outcome = isolation.wait(
        isolation.start(f"--octane-task-store={sqlite}", env=isolation.env(ISO_MODULES="1"))
    )
    assert outcome.returncode == 0, outcome.describe()
    modules = set((isolation.work / "modules.txt").read_text(encoding="utf-8").split())
    http_or_db = ("requests", "urllib3", "sqlalchemy", "sqlite3", "psycopg")
    imported = sorted(m for m in modules if m.partition(".")[0] in http_or_db)
    assert len(isolation.arrived()) == TESTS, outcome.describe()
    assert not imported, f"pytest's own process imported {imported[:8]}"


@posix_only
@pytest.mark.parametrize("source", ["environment", "credentials file"])
def test_no_secret_in_a_child_process_argv_or_environment(
    isolation: Isolation, source: str
) -> None:
    """While the tests run, every process pytest started (the uploader) is read from /proc:
    the client secret is neither in its command line nor in its environment."""
    isolation.write()
    secret = isolation.sim.client_secret
    extra: list[str] = []
    env = isolation.env(ISO_HOLD=isolation_name(8))
    if source == "credentials file":
        creds = isolation.work / "credentials.json"
        creds.write_text(
            f'{{"client_id": "{isolation.sim.client_id}", "client_secret": "{secret}"}}',
            encoding="utf-8",
        )
        extra.append(f"--octane-credentials-path={creds}")
        env = isolation.env(credentials=False, ISO_HOLD=isolation_name(8))
    proc = isolation.start(*extra, env=env)
    isolation.reached("test", proc)
    children = isolation.descendants(proc.pid)
    leaks = []
    for pid in children:
        for part in ("cmdline", "environ"):
            try:
                data = Path(f"/proc/{pid}/{part}").read_bytes()
            except OSError:
                continue  # it ended while we looked
            if secret.encode() in data:
                leaks.append(f"{pid}/{part}")
    isolation.release("test")
    outcome = isolation.wait(proc)
    assert children, "pytest started no child process (no uploader process)"
    assert not leaks, f"the client secret is in /proc/{leaks}"
    assert outcome.returncode == 0, outcome.describe()
    assert len(isolation.arrived()) == TESTS, outcome.describe()
