"""The suite flow's settings: suite path, job-level JIRA keys, slice limit, test fields."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_octane.errors import ConfigError
from pytest_octane.settings import Settings, resolve_settings


def resolve(
    cli: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    ini: dict[str, Any] | None = None,
) -> Settings:
    return resolve_settings(cli=cli or {}, environ=env or {}, ini=ini or {})


def spaces(tmp_path: Path, **entry: Any) -> dict[str, str]:
    path = tmp_path / "spaces.json"
    path.write_text(json.dumps({"1001": {"url": "https://o.example", **entry}}))
    return {"space": "1001", "config": str(path)}


def test_the_suite_path_from_every_source(tmp_path: Path) -> None:
    assert resolve(cli={"suite": " Team / Area /Nightly "}).suite == "Team/Area/Nightly"
    assert resolve(env={"OCTANE_SUITE": "Team/Nightly"}).suite == "Team/Nightly"
    assert resolve(ini={"suite": "Nightly"}).suite == "Nightly"
    # any character can be queried now (CI SDK escaping), so none is refused
    assert resolve(cli={"suite": "a'^b\\(c)/N"}).suite == "a'^b\\(c)/N"
    settings = resolve(cli=spaces(tmp_path, suitePath="Team/Area/Nightly"))
    assert settings.suite == "Team/Area/Nightly"
    assert "key suitePath" in settings.where("suite")


@pytest.mark.parametrize(
    ("cli", "expected"),
    [
        ({"suite": "Team//Nightly"}, ["--octane-suite", "empty part", "Team/Area/Nightly"]),
        ({"suite": "Team/"}, ["--octane-suite", "empty part"]),
        ({"suite": "T/N", "suite_id": "5"}, ["--octane-suite", "--octane-suite-id"]),
        ({"external_run_id": "r1"}, ["--octane-external-run-id", "--octane-suite"]),
        ({"jira": ["QZ-1"]}, ["--octane-jira QZ-1", "--octane-suite PATH"]),
        ({"suite": "T/N", "jira": ["qz-1"]}, ["--octane-jira", "'qz-1'", "ABC-123"]),
    ],
)
def test_mistakes_are_one_clear_error(cli: dict[str, Any], expected: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(cli=cli)
    for fragment in expected:
        assert fragment in str(info.value)


def test_job_level_keys_are_repeatable_and_recorded() -> None:
    settings = resolve(
        cli={"suite": "T/N", "jira": ["QZ-1", "QZ-2"], "external_run_id": "nightly-7"}
    )
    assert settings.jira == ("QZ-1", "QZ-2")
    assert resolve(env={"OCTANE_JIRA": "QZ-1,QZ-2", "OCTANE_SUITE_ID": "4"}).jira == (
        "QZ-1",
        "QZ-2",
    )
    summary = settings.summary()
    assert summary["suite"] == "T/N" and summary["jira"] == ("QZ-1", "QZ-2")
    assert summary["external_run_id"] == "nightly-7"


def test_a_slice_size_over_octanes_limit_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(cli=spaces(tmp_path, autoRunsSliceSize=1001))
    assert "autoRunsSliceSize" in str(info.value) and "1000" in str(info.value)
    with pytest.raises(ConfigError, match="from 1 to 1000"):
        resolve(cli={"slice_size": "5000"})
    assert resolve(cli=spaces(tmp_path, autoRunsSliceSize=1000)).slice_size == 1000


def test_test_fields_name_pytest_unless_the_user_sets_them() -> None:
    assert resolve().effective_test_fields == (
        ("Testing_Tool_Type", "pytest"),
        ("Framework", "pytest"),
    )
    settings = resolve(cli={"test_field": ["Framework:pytest-bdd", "Test_Level:Unit Test"]})
    assert settings.effective_test_fields == (
        ("Framework", "pytest-bdd"),
        ("Test_Level", "Unit Test"),
        ("Testing_Tool_Type", "pytest"),
    )
    mine = resolve(cli={"test_field": ["Testing_Tool_Type:QZ", "Framework:QZ"]})
    assert mine.effective_test_fields == (("Testing_Tool_Type", "QZ"), ("Framework", "QZ"))
