"""One stash key, one object: the session's parts are in ``config.stash[SESSION]`` while it
runs, the reporter only reports, and unconfigure leaves nothing registered."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_octane.plugin import SESSION, OctaneSession
from pytest_octane.simulator import Simulator
from pytest_octane.testing import SimulatorFactory, octane_simulator_factory

pytest_plugins = ["pytester"]
__all__ = ["octane_simulator_factory"]  # the fixture, for sim below

#: the inner session's conftest: what the stash holds, seen from a test and from the summary
CONFTEST = """
import json, os
from pytest_octane.plugin import SESSION

SEEN = {}

def pytest_terminal_summary(config):
    session = config.stash[SESSION]
    pm = config.pluginmanager
    SEEN.update(
        reporter=pm.get_plugin("octane-reporter") is session.reporter,
        upload=None if session.upload is None else pm.get_plugin("octane-upload") is session.upload,
        attach=None if session.attach is None else pm.get_plugin("octane-attach") is session.attach,
        same_job=None if session.upload is None else session.upload.job_id == session.attach.job_id,
        reporter_outcome=session.reporter.outcome is (session.upload and session.upload.outcome),
        report_hook=pm.has_plugin("octane-attachments-report"),
    )
    with open(os.environ["SEEN_OUT"], "w") as fh:
        json.dump(SEEN, fh)
"""


@pytest.fixture
def sim(octane_simulator_factory: SimulatorFactory) -> Simulator:
    return octane_simulator_factory(processing_ms=0)


def _run(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    *args: str,
    body: str = "def test_one(octane_attach):\n    pass\n",
) -> tuple[pytest.Config, str]:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(body)
    seen = tmp_path / "seen.json"
    monkeypatch.setenv("SEEN_OUT", str(seen))
    reprec = pytester.inline_run("-p", "no:cacheprovider", *args)
    reprec.assertoutcome(passed=1)
    [call] = reprec.getcalls("pytest_unconfigure")
    return call.config, seen.read_text()


def _upload(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    sim: Simulator,
    **body: str,
) -> tuple[pytest.Config, str]:
    """``_run`` as an upload to ``sim``."""
    monkeypatch.setenv("OCTANE_CLIENT_ID", sim.client_id)
    monkeypatch.setenv("OCTANE_CLIENT_SECRET", sim.client_secret)
    upload = [
        f"--octane-space={sim.space_id}",
        f"--octane-url={sim.url}",
        f"--octane-workspace={sim.workspace_id}",
        f"--octane-task-store={tmp_path / 'store'}",
        f"--octane-spool-dir={tmp_path / 'spool'}",
    ]
    return _run(pytester, monkeypatch, tmp_path, *upload, **body)


def test_a_dry_run_keeps_one_session_object_and_leaves_nothing_behind(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config, seen = _run(pytester, monkeypatch, tmp_path, f"--octane-dry-run={tmp_path / 'out'}")
    assert seen == (
        '{"reporter": true, "upload": null, "attach": null, "same_job": null, '
        '"reporter_outcome": true, "report_hook": false}'
    )
    assert SESSION not in config.stash
    for name in (
        "octane-reporter",
        "octane-collector",
        "octane-upload",
        "octane-jira-keys",
        "octane-attach",
    ):
        assert not config.pluginmanager.has_plugin(name), name


def test_an_upload_is_a_part_of_its_own_and_the_reporter_reports_its_outcome(
    pytester: pytest.Pytester, tmp_path: Path, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, seen = _upload(pytester, monkeypatch, tmp_path, sim)
    assert seen == (
        '{"reporter": true, "upload": true, "attach": true, "same_job": true, '
        '"reporter_outcome": true, "report_hook": false}'
    )
    assert SESSION not in config.stash
    assert not config.pluginmanager.has_plugin("octane-upload")
    assert len(sim.runs()) == 1


def test_the_hook_that_puts_files_on_reports_comes_with_the_first_file(
    pytester: pytest.Pytester, tmp_path: Path, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session that attaches nothing calls no per-report hook of the attachments (issue
    28); the first file registers it, so that file still reaches its run."""
    body = "def test_one(octane_attach):\n    octane_attach(b'seen', name='note.txt')\n"
    config, seen = _upload(pytester, monkeypatch, tmp_path, sim, body=body)
    assert '"report_hook": true' in seen
    assert not config.pluginmanager.has_plugin("octane-attachments-report")
    journal = next((tmp_path / "spool").glob("*/journal.jsonl")).read_text()
    assert '"name":"note.txt"' in journal  # on the run, through the report


def test_the_session_unregisters_only_what_it_registered(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfig()
    session = OctaneSession(config, settings=None)  # type: ignore[arg-type]
    part = session.register(object(), "octane-part")
    config.pluginmanager.set_blocked("octane-blocked")
    session.register(object(), "octane-blocked")  # -p no:octane-blocked: not registered
    assert config.pluginmanager.is_registered(part)
    session.unregister()
    assert not config.pluginmanager.is_registered(part)


def test_a_warning_of_pytests_process_comes_first_in_the_jobs_summary(
    pytester: pytest.Pytester, tmp_path: Path, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pytest's own lines (here: the journal went to a private folder) travel to the
    uploader with the end mark and are printed in the summary it words."""
    (tmp_path / "spool").write_text("a file, not a folder")
    monkeypatch.setenv("OCTANE_CLIENT_ID", sim.client_id)
    monkeypatch.setenv("OCTANE_CLIENT_SECRET", sim.client_secret)
    pytester.makepyfile("def test_one():\n    pass\n")
    result = pytester.runpytest(
        "-p", "no:cacheprovider",
        f"--octane-space={sim.space_id}", f"--octane-url={sim.url}",
        f"--octane-workspace={sim.workspace_id}", f"--octane-task-store={tmp_path / 'store'}",
        f"--octane-spool-dir={tmp_path / 'spool'}",
    )  # fmt: skip
    assert result.ret == 0
    text = result.stdout.str()
    assert "1/1 slices" in text or "slices: 1 ok" in text, text
    summary = text[text.index("slices: 1 ok") :]
    warning = summary.index("cannot write the spool folder")
    assert "instead" in summary[warning:] and "Octane: http" in summary[:warning], text
    assert len(sim.runs()) == 1
