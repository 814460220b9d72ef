"""The reliability proof's harness: a generated suite, simulators, runners and the two tables.

Every fault scenario runs a real pytest process on a generated suite of 300 tests against an
in-process Octane simulator (the simulator lives in this process, so faults can be armed at
an exact request), then follows the command the summary printed, and finally compares what
"Octane" holds with what the suite produced and with what the task store says.

Both tables (fault matrix, bad inputs) are collected while the tests run and printed as
Markdown at the end of the session; ``PYTEST_OCTANE_REL_REPORT=path`` also writes them to a
file.  docs/reliability.md is copied from that output.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from pytest_octane.job.journal import read_journal
from pytest_octane.job.run.journaled import journal_of
from pytest_octane.model import SliceStatus
from pytest_octane.octane import schema
from pytest_octane.simulator import Simulator
from pytest_octane.store import open_store
from tests.octane_env import OctaneEnv

SUITE_FILES = 6
RUNS_PER_FILE = 50
STORIES = [f"REL-{i}" for i in range(1, SUITE_FILES + 1)]
ROOT_MODULE = "Reliability"
BUILD_SERVER = "rel-ci"
BUILD_ID = "1"
DATA_BAD = Path(__file__).resolve().parent.parent / "data" / "bad"
XSD_PATH = Path(__file__).resolve().parents[3] / "shared" / "octane" / "octaneResultSchema.xsd"
REPORT_ENV = "PYTEST_OCTANE_REL_REPORT"
SUBPROCESS_TIMEOUT = 120

#: First transient back-off wait (it doubles per try): short, so faults cost little time.
BACKOFF_S = "0.05"

Identity = tuple[str, str, str, str]  # module, package, class, name


# ---------------------------------------------------------------- the generated suite

_SUITE_MODULE = '''\
"""Generated suite file {index}: 50 items of every outcome pytest has."""
import os

import pytest

GREEN = os.environ.get("REL_GREEN") == "1"
if os.environ.get("REL_NO_JIRA") != "1":
    pytestmark = pytest.mark.jira("REL-{index}")


@pytest.mark.parametrize("n", range(30))
def test_param(n):
    assert n >= 0


class TestGroup:
    @pytest.mark.parametrize("k", range(10))
    def test_member(self, k):
        assert k < 10


@pytest.mark.parametrize("k", range(4))
def test_fails(k):
    detail = "\\n".join(f"line {{i}} of the failure detail" for i in range(40))
    assert GREEN, f"file {index} failure {{k}}\\n{{detail}}"


@pytest.mark.parametrize("k", range(3))
def test_skipped(k):
    pytest.skip(f"not in this environment ({{k}})")


@pytest.mark.xfail(reason="known bug", strict=False)
@pytest.mark.parametrize("k", range(2))
def test_xfail(k):
    assert False


@pytest.mark.xfail(reason="maybe fixed", strict=False)
def test_xpass():
    pass
'''


def write_suite(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for index in range(1, SUITE_FILES + 1):
        (root / f"test_generated_{index:02d}.py").write_text(_SUITE_MODULE.format(index=index))


@dataclass(frozen=True)
class Suite:
    """The generated suite, what a correct upload of it must contain, and its own exit code."""

    path: Path
    expected: frozenset[Identity]
    exit_code: int


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without anything that would steer the inner runs."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not (
            (k.startswith("OCTANE_") and k != "OCTANE_XSD")
            or k.startswith("PYTEST_XDIST_")
            or k in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_CURRENT_TEST", REPORT_ENV)
        )
    }
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Suite:
    """Write the suite once and learn its expected runs from a dry run (checked for size)."""
    root = tmp_path_factory.mktemp("generated") / "suite"
    write_suite(root)
    out = root.parent / "dry-run"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", f"--octane-dry-run={out}"],
        check=False,
        cwd=root,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
    )
    expected: set[Identity] = set()
    for path in sorted(out.glob("slice-*.xml")):
        document = path.read_bytes()
        assert schema.validate(document) == [], path
        for run in schema.parse(document).iter("test_run"):
            expected.add(
                (
                    run.get("module", ""),
                    run.get("package", ""),
                    run.get("class", ""),
                    run.get("name", ""),
                )
            )
    total = SUITE_FILES * RUNS_PER_FILE
    assert len(expected) == total, f"dry run gave {len(expected)} runs, not {total}:\n{proc.stdout}"
    assert proc.returncode == pytest.ExitCode.TESTS_FAILED, proc.stdout + proc.stderr
    return Suite(root, frozenset(expected), proc.returncode)


# ---------------------------------------------------------------- commands


@dataclass
class Outcome:
    """A finished command: what it printed and how it ended."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def follow_up(self) -> list[str] | None:
        """The ``pytest-octane resume|retry ...`` command the summary told the user to run."""
        found = re.findall(r"run: (pytest-octane (?:resume|retry) .+)$", self.stdout, re.M)
        return shlex.split(found[-1]) if found else None

    def octane_section(self) -> str:
        start = self.stdout.find(" octane ---")
        return self.stdout[start:] if start >= 0 else "(no octane section)"

    def describe(self) -> str:
        return (
            f"$ {shlex.join(self.argv)}\nexit {self.returncode}\n"
            f"--- octane section:\n{self.octane_section()[:4000]}\n"
            f"--- stderr:\n{self.stderr[-4000:]}"
        )


