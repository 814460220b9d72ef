"""pytest's report header shows the resolved configuration, and where each piece came from."""

from __future__ import annotations

from pathlib import Path

import pytest

# Imported here so pytester's in-process runs reuse these modules instead of importing
# fresh copies (a fresh http.cookiejar next to an old requests breaks requests' cookie jar).
import pytest_octane.job.engine  # noqa: F401
from pytest_octane.settings import resolve_settings
from pytest_octane.simulator import Simulator


@pytest.fixture(autouse=True)
def _one_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_one="def test_one():\n    pass\n")


def _octane_lines(result: pytest.RunResult) -> list[str]:
    """The header line (the progress and summary lines say other things after "octane")."""
    return [line for line in result.outlines if line.startswith(("octane: space", "octane ("))]


def test_the_header_names_each_value_and_its_source(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini("[pytest]\noctane_workspace = 1002\n")
    monkeypatch.setenv("OCTANE_URL", "https://octane.example.com/")
    result = pytester.runpytest(f"--octane-dry-run={pytester.path / 'out'}", "--octane-space=7")
    result.assert_outcomes(passed=1)
    assert _octane_lines(result) == [
        "octane (dry run: nothing is uploaded): space 7 (option --octane-space); "
        "workspace 1002 (tox.ini key octane_workspace); "
        "url https://octane.example.com (environment variable OCTANE_URL); "
        "task store octane_task_logs (default); streaming on (default)"
    ]


@pytest.mark.parametrize("args", [["-q"], ["--no-header"], []], ids=["-q", "--no-header", "off"])
def test_no_header_line_when_pytest_shows_no_header_or_the_plugin_is_off(
    pytester: pytest.Pytester, args: list[str]
) -> None:
    dry_run = [f"--octane-dry-run={pytester.path / 'out'}"] if args else []
    result = pytester.runpytest(*dry_run, *args)
    result.assert_outcomes(passed=1)
    assert _octane_lines(result) == []
    if args:
        assert (pytester.path / "out").is_dir()  # the plugin was on all the same


def test_an_upload_shows_where_it_goes(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with Simulator() as sim:
        monkeypatch.setenv("OCTANE_CLIENT_ID", sim.client_id)
        monkeypatch.setenv("OCTANE_CLIENT_SECRET", sim.client_secret)
        monkeypatch.setenv("OCTANE_STREAM", "off")
        pytester.path.joinpath("spaces.json").write_text(
            f'{{"{sim.space_id}": {{"url": "{sim.url}", "workspaceId": {sim.workspace_id}}}}}',
            encoding="utf-8",
        )
        store = tmp_path / "store"
        result = pytester.runpytest(
            f"--octane-space={sim.space_id}",
            "--octane-config=spaces.json",
            f"--octane-task-store={store}",
            f"--octane-spool-dir={tmp_path / 'spool'}",
            "-p",
            "no:cacheprovider",
        )
        result.assert_outcomes(passed=1)
        assert len(sim.runs()) == 1
    entry = f"spaces file 'spaces.json', space {sim.space_id}, key"
    assert _octane_lines(result) == [
        f"octane: space {sim.space_id} (option --octane-space); "
        f"workspace {sim.workspace_id} ({entry} workspaceId); url {sim.url} ({entry} url); "
        f"task store {store} (option --octane-task-store); "
        "streaming off (environment variable OCTANE_STREAM)"
    ]


def test_the_header_hides_passwords_and_says_what_is_not_set() -> None:
    settings = resolve_settings(
        cli={"task_store": "postgresql://octane:s3cret@db.example/jobs?sslpassword=k3y"},
        environ={},
        ini={},
    )
    line = settings.header_line()
    assert "s3cret" not in line and "k3y" not in line
    assert line == (
        "space not set (default); workspace not set (default); url not set (default); "
        "task store postgresql://octane:***@db.example/jobs?sslpassword=*** "
        "(option --octane-task-store); streaming on (default)"
    )


def test_the_configuration_reference_shows_the_line_as_printed() -> None:
    settings = resolve_settings(
        cli={"space": "1001"},
        environ={"OCTANE_URL": "https://octane.example.com"},
        ini={"workspace": "1002"},
        ini_name="pytest.ini",
    )
    docs = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
    assert f"\noctane: {settings.header_line()}\n" in docs.read_text(encoding="utf-8")
