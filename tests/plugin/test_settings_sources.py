"""Settings through a real pytest run: every source reaches the plugin, bad values stop it."""

from __future__ import annotations

import json

import pytest

FIVE_TESTS = "".join(f"def test_{i}():\n    pass\n\n" for i in range(5))


@pytest.fixture
def five_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_five=FIVE_TESTS)


def _slice_sizes(dry) -> list[int]:
    return [len(root.findall("test_runs/test_run")) for root in dry.slices]


@pytest.mark.usefixtures("five_tests")
def test_cli_beats_env_beats_ini(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, run_and_parse
) -> None:
    pytester.makeini("[pytest]\noctane_slice_size = 4\n")
    assert _slice_sizes(run_and_parse()) == [4, 1]
    monkeypatch.setenv("OCTANE_SLICE_SIZE", "3")
    assert _slice_sizes(run_and_parse()) == [3, 2]
    assert _slice_sizes(run_and_parse("--octane-slice-size=2")) == [2, 2, 1]


@pytest.mark.usefixtures("five_tests")
def test_pyproject_ini_options(pytester: pytest.Pytester, run_and_parse) -> None:
    pytester.makepyprojecttoml(
        """
        [tool.pytest.ini_options]
        octane_slice_size = "3"
        octane_release = "Release 7"
        """
    )
    dry = run_and_parse()
    assert _slice_sizes(dry) == [3, 2]
    assert dry.slices[0].find("release").get("name") == "Release 7"


@pytest.mark.usefixtures("five_tests")
def test_spaces_file_of_the_selected_space(pytester: pytest.Pytester, run_and_parse) -> None:
    spaces = pytester.path / "spaces.json"
    spaces.write_text(
        json.dumps(
            {
                "1001": {"autoRunsSliceSize": 2, "release": "_default_"},
                "2001": {"autoRunsSliceSize": 4},
            }
        ),
        encoding="utf-8",
    )
    dry = run_and_parse(f"--octane-config={spaces}", "--octane-space=1001")
    assert _slice_sizes(dry) == [2, 2, 1]
    assert dry.slices[0].find("release").get("name") == "_default_"
    dry = run_and_parse(f"--octane-config={spaces}", "--octane-space=2001")
    assert _slice_sizes(dry) == [4, 1]
    # the ini file beats the spaces file
    pytester.makeini("[pytest]\noctane_slice_size = 5\n")
    dry = run_and_parse(f"--octane-config={spaces}", "--octane-space=2001")
    assert _slice_sizes(dry) == [5]


@pytest.mark.usefixtures("five_tests")
@pytest.mark.parametrize(
    ("setup", "args", "expected"),
    [
        (None, ["--octane-slice-size=0"], ["option --octane-slice-size", "from 1 to 1000"]),
        (None, ["--octane-slice-size=many"], ["option --octane-slice-size", "'many'"]),
        (
            "ini",
            [],
            ["tox.ini key octane_slice_size", "1001", "from 1 to 1000"],
        ),
        (
            "env",
            [],
            ["environment variable OCTANE_MAX_TRACE", "200 or more"],
        ),
        (
            None,
            ["--octane-config=missing.json", "--octane-space=1001"],
            ["option --octane-config", "missing.json", "does not exist"],
        ),
        (
            "spaces",
            ["--octane-config=spaces.json", "--octane-space=1001"],
            ["spaces.json", "space 1001", "unknown key(s) 'sliceSize'", "autoRunsSliceSize"],
        ),
        (
            "good spaces",
            ["--octane-config=spaces.json", "--octane-space=3"],
            ["shared space 3", "it has: 1001"],
        ),
        (None, ["--octane-url=octane.example.com"], ["option --octane-url", "https://"]),
    ],
    ids=[
        "zero slice size",
        "word slice size",
        "ini above 1000",
        "env too small",
        "missing spaces file",
        "unknown spaces key",
        "unknown space",
        "URL without scheme",
    ],
)
def test_bad_setting_is_one_line_usage_error(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    setup: str | None,
    args: list[str],
    expected: list[str],
) -> None:
    if setup == "ini":
        pytester.makeini("[pytest]\noctane_slice_size = 1001\n")
    elif setup == "env":
        monkeypatch.setenv("OCTANE_MAX_TRACE", "10")
    elif setup in ("spaces", "good spaces"):
        entry = {"sliceSize": 5} if setup == "spaces" else {"autoRunsSliceSize": 5}
        pytester.path.joinpath("spaces.json").write_text(
            json.dumps({"1001": entry}), encoding="utf-8"
        )
    out = pytester.path / "out"
    result = pytester.runpytest(f"--octane-dry-run={out}", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.strip()]
    assert len(errors) == 1, result.errlines
    assert errors[0].startswith("ERROR: pytest-octane: ")
    for text in expected:
        assert text in errors[0], f"{text!r} missing from: {errors[0]}"
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
    assert not out.exists()


def test_bad_setting_is_ignored_while_the_plugin_is_off(
    pytester: pytest.Pytester, five_tests: None
) -> None:
    pytester.makeini("[pytest]\noctane_slice_size = 0\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=5)