def cli_argv(args: Sequence[str]) -> list[str]:
    """``pytest-octane ARGS`` as installed next to this interpreter (or ``-m`` if absent)."""
    script = shutil.which("pytest-octane", path=str(Path(sys.executable).parent))
    return [script, *args] if script else [sys.executable, "-m", "pytest_octane", *args]


def run(argv: Sequence[str], *, cwd: Path, env: dict[str, str]) -> Outcome:
    proc = subprocess.run(
        list(argv),
        check=False,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
    )
    return Outcome(list(argv), proc.returncode, proc.stdout, proc.stderr)


# ---------------------------------------------------------------- triggers


class Trigger:
    """Run ``action`` once, in the simulator's request thread, when the ``n``-th request
    matching ``"METHOD PATH-GLOB"`` arrives -- before that request is handled, so a fault
    armed by the action applies to it.  Deterministic, unlike arming on a timer."""

    def __init__(self, sim: Simulator, match: str, n: int, action: Callable[[], Any]) -> None:
        self.method, self.glob = match.split()
        self.n = n
        self.action = action
        self.seen = 0
        self.fired = threading.Event()
        self._lock = threading.Lock()
        self._inner = sim.faults.on_request
        sim.faults.on_request = self._on_request  # type: ignore[method-assign]

    def _on_request(self, method: str, path: str) -> Any:
        fire = False
        if self.method in ("*", method) and fnmatch.fnmatchcase(path, self.glob):
            with self._lock:
                self.seen += 1
                fire = self.seen == self.n
        if fire:
            self.action()
            self.fired.set()
        return self._inner(method, path)


@pytest.fixture
def make_trigger() -> type[Trigger]:
    """The :class:`Trigger` class, for tests that need no generated suite."""
    return Trigger


# ---------------------------------------------------------------- counting what arrived


@dataclass
class Tally:
    expected: int
    arrived: int  # distinct expected identities that arrived for this build
    duplicated: int  # runs beyond one per identity for this build
    missing: int
    unexpected: int  # identities nobody asked for

    @property
    def exactly_once(self) -> bool:
        return self.arrived == self.expected and not (
            self.duplicated or self.missing or self.unexpected
        )


def tally(sim: Simulator, expected: frozenset[Identity], build_job: str) -> Tally:
    """Runs of one build (server, job, build id) in the simulator, per test identity."""
    wanted = {"server_id": BUILD_SERVER, "job_id": build_job, "build_id": BUILD_ID}
    counts: Counter[Identity] = Counter()
    for r in sim.runs():
        build = r.get("build") or {}
        if {k: build.get(k) for k in wanted} == wanted:
            counts[(r["module"], r["package"], r["class"], r["name"])] += 1
    arrived = {i for i in counts if i in expected}
    return Tally(
        expected=len(expected),
        arrived=len(arrived),
        duplicated=sum(c - 1 for c in counts.values()),
        missing=len(expected - arrived),
        unexpected=len(set(counts) - expected),
    )


def recorded_runs(store_location: Path) -> frozenset[Identity]:
    """The runs of every slice the only job of a task store recorded (a session killed
    while its tests ran has recorded only what had finished)."""
    store = open_store(str(store_location))
    try:
        (job,) = store.list_jobs()
    finally:
        store.close()
    found: set[Identity] = set()
    for recorded in job.slices:
        for run in schema.parse(Path(recorded.path).read_bytes()).iter("test_run"):
            found.add(
                (run.get("module", ""), run.get("package", ""), run.get("class", ""),
                 run.get("name", ""))
            )  # fmt: skip
    return frozenset(found)


