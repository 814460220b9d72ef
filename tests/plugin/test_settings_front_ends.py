"""``Settings`` owns its front ends: it adds the option table to pytest and to argparse, builds
itself from either, and takes every default from the table alone."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from pytest_octane.settings import OPTIONS, Settings, resolve_option, resolve_settings


def test_every_default_comes_from_the_option_table() -> None:
    assert [spec.name for spec in OPTIONS[:2]] == ["space", "config"]  # they select the entry
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    assert list(fields) == [spec.name for spec in OPTIONS] + ["sources", "from_pytest"]
    assert [name for name, f in fields.items() if f.default is not dataclasses.MISSING] == [
        "from_pytest"
    ]
    settings = resolve_settings(cli={}, environ={}, ini={})
    for spec in OPTIONS:
        expected = () if spec.multiple else spec.default
        assert getattr(settings, spec.name) == expected, spec.name


def test_a_verb_takes_both_spellings_and_builds_its_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OCTANE_MAX_PARALLEL", raising=False)
    monkeypatch.setenv("OCTANE_SLICE_SIZE", "9")
    parser = argparse.ArgumentParser()
    Settings.register_argparse_arguments(parser, groups=["upload", "results"], skip=["strict"])
    given = "--slice-size 3 --octane-skip-errors --jira QZ-1 --octane-jira QZ-2 --suite Team/N"
    args = parser.parse_args(given.split())
    settings = Settings.from_argparse(args, max_parallel="2", suite="Other/Suite")
    assert settings.slice_size == 3 and settings.where("slice_size") == "option --octane-slice-size"
    assert settings.skip_errors is True
    assert settings.jira == ("QZ-1", "QZ-2")
    assert settings.max_parallel == 2  # an override fills in what the command line leaves out
    assert settings.suite == "Other/Suite"  # and wins over what it gives
    with pytest.raises(SystemExit):
        parser.parse_args(["--strict"])  # skipped: this verb does not take it


def test_the_plugin_builds_its_settings_from_options_and_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\noctane_tag =\n    OS:Linux\n    DB:Postgres\n")
    config = pytester.parseconfig("--octane-slice-size=4", "--octane-jira=QZ-1", "--octane-suite=S")
    settings = Settings.from_pytest_config(config)
    assert settings.slice_size == 4 and settings.jira == ("QZ-1",)
    assert settings.tag == (("OS", "Linux"), ("DB", "Postgres"))
    assert settings.where("tag") == "tox.ini key octane_tag"


@pytest.mark.parametrize(
    ("flag", "environ", "expected"),
    [
        ("flagged", {"OCTANE_TASK_STORE": "from-env"}, "flagged"),
        (None, {"OCTANE_TASK_STORE": "from-env"}, "from-env"),
        (None, {"OCTANE_TASK_STORE": "  "}, "octane_task_logs"),
        ("", {}, "octane_task_logs"),
    ],
)
def test_one_option_alone(flag: str | None, environ: dict[str, str], expected: str) -> None:
    assert resolve_option("task_store", flag, environ) == expected
