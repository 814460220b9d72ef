"""pytest wiring for pytest-octane: options, ini keys, the ``jira`` marker and registration.

Nothing is registered, and nothing runs per test, unless ``--octane-space``,
``--octane-dry-run`` or the ini/environment select a shared space.  Then the session's parts
are registered and kept in one :class:`OctaneSession`, the one object in
``config.stash[SESSION]`` (junitxml's pattern); ``pytest_unconfigure`` unregisters them.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pytest

from pytest_octane.plugin.attrs import JIRA_ATTR
from pytest_octane.settings.options import register_pytest_options
from pytest_octane.settings.parsers import JIRA_KEY_RE

if TYPE_CHECKING:
    from pytest_octane.plugin.attach import AttachSink
    from pytest_octane.plugin.reporter import OctaneReporter
    from pytest_octane.plugin.uploading import UploadPlugin
    from pytest_octane.settings import Settings

__all__ = [
    "SESSION",
    "BddScout",
    "JiraKeys",
    "OctaneSession",
    "WorkerJiraKeys",
    "check_upload_ready",
    "jira_keys_of",
    "octane_attach",
    "pytest_addhooks",
    "pytest_addoption",
    "pytest_configure",
    "pytest_report_header",
    "pytest_unconfigure",
]

_Plugin = TypeVar("_Plugin")


@dataclass
class OctaneSession:
    """What pytest-octane holds for one session, and the only thing it keeps in
    ``config.stash``: the settings and the parts it registered as plugins of their own (the
    JIRA keys read at collection, the pytest-bdd collector, the attachment sink and, on the
    controller, the upload and the reporter).  The fixture and ``pytest_unconfigure`` find
    the parts here, never by a plugin name or a global."""

    config: pytest.Config
    settings: Settings
    attach: AttachSink | None = None
    upload: UploadPlugin | None = None  # None for a dry run and on xdist workers
    reporter: OctaneReporter | None = None  # None on xdist workers
    _parts: list[object] = field(default_factory=list)

    def register(self, plugin: _Plugin, name: str) -> _Plugin:
        if self.config.pluginmanager.register(plugin, name) is not None:  # -p no:NAME: None
            self._parts.append(plugin)
        return plugin

    def unregister(self) -> None:
        while self._parts:
            self.config.pluginmanager.unregister(self._parts.pop())


#: the session's one entry in ``config.stash``
SESSION = pytest.StashKey[OctaneSession]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("octane", "upload results to OpenText ALM Octane")
    group.addoption(
        "--octane-dry-run",
        nargs="?",
        const="-",
        default=None,
        dest="octane_dry_run",
        metavar="DIR",
        help="write the Octane XML slices to DIR (or print the first slice) and upload nothing; "
        "use --octane-dry-run=DIR",
    )
    register_pytest_options(parser, group)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    _import_without_rewriting(pluginmanager)
    from pytest_octane import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def _import_without_rewriting(pluginmanager: pytest.PytestPluginManager) -> None:
    """Take this package off the list of modules whose asserts pytest rewrites.

    pytest rewrites every module of a plugin's distribution, for assertion helpers that
    tests call; ours hold none (an ``assert`` here states an invariant), and a rewritten
    module is loaded from pytest's own cache through ``marshal.load`` on a file object, at
    about three times a plain import's cost: 35 M instructions of a dry run's start, 70 M of
    an upload's (issue 28, ``benchmarks/bench_callgrind.py``).  pytest has no public way out,
    so the name leaves its private set when there is one; else the modules are rewritten as
    before."""
    marked = getattr(getattr(pluginmanager, "rewrite_hook", None), "_must_rewrite", None)
    if isinstance(marked, set):
        marked.discard(__name__.partition(".")[0])


def _is_enabled(config: pytest.Config) -> bool:
    if config.getoption("octane_dry_run") or config.getoption("octane_space"):
        return True
    return bool(os.environ.get("OCTANE_SPACE", "").strip() or config.getini("octane_space"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "jira(*keys): JIRA keys (ABC-123) of the stories this test covers; pytest-octane "
        "links the test's Octane run to those stories.",
    )
    if not _is_enabled(config):
        return
    # the settings, their errors and the session's parts only now: the plugin is on
    from pytest_octane.errors import ConfigError, CredentialsError
    from pytest_octane.settings import Settings

    dry_run = config.getoption("octane_dry_run")
    _check_dry_run_folder(dry_run)
    try:
        settings = Settings.from_pytest_config(config)
        if not dry_run and not hasattr(config, "workerinput"):
            check_upload_ready(config, settings)
    except (ConfigError, CredentialsError) as exc:
        raise pytest.UsageError(f"pytest-octane: {exc}") from None
    session = config.stash[SESSION] = OctaneSession(config, settings)
    _register_bdd(session)
    if hasattr(config, "workerinput"):
        # xdist worker: the controller collects and uploads
        session.register(WorkerJiraKeys(), "octane-jira-keys")
        job_id = config.workerinput.get("octane_job_id")
        if job_id and settings.attachments:
            _register_attach(session, str(job_id))
        return
    jira_keys = session.register(JiraKeys(), "octane-jira-keys").by_nodeid
    from pytest_octane.plugin.reporter import OctaneReporter

    if not dry_run:
        from pytest_octane.plugin.uploading import UploadPlugin

        # registered before the reporter: its trylast session finish runs first
        session.upload = session.register(
            UploadPlugin(config, settings, jira_keys), "octane-upload"
        )
        if settings.attachments:
            _register_attach(session, session.upload.job_id)
    reporter = OctaneReporter(
        config, settings, dry_run=dry_run, jira_keys=jira_keys, upload=session.upload
    )
    session.reporter = session.register(reporter, "octane-reporter")
    session.register(reporter.collector, "octane-collector")  # takes each test's reports


def pytest_report_header(config: pytest.Config) -> str | None:
    """One line with where the results go and where each of those settings came from (only
    while the plugin is on; pytest shows no header with -q or --no-header)."""
    session = config.stash.get(SESSION, None)
    if session is None or session.reporter is None:
        return None
    dry_run = " (dry run: nothing is uploaded)" if session.upload is None else ""
    return f"octane{dry_run}: {session.settings.header_line()}"


@pytest.fixture
def octane_attach(request: pytest.FixtureRequest) -> object:
    """``attach(path_or_bytes, name=None, description=None)``: attach a file to this test's
    Octane run (a no-op when pytest-octane does not upload)."""
    from pytest_octane.plugin.attach import octane_attach_fixture

    session = request.config.stash.get(SESSION, None)
    return octane_attach_fixture(request, session.attach if session is not None else None)


def _register_bdd(session: OctaneSession) -> None:
    """With pytest-bdd installed, scenarios carry their feature and steps on their reports;
    the collector that puts them there is registered once collection found a scenario."""
    if session.config.pluginmanager.has_plugin("pytest-bdd"):  # pytest-bdd's plugin name
        session.register(BddScout(session), "octane-bdd-scout")


class BddScout:
    """Registers the pytest-bdd collector only when this process collected a scenario: its
    report wrapper would cost every test of a suite without scenarios three calls (issue 28).
    Runs where the tests run: a plain session, or each xdist worker."""

    def __init__(self, session: OctaneSession) -> None:
        self.session = session

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        # pytest-bdd (9.x) maps each scenario's test function to its template: with none
        # made, no item is a scenario and bdd.py is not even imported
        from pytest_bdd.scenario import scenario_wrapper_template_registry

        if not scenario_wrapper_template_registry:
            return
        from pytest_octane.plugin.bdd import BddCollector

        collector = BddCollector(
            self.session.config.rootpath, self.session.settings.jira_tag_pattern
        )
        if any(collector.is_scenario(item) for item in items):
            self.session.register(collector, "octane-bdd")


def _register_attach(session: OctaneSession, job_id: str) -> None:
    """The attachment sink of this process; ``pytest_octane.attach`` is routed to it."""
    import pytest_octane
    from pytest_octane.plugin.attach import AttachSink

    sink = session.attach = session.register(
        AttachSink(session.settings, job_id, session.config), "octane-attach"
    )
    pytest_octane.push_attach_sink(sink)
    session.config.add_cleanup(lambda: pytest_octane.pop_attach_sink(sink))


def _check_dry_run_folder(dry_run: str | None) -> None:
    """``--octane-dry-run tests/`` takes the test path as the folder: say so, write nothing."""
    if not dry_run or dry_run == "-":
        return
    path = Path(dry_run)
    looks_like_tests = (
        "::" in dry_run
        or dry_run.endswith(".py")
        or path.is_file()
        or (path.is_dir() and any(path.glob("*.py")))
    )
    if looks_like_tests:
        raise pytest.UsageError(
            f"pytest-octane: --octane-dry-run took {dry_run!r} (tests, not a folder for the "
            "XML) as its value; write --octane-dry-run=DIR, or put --octane-dry-run after "
            "the test paths to print the first slice"
        )


def check_upload_ready(config: pytest.Config, settings: Settings) -> None:
    """Fail before the tests run when the upload could not even start (no URL, no space).

    Missing credentials stop the run only with ``--octane-strict``: otherwise the tests run,
    their results are spooled, and the summary prints the command that uploads them once the
    credentials exist (a missing CI secret must not cost the whole test run).
    """
    from pytest_octane.octane.credentials import resolve_credentials
    from pytest_octane.settings import require_connection

    _, space, _ = require_connection(settings)
    if not settings.strict:
        return
    resolve_credentials(
        space,
        path_template=settings.credentials_path,
        environ=os.environ,
        hook=lambda: config.hook.pytest_octane_credentials(space_id=space, settings=settings),
        command=settings.credentials_command,
    )


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_unconfigure(config: pytest.Config) -> Generator[None]:
    session = config.stash.get(SESSION, None)
    if session is None:
        return (yield)  # never imported the reporter (and lxml): the plugin costs nothing off
    try:
        if session.upload is None:  # an xdist worker or a dry run: nothing to wait for here
            return (yield)
        from pytest_octane.job.interrupt import exit_on_ctrl_c

        # a (second) Ctrl-C here, after the summary, would be a traceback: one line instead
        with exit_on_ctrl_c(lambda: _ctrl_c_line(session)):
            return (yield)
    finally:
        session.unregister()
        del config.stash[SESSION]


def _ctrl_c_line(session: OctaneSession) -> str:
    upload = session.upload
    report = upload.report if upload is not None else None
    outcome = upload.outcome if upload is not None and report and report.interrupted else None
    if outcome is None:
        return "pytest-octane: Ctrl-C: stopped at once (the upload had ended)"
    return (
        "pytest-octane: Ctrl-C again: stopped at once; to finish the upload later run: "
        f"{outcome.resume_command()}"
    )


def jira_keys_of(
    item: pytest.Item, inherited: dict[int, tuple[str, ...]] | None = None
) -> tuple[str, ...]:
    """Keys of every ``jira`` marker on the test, its class and its module, in that order
    (``item.iter_markers("jira")``'s order, each key once).

    ``inherited`` caches each parent node's keys (by ``id``, for the nodes of one collection):
    a module's marker is then read and checked once, not once for each of its tests.
    """
    parent = item.parent
    above: tuple[str, ...] = ()
    if parent is not None:
        cache = {} if inherited is None else inherited
        # most tests share their parent's keys: found, not made again
        found = cache.get(id(parent))
        above = _inherited_keys(parent, item, cache) if found is None else found
    for marker in item.own_markers:
        if marker.name == "jira":
            break
    else:  # no marker of its own (most tests)
        return above
    own = _own_keys(item, item)
    return tuple(dict.fromkeys([*own, *above])) if above else own


def _inherited_keys(
    node: pytest.Collector, item: pytest.Item, cache: dict[int, tuple[str, ...]]
) -> tuple[str, ...]:
    keys = cache.get(id(node))
    if keys is None:
        own = _own_keys(node, item)
        above = _inherited_keys(node.parent, item, cache) if node.parent is not None else ()
        keys = cache[id(node)] = tuple(dict.fromkeys([*own, *above])) if own else above
    return keys


def _own_keys(node: pytest.Item | pytest.Collector, item: pytest.Item) -> tuple[str, ...]:
    """The keys of ``node``'s own ``jira`` markers, checked (an error names ``item``, the test
    being collected)."""
    keys: list[str] = []
    for marker in node.own_markers:
        if marker.name != "jira":
            continue
        _check_jira_form(item, marker)
        for key in marker.args:
            if not isinstance(key, str) or not JIRA_KEY_RE.fullmatch(key):
                raise pytest.UsageError(
                    f"pytest-octane: {item.nodeid}: @pytest.mark.jira({key!r}) is not a JIRA "
                    "key like 'ABC-123' (uppercase project key, dash, number)"
                )
            if key not in keys:
                keys.append(key)
    return tuple(keys)


def _check_jira_form(item: pytest.Item, marker: pytest.Mark) -> None:
    """An empty marker or a keyword form (``key=``) names no story: refuse it, never drop it."""
    if marker.kwargs:
        given = ", ".join(f"{name}={value!r}" for name, value in marker.kwargs.items())
        raise pytest.UsageError(
            f"pytest-octane: {item.nodeid}: @pytest.mark.jira({given}) takes no keyword "
            "arguments: give the keys as positional strings, @pytest.mark.jira('ABC-123')"
        )
    if not marker.args:
        raise pytest.UsageError(
            f"pytest-octane: {item.nodeid}: @pytest.mark.jira() names no JIRA key: give at "
            "least one, @pytest.mark.jira('ABC-123'), or remove the marker"
        )


class JiraKeys:
    """Reads and checks every test's ``jira`` markers once, at collection time."""

    def __init__(self) -> None:
        self.by_nodeid: dict[str, tuple[str, ...]] = {}

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        inherited: dict[int, tuple[str, ...]] = {}  # the items keep their parents alive
        by_nodeid = self.by_nodeid
        for item in items:
            keys = jira_keys_of(item, inherited)
            if keys:
                by_nodeid[item.nodeid] = keys


class WorkerJiraKeys(JiraKeys):
    """On an xdist worker: put the keys on the setup report, which xdist sends to the
    controller (a plain list survives its serialisation)."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "setup":
            keys = self.by_nodeid.get(report.nodeid)
            if keys:
                setattr(report, JIRA_ATTR, list(keys))