def journaled_runs(store_location: Path) -> frozenset[Identity]:
    """The runs the journal of the only job of a task store holds."""
    store = open_store(str(store_location))
    try:
        (job,) = store.list_jobs()
    finally:
        store.close()
    path = journal_of(job)
    assert path is not None, f"job {job.job_id} has no journal"
    return frozenset((r.module, r.package, r.klass, r.name) for r in read_journal(path).runs)


def store_problems(store_location: Path, sim: Simulator, arrived: int) -> list[str]:
    """Does the task store agree with the simulator?  Every slice Success, the Success
    slices' run counts summing to the runs that arrived, and each slice's task holding
    exactly its runs."""
    if not store_location.exists():
        return [f"no task store at {store_location}"]
    store = open_store(str(store_location))
    try:
        jobs = store.list_jobs()
    finally:
        store.close()
    if len(jobs) != 1:
        return [f"{len(jobs)} jobs in the task store, expected 1"]
    job = jobs[0]
    problems = []
    if job.status is not SliceStatus.SUCCESS:
        problems.append(f"job status {job.status.value}")
    ok_runs = sum(s.run_count for s in job.slices if s.status is SliceStatus.SUCCESS)
    if ok_runs != arrived:
        problems.append(f"Success slices hold {ok_runs} runs but {arrived} arrived")
    tasks = {t["id"]: t for t in sim.tasks()}
    for s in job.slices:
        task = tasks.get(s.task_id) if s.task_id is not None else None
        if task is None:
            problems.append(f"slice {s.index}: task {s.task_id} unknown to the simulator")
        elif task["status"] not in ("success", "warning") or len(task["run_ids"]) != s.run_count:
            problems.append(
                f"slice {s.index}: task {s.task_id} is {task['status']} with "
                f"{len(task['run_ids'])} runs, the store says {s.run_count}"
            )
    return problems


# ---------------------------------------------------------------- the tables


@dataclass
class FaultRow:
    scenario: str
    follow_up: str
    tally: Tally
    exit_expected: str
    exit_observed: str
    verdict: str


@dataclass
class BadInputRow:
    case: str
    front_end: str
    exit_code: str
    message: str
    verdict: str


@dataclass
class Tables:
    faults: list[FaultRow] = field(default_factory=list)
    bad_inputs: list[BadInputRow] = field(default_factory=list)

    def markdown(self) -> str:
        lines = []
        if self.faults:
            lines += [
                "| scenario | follow-up | runs expected | arrived | duplicated | missing "
                "| exit (suite → observed) | verdict |",
                "|---|---|---:|---:|---:|---:|---|---|",
            ]
            for r in self.faults:
                t = r.tally
                lines.append(
                    f"| {r.scenario} | {r.follow_up} | {t.expected} | {t.arrived} | "
                    f"{t.duplicated} | {t.missing} | {r.exit_expected} → {r.exit_observed} | "
                    f"{r.verdict} |"
                )
            lines.append("")
        if self.bad_inputs:
            lines += [
                "| bad input | front end | exit | first line of the error | verdict |",
                "|---|---|---|---|---|",
            ]
            for b in self.bad_inputs:
                message = b.message.replace("|", "\\|")
                lines.append(
                    f"| {b.case} | {b.front_end} | {b.exit_code} | {message} | {b.verdict} |"
                )
        return "\n".join(lines)


_tables_key = pytest.StashKey[Tables]()


@pytest.fixture(scope="session")
def tables(pytestconfig: pytest.Config) -> Tables:
    return pytestconfig.stash.setdefault(_tables_key, Tables())


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    found = config.stash.get(_tables_key, None)
    if found is None or not (found.faults or found.bad_inputs):
        return
    text = found.markdown()
    terminalreporter.write_sep("=", "reliability tables")
    terminalreporter.write_line(text)
    target = os.environ.get(REPORT_ENV, "").strip()
    if target:
        Path(target).write_text(text + "\n", encoding="utf-8")


def short(text: str, limit: int = 110) -> str:
    one = " ".join(text.split())
    return one if len(one) <= limit else one[: limit - 1] + "…"


# ---------------------------------------------------------------- the harness


