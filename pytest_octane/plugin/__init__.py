"""pytest wiring for pytest-octane: options, ini keys, the ``jira`` marker and registration.

Nothing is registered, and nothing runs per test, unless ``--octane-space``,
``--octane-dry-run`` or the ini/environment select a shared space.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path

import pytest

from pytest_octane.errors import ConfigError, CredentialsError
from pytest_octane.plugin.attrs import JIRA_ATTR
from pytest_octane.settings import JIRA_KEY_RE, Settings

__all__ = [
    "JiraKeys",
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
    Settings.register_pytest_options(parser, group)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_octane import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


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
    dry_run = config.getoption("octane_dry_run")
    _check_dry_run_folder(dry_run)
    try:
        settings = Settings.from_pytest_config(config)
        if not dry_run and not hasattr(config, "workerinput"):
            check_upload_ready(config, settings)
    except (ConfigError, CredentialsError) as exc:
        raise pytest.UsageError(f"pytest-octane: {exc}") from None
    _register_bdd(config, settings)
    if hasattr(config, "workerinput"):
        # xdist worker: the controller collects and uploads
        config.pluginmanager.register(WorkerJiraKeys(), "octane-jira-keys")
        job_id = config.workerinput.get("octane_job_id")
        if job_id and settings.attachments:
            from pytest_octane.plugin import attach

            attach.register(config, settings, str(job_id))
        return
    jira_keys = JiraKeys()
    config.pluginmanager.register(jira_keys, "octane-jira-keys")
    from pytest_octane.plugin.reporter import OctaneReporter

    reporter = OctaneReporter(config, settings, dry_run=dry_run, jira_keys=jira_keys.by_nodeid)
    config.stash[OctaneReporter.stash_key] = reporter
    config.pluginmanager.register(reporter, "octane-reporter")
    if not dry_run and settings.attachments:
        from pytest_octane.plugin import attach

        attach.register(config, settings, reporter.job_id)


def pytest_report_header(config: pytest.Config) -> str | None:
    """One line with where the results go and where each of those settings came from (only
    while the plugin is on; pytest shows no header with -q or --no-header)."""
    reporter = config.pluginmanager.get_plugin("octane-reporter")
    if reporter is None:
        return None
    dry_run = " (dry run: nothing is uploaded)" if reporter.dry_run is not None else ""
    return f"octane{dry_run}: {reporter.settings.header_line()}"


@pytest.fixture
def octane_attach(request: pytest.FixtureRequest) -> object:
    """``attach(path_or_bytes, name=None, description=None)``: attach a file to this test's
    Octane run (a no-op when pytest-octane does not upload)."""
    from pytest_octane.plugin.attach import octane_attach_fixture

    return octane_attach_fixture(request)


def _register_bdd(config: pytest.Config, settings: Settings) -> None:
    """With pytest-bdd installed, scenarios carry their feature and steps on their reports."""
    from pytest_octane.plugin.bdd import BddCollector, bdd_installed

    if bdd_installed(config):
        collector = BddCollector(config.rootpath, settings.jira_tag_pattern)
        config.pluginmanager.register(collector, "octane-bdd")


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
    reporter = config.pluginmanager.get_plugin("octane-reporter")
    if reporter is None:
        return (yield)  # never imported the reporter (and lxml): the plugin costs nothing off
    from pytest_octane.job.interrupt import exit_on_ctrl_c

    # a (second) Ctrl-C here, after the summary, would be a traceback: one line instead
    with exit_on_ctrl_c(lambda: _ctrl_c_line(reporter)):
        result = yield
        _unregister(config, reporter)
    return result


def _ctrl_c_line(reporter: object) -> str:
    outcome = getattr(reporter, "outcome", None)
    if outcome is None or not outcome.interrupted:
        return "pytest-octane: Ctrl-C: stopped at once (the upload had ended)"
    return (
        "pytest-octane: Ctrl-C again: stopped at once; to finish the upload later run: "
        f"{outcome.resume_command()}"
    )


def _unregister(config: pytest.Config, reporter: object) -> None:
    from pytest_octane.plugin.reporter import OctaneReporter

    if OctaneReporter.stash_key in config.stash:
        del config.stash[OctaneReporter.stash_key]
    config.pluginmanager.unregister(reporter)


def jira_keys_of(item: pytest.Item) -> tuple[str, ...]:
    """Keys of every ``jira`` marker on the test, its class and its module, in that order."""
    keys: list[str] = []
    for marker in item.iter_markers("jira"):
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
        for item in items:
            keys = jira_keys_of(item)
            if keys:
                self.by_nodeid[item.nodeid] = keys


class WorkerJiraKeys(JiraKeys):
    """On an xdist worker: put the keys on the setup report, which xdist sends to the
    controller (a plain list survives its serialisation)."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "setup":
            keys = self.by_nodeid.get(report.nodeid)
            if keys:
                setattr(report, JIRA_ATTR, list(keys))