@dataclass
class Harness:
    """What one fault-matrix test needs: simulators, the pytest command, follow-ups."""

    suite: Suite
    tmp_path: Path
    tables: Tables
    started: list[Simulator] = field(default_factory=list)

    def simulator(self, **kwargs: Any) -> Simulator:
        kwargs.setdefault("processing_ms", 20)
        kwargs.setdefault("stories", STORIES)
        sim = Simulator(**kwargs).start()
        sim.add_ci_server(BUILD_SERVER)  # the runs keep the build context tally() matches on
        self.started.append(sim)
        return sim

    def env(self, sim: Simulator | None = None, **extra: str) -> dict[str, str]:
        creds = {}
        if sim is not None:
            creds = {"OCTANE_CLIENT_ID": sim.client_id, "OCTANE_CLIENT_SECRET": sim.client_secret}
        return clean_env(**creds, **extra)

    def work(self, name: str) -> Path:
        path = self.tmp_path / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def pytest_argv(
        self, url: str, work: Path, job: str, *extra: str, root_module: bool = True
    ) -> list[str]:
        argv = [
            sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rN",
            "--octane-space=1001", f"--octane-url={url}", "--octane-workspace=1002",
            "--octane-slice-size=25", "--octane-max-parallel=4",
            f"--octane-task-store={work / 'store'}", f"--octane-spool-dir={work / 'spool'}",
            f"--octane-build-server-id={BUILD_SERVER}", f"--octane-build-job-id={job}",
            f"--octane-build-id={BUILD_ID}", "--octane-poll-timeout=60",
            "--octane-queue-full-retry=0.1", "--octane-queue-full-deadline=30",
            "--octane-connect-timeout=2", "--octane-read-timeout=10",
            f"--octane-backoff={BACKOFF_S}",
        ]  # fmt: skip
        if root_module:
            argv.append(f"--octane-root-module={ROOT_MODULE}")
        return [*argv, *extra]

    def pytest(
        self,
        sim: Simulator | None,
        url: str,
        work: Path,
        job: str,
        *extra: str,
        root_module: bool = True,
        env: dict[str, str] | None = None,
        prefix: Sequence[str] = (),
    ) -> Outcome:
        argv = [*prefix, *self.pytest_argv(url, work, job, *extra, root_module=root_module)]
        return run(argv, cwd=self.suite.path, env=env or self.env(sim))

    def follow(self, command: list[str], sim: Simulator) -> Outcome:
        """Run the printed ``pytest-octane ...`` command as a user would (credentials in env)."""
        assert command[0] == "pytest-octane", command
        return run(cli_argv(command[1:]), cwd=self.suite.path, env=self.env(sim))

    def recorded_runs(self, work: Path) -> frozenset[Identity]:
        return recorded_runs(work / "store")

    def journaled_runs(self, work: Path) -> frozenset[Identity]:
        """Every result the job's journal holds (every test that finished)."""
        return journaled_runs(work / "store")

    def job_id(self, work: Path) -> str:
        store = open_store(str(work / "store"))
        try:
            jobs = store.list_jobs()
        finally:
            store.close()
        assert len(jobs) == 1, f"{len(jobs)} jobs in {work / 'store'}"
        return jobs[0].job_id

    def check(
        self,
        scenario: str,
        sim: Simulator,
        work: Path,
        job: str,
        *,
        first: Outcome | None,
        follow_up: Outcome | None = None,
        expected_exit: int | None = None,
        check_store: bool = True,
        expected: frozenset[Identity] | None = None,
    ) -> None:
        """Record the row, then assert exactly-once, store agreement and the exit code
        (``expected``: the runs that must arrive, when not the whole suite ran)."""
        sim.wait_for_tasks(timeout=30)
        t = tally(sim, self.suite.expected if expected is None else expected, job)
        problems = []
        if not t.exactly_once:
            problems.append(
                f"{t.arrived}/{t.expected} arrived, {t.duplicated} duplicated, "
                f"{t.missing} missing, {t.unexpected} unexpected"
            )
        if check_store:
            problems += store_problems(work / "store", sim, t.arrived)
        expected_exit = self.suite.exit_code if expected_exit is None else expected_exit
        observed = "killed" if first is None or first.returncode < 0 else str(first.returncode)
        if first is not None and first.returncode >= 0 and first.returncode != expected_exit:
            problems.append(f"pytest exited {first.returncode}, the suite alone {expected_exit}")
        if first is not None and "Traceback" in first.output:
            problems.append("a traceback in pytest's output")
        if follow_up is not None and follow_up.returncode != 0:
            problems.append(f"the follow-up command exited {follow_up.returncode}")
        invalid = [r for r in sim.request_log if r.error_code == "testbox.xml_validation_failed"]
        if invalid:
            problems.append(f"{len(invalid)} uploads were invalid XML")
        step = "-" if follow_up is None else f"`{follow_up_name(follow_up)}`"
        self.tables.faults.append(
            FaultRow(
                scenario,
                step,
                t,
                str(expected_exit),
                observed,
                "ok" if not problems else "FAIL: " + "; ".join(problems),
            )
        )
        details = "\n\n".join(o.describe() for o in (first, follow_up) if o is not None)
        assert not problems, "; ".join(problems) + "\n\n" + details

    def trigger(self, sim: Simulator, match: str, n: int, action: Callable[[], Any]) -> Trigger:
        return Trigger(sim, match, n, action)

    def unprivileged_prefix(self, probe_dir: Path) -> list[str]:
        return unprivileged_prefix(probe_dir)

    def stop_all(self) -> None:
        for sim in self.started:
            sim.stop()
        errors = [e for s in self.started for e in s.internal_errors]
        assert not errors, "simulator internal error:\n" + errors[0]


def follow_up_name(outcome: Outcome) -> str:
    for word in ("resume", "retry"):
        if word in outcome.argv:
            return word
    return shlex.join(outcome.argv[-2:])


@pytest.fixture
def harness(suite: Suite, tmp_path: Path, tables: Tables) -> Iterator[Harness]:
    h = Harness(suite, tmp_path, tables)
    yield h
    h.stop_all()


# ---------------------------------------------------------------- read-only folders


def unprivileged_prefix(probe_dir: Path) -> list[str]:
    """A command prefix under which ``chmod``-ed permissions hold, or skip the test.

    Root ignores permission bits; as root we run the process with ``setpriv`` minus the
    DAC-override capabilities (same uid, so it still reads root-owned files).  The prefix is
    probed on ``probe_dir`` (which must be read-only already) before it is trusted.
    """
    prefix: list[str] = []
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: permission bits cannot be enforced")
        caps = "-dac_override,-dac_read_search"
        prefix = [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}", "--"]
    probe = subprocess.run(
        [*prefix, sys.executable, "-c", f"open({str(probe_dir / 'probe')!r}, 'w')"],
        check=False,
        capture_output=True,
        timeout=30,
    )
    if probe.returncode == 0:
        (probe_dir / "probe").unlink()
        pytest.skip("this platform lets the process write into a read-only folder")
    return prefix


def chmod_tree(path: Path, mode: int) -> None:
    for p in [path, *path.rglob("*")]:
        if p.is_dir():
            p.chmod(mode)


# ---------------------------------------------------------------- XML checks


def xsd_problems(xml: bytes) -> list[str]:
    """pytest_octane.octane.schema's checks plus lxml's own XSD validation when the XSD is here."""
    problems = list(schema.validate(xml))
    if XSD_PATH.is_file():
        xsd = etree.XMLSchema(etree.parse(str(XSD_PATH)))
        document = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))
        if not xsd.validate(document):
            entries: Any = xsd.error_log  # lxml-stubs: _ErrorLog is opaque
            problems += [f"lxml XSD line {e.line}: {e.message}" for e in entries]
    return problems


# ---------------------------------------------------------------- the bad-input kit

_TMP_PREFIX = re.compile(r"/\S*?/pytest-\d+/[^/\s']+/")


@dataclass
class BadInputKit:
    """What the bad-input tests share: the corpus, the table, runners and XML checks."""

    tmp_path: Path
    tables: Tables
    data: Path = DATA_BAD

    def copy(self, name: str) -> Path:
        """A copy of a corpus file in this test's folder (so relative references stay here)."""
        target = self.tmp_path / name
        shutil.copyfile(self.data / name, target)
        return target

    def record(self, case: str, front_end: str, exit_code: object, message: str, ok: bool) -> None:
        verdict = "ok" if ok else "FAIL"
        message = message.replace(str(self.data) + os.sep, "tests/data/bad/")
        message = _TMP_PREFIX.sub("…/", message)
        self.tables.bad_inputs.append(
            BadInputRow(case, front_end, str(exit_code), short(message, 240), verdict)
        )

    def xsd_problems(self, xml: bytes) -> list[str]:
        return xsd_problems(xml)

    def env(self, **extra: str) -> dict[str, str]:
        return clean_env(**extra)

    def run(self, argv: Sequence[str], *, cwd: Path, env: dict[str, str]) -> Outcome:
        return run(argv, cwd=cwd, env=env)

    def cli_argv(self, args: Sequence[str]) -> list[str]:
        return cli_argv(args)

    def unprivileged_prefix(self, probe_dir: Path) -> list[str]:
        return unprivileged_prefix(probe_dir)


@pytest.fixture
def bad_inputs(tmp_path: Path, tables: Tables) -> BadInputKit:
    return BadInputKit(tmp_path, tables)


# ------------------------------------------------- issue 22: the uploader process's isolation
#
# A small generated project (a few dozen tests, slices of 5) run by a real pytest process
# against one simulator.  The project's own conftest writes an out-of-band record: a line
# ``start NAME`` when a test's setup begins, ``done NAME`` when its teardown has finished, and
# ``sessionfinish`` when the session ends; it can also hold (bounded) at a chosen point, after
# writing a marker, so the outer test can kill it there or let it go on.

ISOLATION_SLICE = 5
ISOLATION_TESTS = 32  # six full slices and a partial one of two
#: How long an inner session or an orphaned uploader may take before the test gives up.
ISOLATION_DEADLINE_S = 90.0

_ISOLATION_CONFTEST = '''\
"""The isolation suite's own record of what ran (written by the tests, not the plugin)."""
import os
import sys
import time
from pathlib import Path

import pytest

WORK = Path(os.environ["ISO_WORK"])
HOLD = os.environ.get("ISO_HOLD", "")


def note(line):
    with (WORK / "progress.txt").open("a", encoding="utf-8") as out:
        out.write(line + "\\n")
        out.flush()


def hold(point):
    """Say where we are, then wait (bounded) until the outer test lets us go or kills us."""
    (WORK / f"at-{point}").write_text(str(os.getpid()), encoding="utf-8")
    deadline = time.monotonic() + 60
    while not (WORK / f"go-{point}").exists() and time.monotonic() < deadline:
        time.sleep(0.02)


def pytest_collection_modifyitems(items):
    if HOLD == "collect":
        hold("collect")


@pytest.fixture(autouse=True)
def _record(request):
    name = request.node.name
    note("start " + name)
    if HOLD == name:
        hold("test")
    yield
    note("done " + name)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    note("sessionfinish")
    if HOLD == "finish":
        hold("finish")


def pytest_unconfigure(config):
    if os.environ.get("ISO_MODULES"):
        (WORK / "modules.txt").write_text("\\n".join(sorted(sys.modules)), encoding="utf-8")
'''

_ISOLATION_TESTS = """\
import os
import socket
import time

import pytest


@pytest.mark.parametrize("n", range({count}), ids=lambda n: f"{{n:02d}}")
def test_t(n):
    assert n >= 0
{extra}
"""


def isolation_name(index: int) -> str:
    return f"test_t[{index:02d}]"


@dataclass(frozen=True)
class Progress:
    """What the suite itself recorded: the tests that finished and those certainly journaled."""

    started: tuple[str, ...]
    done: frozenset[str]
    #: finished tests that a later test (or the session's end) saw finished: their results
    #: were handed to the plugin before the next test started, so none may be lost
    confirmed: frozenset[str]
    session_finished: bool


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group, from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # the process ended while we looked
        state, _ppid, pgrp = text.rpartition(")")[2].split()[:3]
        if int(pgrp) == pgid and state not in ("Z", "X"):
            members.append(int(stat.parent.name))
    return members


def descendants(pid: int) -> list[int]:
    """Children of ``pid``, and theirs, from /proc (ppid is field 4 of /proc/PID/stat)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent]
        found += children
        frontier += children
    return found


@dataclass
class Isolation:
    """One isolation test's simulator, project, store, and the commands that use them."""

    sim: Simulator
    work: Path
    tables: Tables
    processes: list[subprocess.Popen[str]] = field(default_factory=list)

    #: for the test module, which cannot import this conftest
    tests = ISOLATION_TESTS
    slice_size = ISOLATION_SLICE

    @staticmethod
    def descendants(pid: int) -> list[int]:
        return descendants(pid)

    @staticmethod
    def unprivileged_prefix(probe_dir: Path) -> list[str]:
        return unprivileged_prefix(probe_dir)

    @staticmethod
    def chmod_tree(path: Path, mode: int) -> None:
        chmod_tree(path, mode)

    @property
    def suite(self) -> Path:
        return self.work / "suite"

    @property
    def store(self) -> Path:
        return self.work / "store"

    def write(self, *, conftest: str = "", tests: str = "", count: int = ISOLATION_TESTS) -> None:
        """The project: the recording conftest (plus ``conftest``), ``count`` plain tests
        (plus ``tests``, module-level test functions)."""
        self.suite.mkdir(parents=True, exist_ok=True)
        (self.suite / "conftest.py").write_text(_ISOLATION_CONFTEST + conftest, encoding="utf-8")
        (self.suite / "test_iso.py").write_text(
            _ISOLATION_TESTS.format(count=count, extra=tests), encoding="utf-8"
        )

    def env(self, *, credentials: bool = True, **extra: str) -> dict[str, str]:
        """The inner session's environment; ``credentials=False`` leaves the OCTANE_CLIENT_*
        variables out (for a credentials file)."""
        creds = {}
        if credentials:
            creds = {
                "OCTANE_CLIENT_ID": self.sim.client_id,
                "OCTANE_CLIENT_SECRET": self.sim.client_secret,
            }
        return clean_env(ISO_WORK=str(self.work), **creds, **extra)

    def argv(self, *extra: str, store: str | None = None) -> list[str]:
        return [
            sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly",
            "-p", "no:xdist", "-rN",
            f"--octane-space={self.sim.space_id}", f"--octane-url={self.sim.url}",
            f"--octane-workspace={self.sim.workspace_id}",
            f"--octane-task-store={store or self.store}",
            f"--octane-spool-dir={self.work / 'spool'}",
            f"--octane-slice-size={ISOLATION_SLICE}", "--octane-max-parallel=2",
            f"--octane-build-server-id={BUILD_SERVER}", "--octane-build-job-id=isolation",
            f"--octane-build-id={BUILD_ID}", "--octane-poll-timeout=60",
            "--octane-queue-full-retry=0.1", "--octane-queue-full-deadline=30",
            "--octane-connect-timeout=2", "--octane-read-timeout=10",
            f"--octane-backoff={BACKOFF_S}", *extra,
        ]  # fmt: skip

    def start(
        self, *extra: str, env: dict[str, str] | None = None, prefix: Sequence[str] = ()
    ) -> subprocess.Popen[str]:
        """pytest in a process group of its own (its pid is the group id); output to files."""
        out = (self.work / "stdout.txt").open("w", encoding="utf-8")
        err = (self.work / "stderr.txt").open("w", encoding="utf-8")
        with out, err:
            proc = subprocess.Popen(
                [*prefix, *self.argv(*extra)],
                cwd=self.suite,
                env=env or self.env(),
                stdout=out,
                stderr=err,
                text=True,
                start_new_session=True,
            )
        self.processes.append(proc)
        return proc

    def wait(self, proc: subprocess.Popen[str]) -> Outcome:
        try:
            proc.wait(timeout=ISOLATION_DEADLINE_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise AssertionError(
                f"pytest did not end within {ISOLATION_DEADLINE_S} s (killed)\n" + self.output()
            ) from None
        self.wait_group_gone(proc.pid, after="pytest ended")
        return Outcome(
            list(map(str, proc.args)),  # type: ignore[arg-type]
            proc.returncode,
            (self.work / "stdout.txt").read_text(encoding="utf-8"),
            (self.work / "stderr.txt").read_text(encoding="utf-8"),
        )

    def run(self, *extra: str, env: dict[str, str] | None = None,
            prefix: Sequence[str] = ()) -> Outcome:  # fmt: skip
        return self.wait(self.start(*extra, env=env, prefix=prefix))

    def output(self) -> str:
        parts = []
        for name in ("stdout.txt", "stderr.txt"):
            path = self.work / name
            if path.exists():
                parts.append(f"--- {name}:\n{path.read_text(encoding='utf-8')[-4000:]}")
        return "\n".join(parts)

    # -- placing a kill

    def reached(self, point: str, proc: subprocess.Popen[str]) -> None:
        """Wait until the suite holds at ``point`` (it wrote its marker)."""
        self.wait_until(
            lambda: (self.work / f"at-{point}").exists() or proc.poll() is not None,
            what=f"the suite to reach {point!r}",
        )
        assert proc.poll() is None, f"pytest ended before {point!r}\n" + self.output()

    def release(self, point: str) -> None:
        (self.work / f"go-{point}").write_text("", encoding="utf-8")

    def wait_until(
        self, condition: Callable[[], bool], *, what: str, timeout: float = ISOLATION_DEADLINE_S
    ) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            time.sleep(0.02)

    def wait_group_gone(self, pgid: int, *, after: str = "pytest was killed") -> None:
        """Every process of pytest's group has ended (an orphaned uploader finishes first)."""
        try:
            self.wait_until(
                lambda: not group_members(pgid), what=f"the uploader to finish after {after}"
            )
        except AssertionError:
            left = group_members(pgid)
            for pid in left:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            raise AssertionError(
                f"processes {left} of pytest's group still ran {ISOLATION_DEADLINE_S} s after "
                f"{after} (killed now)"
            ) from None

    # -- what the suite recorded, what arrived

    def progress(self) -> Progress:
        path = self.work / "progress.txt"
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        done: list[str] = []
        confirmed: set[str] = set()
        started: list[str] = []
        for line in lines:
            word, _, name = line.partition(" ")
            if word == "done":
                done.append(name)
            elif word == "start" or word == "sessionfinish":
                confirmed.update(done)
                if word == "start":
                    started.append(name)
        return Progress(tuple(started), frozenset(done), frozenset(confirmed),
                        "sessionfinish" in lines)  # fmt: skip

    def arrived(self, *, this_build: bool = True) -> Counter[str]:
        """Runs in the simulator per test name: of this session's build context, or (with
        ``this_build=False``) those that arrived without it."""
        with contextlib.suppress(TimeoutError):
            self.sim.wait_for_tasks(timeout=30)
        return Counter(
            r["name"]
            for r in self.sim.runs()
            if ((r.get("build") or {}).get("job_id") == "isolation") is this_build
        )

    def check_exactly_once(
        self,
        scenario: str,
        *,
        must: frozenset[str],
        may: frozenset[str] | None = None,
        observed: str = "killed",
        follow_up: str = "-",
        extra_problems: Sequence[str] = (),
        details: str = "",
    ) -> None:
        """Every test in ``must`` arrived exactly once; nothing arrived twice; nothing arrived
        that did not finish (``may``, default ``must``).  The row goes in the fault table."""
        counts = self.arrived()
        may = must if may is None else may
        arrived = {name for name in counts if name in must}
        duplicated = sum(n - 1 for n in counts.values())
        unexpected = sorted(set(counts) - may)
        missing = sorted(must - arrived)
        problems = list(extra_problems)
        if missing or duplicated or unexpected:
            problems.insert(
                0,
                f"{len(arrived)}/{len(must)} finished tests arrived, {duplicated} duplicated, "
                f"missing {missing[:6]}, unexpected {unexpected[:6]}",
            )
        elsewhere = self.arrived(this_build=False)
        if elsewhere:
            problems.append(
                f"{sum(elsewhere.values())} runs arrived without the session's build context "
                f"(build server/job/id), e.g. {sorted(elsewhere)[:3]}"
            )
        t = Tally(len(must), len(arrived), duplicated, len(missing), len(unexpected))
        verdict = "ok" if not problems else "FAIL: " + "; ".join(problems)
        self.tables.faults.append(FaultRow(scenario, follow_up, t, "0", observed, verdict))
        assert not problems, "; ".join(problems) + "\n" + details + "\n" + self.output()

    def cli(self, *args: str) -> Outcome:
        """``pytest-octane ARGS`` in a subprocess, credentials in its environment."""
        return run(cli_argv(args), cwd=self.work, env=self.env())

    def job_ids(self) -> list[str]:
        listed = self.cli("jobs", f"--task-store={self.store}")
        return [line.split()[0] for line in listed.stdout.splitlines()[1:] if line.strip()]

    def stop(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                with contextlib.suppress(OSError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            for pid in group_members(proc.pid):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def isolation(octane_env: OctaneEnv, tables: Tables) -> Iterator[Isolation]:
    """``octane_env``'s simulator (a secret of this test only) and a folder for one project."""
    octane_env.sim.add_ci_server(BUILD_SERVER)  # issue 23: runs keep the build context
    world = Isolation(octane_env.sim, octane_env.root, tables)
    try:
        yield world
    finally:
        world.stop()
