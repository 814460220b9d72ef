"""``resolve_settings`` on its own: precedence, the spaces file, the seed URL, bad values."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_octane.errors import ConfigError
from pytest_octane.settings import DEFAULT_CREDENTIALS_PATH, Settings, resolve_settings


def resolve(
    cli: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    ini: Mapping[str, Any] | None = None,
) -> Settings:
    return resolve_settings(cli=cli or {}, environ=env or {}, ini=ini or {}, ini_name="pytest.ini")


@pytest.fixture
def spaces_file(tmp_path: Path) -> Callable[..., str]:
    def write(data: object, name: str = "spaces.json") -> str:
        path = tmp_path / name
        text = data if isinstance(data, str) else json.dumps(data)
        path.write_text(text, encoding="utf-8")
        return str(path)

    return write


# ---------------------------------------------------------------- precedence


def test_defaults() -> None:
    settings = resolve()
    assert settings.space is None and not settings.upload_enabled
    assert settings.slice_size == 1000
    assert settings.max_parallel == 5
    assert settings.verify_ssl is True
    assert (
        settings.credentials_path
        == DEFAULT_CREDENTIALS_PATH
        == ("/core/qzrelease/octane/S-{space_id}")
    )
    assert settings.jira_field == "jira_key_udf"
    assert settings.update_auto_runs is False
    assert settings.where("slice_size") == "default"


@pytest.mark.parametrize(
    ("given", "value", "source"),
    [
        ({"cli", "env", "ini", "file"}, 5, "option --octane-slice-size"),
        ({"env", "ini", "file"}, 6, "environment variable OCTANE_SLICE_SIZE"),
        ({"ini", "file"}, 7, "pytest.ini key octane_slice_size"),
        ({"file"}, 8, "key autoRunsSliceSize"),
        (set(), 1000, "default"),
    ],
)
def test_precedence_cli_env_ini_file_default(
    spaces_file, given: set[str], value: int, source: str
) -> None:
    path = spaces_file({"1001": {"autoRunsSliceSize": 8} if "file" in given else {}})
    settings = resolve(
        cli={"space": "1001", "config": path, "slice_size": "5" if "cli" in given else None},
        env={"OCTANE_SLICE_SIZE": "6"} if "env" in given else {},
        ini={"slice_size": "7"} if "ini" in given else {},
    )
    assert settings.slice_size == value
    assert source in settings.where("slice_size")
    if "file" in given and len(given) == 1:
        assert settings.where("slice_size") == (
            f"spaces file {path!r}, space 1001, key autoRunsSliceSize"
        )


def test_space_and_config_come_from_env_and_ini_too(spaces_file) -> None:
    path = spaces_file({"1001": {"workspaceId": 1002}, "2001": {"workspaceId": 2002}})
    settings = resolve(env={"OCTANE_CONFIG": path}, ini={"space": "2001"})
    assert (settings.space, settings.workspace) == (2001, 2002)
    assert settings.where("space") == "pytest.ini key octane_space"
    assert settings.where("config") == "environment variable OCTANE_CONFIG"


def test_multiple_values_from_cli_env_and_ini() -> None:
    assert resolve(cli={"product_area": ["1", "2"]}).product_area == (1, 2)
    assert resolve(env={"OCTANE_PRODUCT_AREA": "3,4"}).product_area == (3, 4)
    assert resolve(ini={"product_area": ["5", "6"]}).product_area == (5, 6)
    assert resolve(
        cli={"test_field": ["Framework:pytest"]}, env={"OCTANE_FIELD": "Test_Level:Unit"}
    ).test_field == (("Framework", "pytest"),)


def test_every_seed_key_of_the_spaces_file(spaces_file) -> None:
    path = spaces_file(
        {
            "1001": {
                "url": "https://octane.example.com",
                "workspaceId": 1002,
                "credentialsPath": "/vault/octane/S-{space_id}",
                "rootApplicationModuleName": "Automated tests",
                "autoRunsSliceSize": 250,
                "maxParallelUploads": 3,
                "verifySSL": False,
                "updateAutoRuns": True,
                "jiraKeyField": "story_key_udf",
            },
            "2001": {},
        }
    )
    settings = resolve(cli={"space": "1001", "config": path})
    assert settings.url == "https://octane.example.com"
    assert settings.workspace == 1002
    assert settings.credentials_path == "/vault/octane/S-{space_id}"
    assert settings.root_module == "Automated tests"
    assert settings.slice_size == 250
    assert settings.max_parallel == 3
    assert settings.verify_ssl is False
    assert settings.update_auto_runs is True
    assert settings.jira_field == "story_key_udf"
    other = resolve(cli={"space": "2001", "config": path})
    assert (other.url, other.workspace, other.slice_size, other.max_parallel) == (
        None,
        None,
        1000,
        5,
    )
    assert (other.verify_ssl, other.jira_field, other.update_auto_runs) == (
        True,
        "jira_key_udf",
        False,
    )
    assert other.credentials_path == DEFAULT_CREDENTIALS_PATH


# ---------------------------------------------------------------- the seed's URL form


@pytest.mark.parametrize(
    "url",
    [
        "https://h/shared_spaces/1001/workspaces/1002",
        "https://h/shared_spaces/1001/workspaces/1002/",
        "https://h/api/shared_spaces/1001/workspaces/1002",
    ],
)
def test_seed_url_gives_server_space_and_workspace(url: str) -> None:
    settings = resolve(cli={"url": url})
    assert (settings.url, settings.space, settings.workspace) == ("https://h", 1001, 1002)
    assert settings.where("workspace") == "option --octane-url"


def test_seed_url_keeps_a_path_prefix() -> None:
    settings = resolve(env={"OCTANE_URL": "https://h:8443/octane/shared_spaces/7/workspaces/8"})
    assert (settings.url, settings.space, settings.workspace) == ("https://h:8443/octane", 7, 8)


def test_seed_url_from_the_spaces_file(spaces_file) -> None:
    path = spaces_file({"1001": {"url": "https://h/shared_spaces/1001/workspaces/1002"}})
    settings = resolve(cli={"space": "1001", "config": path})
    assert (settings.url, settings.space, settings.workspace) == ("https://h", 1001, 1002)


def test_plain_server_root_is_kept() -> None:
    settings = resolve(cli={"url": "https://octane.example.com/"})
    assert settings.url == "https://octane.example.com"
    assert (settings.space, settings.workspace) == (None, None)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"space": "9"}, ["option --octane-url", "shared space 1001", "option --octane-space"]),
        (
            {"workspace": "9"},
            ["option --octane-url", "workspace 1002", "option --octane-workspace"],
        ),
    ],
)
def test_seed_url_that_disagrees_is_an_error(extra: dict[str, str], expected: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(cli={"url": "https://h/shared_spaces/1001/workspaces/1002", **extra})
    for text in [*expected, "make them agree"]:
        assert text in str(info.value)


# ---------------------------------------------------------------- bad values


#: (spaces-file writer -> resolve kwargs), texts the message must hold
BAD = [
    pytest.param(
        lambda write: {"cli": {"slice_size": "ten"}},
        ["option --octane-slice-size", "'ten'", "allowed: from 1 to 1000"],
        id="slice size not an integer (cli)",
    ),
    pytest.param(
        lambda write: {"env": {"OCTANE_SLICE_SIZE": "2.5"}},
        ["environment variable OCTANE_SLICE_SIZE", "'2.5'", "allowed: from 1 to 1000"],
        id="slice size a fraction (env)",
    ),
    pytest.param(
        lambda write: {"ini": {"slice_size": "0"}},
        ["pytest.ini key octane_slice_size", "0", "allowed: from 1 to 1000"],
        id="slice size zero (ini)",
    ),
    pytest.param(
        lambda write: {"cli": {"slice_size": "-4"}},
        ["option --octane-slice-size", "-4", "allowed: from 1 to 1000"],
        id="slice size negative (cli)",
    ),
    pytest.param(
        lambda write: {
            "cli": {
                "space": "1001",
                "config": write({"1001": {"autoRunsSliceSize": 1001}}, "big.json"),
            }
        },
        ["big.json", "space 1001, key autoRunsSliceSize", "1001", "allowed: from 1 to 1000"],
        id="slice size above 1000 (spaces file)",
    ),
    pytest.param(
        lambda write: {
            "cli": {
                "space": "1001",
                "config": write({"1001": {"autoRunsSliceSize": True}}, "bool.json"),
            }
        },
        ["bool.json", "key autoRunsSliceSize", "allowed: from 1 to 1000"],
        id="slice size a boolean (spaces file)",
    ),
    pytest.param(
        lambda write: {
            "cli": {
                "space": "1001",
                "config": write({"1001": {"autoRunSliceSize": 5}}, "typo.json"),
            }
        },
        ["typo.json", "space 1001", "autoRunSliceSize", "allowed:", "autoRunsSliceSize"],
        id="unknown key in the spaces file",
    ),
    pytest.param(
        lambda write: {"cli": {"config": "/nonexistent/octane-spaces.json"}},
        ["option --octane-config", "/nonexistent/octane-spaces.json", "does not exist"],
        id="spaces file missing",
    ),
    pytest.param(
        lambda write: {
            "env": {"OCTANE_CONFIG": write('{\n  "1001": {\n    "url": ,\n', "bad.json")}
        },
        ["environment variable OCTANE_CONFIG", "bad.json", "not valid JSON", "line 3 column"],
        id="spaces file invalid JSON",
    ),
    pytest.param(
        lambda write: {"cli": {"config": write("[1, 2]", "list.json")}},
        ["list.json", "JSON object mapping shared space ids"],
        id="spaces file not an object",
    ),
    pytest.param(
        lambda write: {"cli": {"config": write({"main": {}}, "name.json")}},
        ["name.json", "'main'", "shared space id (digits)"],
        id="spaces file key not a space id",
    ),
    pytest.param(
        lambda write: {
            "cli": {"space": "2002", "config": write({"1001": {"workspaceId": 1002}}, "good.json")}
        },
        ["shared space 2002", "option --octane-space", "good.json", "it has: 1001"],
        id="unknown space",
    ),
    pytest.param(
        lambda write: {"env": {"OCTANE_SPACE": "0"}},
        ["environment variable OCTANE_SPACE", "allowed: 1 or more"],
        id="space not positive",
    ),
    pytest.param(
        lambda write: {"cli": {"url": "octane.example.com"}},
        ["option --octane-url", "'octane.example.com'", "http(s) URL", "https://"],
        id="URL without scheme (cli)",
    ),
    pytest.param(
        lambda write: {
            "cli": {
                "space": "1001",
                "config": write({"1001": {"url": "octane:8080"}}, "url.json"),
            }
        },
        ["url.json", "space 1001, key url", "'octane:8080'", "https://"],
        id="URL without scheme (spaces file)",
    ),
    pytest.param(
        lambda write: {"ini": {"url": "https://h/shared_spaces/1001/workspace/1002"}},
        [
            "pytest.ini key octane_url",
            "'https://h/shared_spaces/1001/workspace/1002'",
            "https://octane.example.com",
            "/shared_spaces/<space",
        ],
        id="URL with a mistyped path",
    ),
    pytest.param(
        lambda write: {
            "cli": {
                "space": "1001",
                "config": write({"1001": {"verifySSL": "/no/ca.pem"}}, "ssl.json"),
            }
        },
        ["ssl.json", "key verifySSL", "true/false", "CA bundle"],
        id="verifySSL neither bool nor file",
    ),
    pytest.param(
        lambda write: {"ini": {"test_field": ["Severity:High"]}},
        ["pytest.ini key octane_field", "'Severity'", "Test_Level", "Framework"],
        id="test field of an unknown type",
    ),
    pytest.param(
        lambda write: {"cli": {"build_id": "7"}},
        ["--octane-build-server-id", "--octane-build-job-id", "--octane-build-id"],
        id="partial build context",
    ),
]


@pytest.mark.parametrize(("make", "expected"), BAD)
def test_bad_configuration_names_source_and_allowed_values(
    spaces_file, make: Any, expected: list[str]
) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(**make(spaces_file))
    message = str(info.value)
    assert "\n" not in message
    for text in expected:
        assert text in message, f"{text!r} missing from: {message}"


@pytest.mark.parametrize(
    ("option", "advice"),
    [
        ("url", "give the Octane server root such as https://octane.example.com"),
        ("proxy", "give the whole URL with its scheme"),
        ("build_url", "give the whole URL with its scheme"),
    ],
)
def test_a_url_without_scheme_gets_the_advice_of_its_own_option(option: str, advice: str) -> None:
    """Only the Octane URL is told to be Octane's root; a proxy or a build page is not."""
    with pytest.raises(ConfigError) as info:
        resolve_settings(cli={option: "host.example.com"}, environ={}, ini={})
    message = str(info.value)
    assert (
        f"--octane-{option.replace('_', '-')}: 'host.example.com' is not an http(s) URL" in message
    )
    assert advice in message
    assert ("Octane server root" in message) is (option == "url")


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="running as root: chmod 000 does not stop root from reading the file",
)
def test_unreadable_spaces_file(spaces_file) -> None:
    path = Path(spaces_file({"1001": {}}))
    path.chmod(0)
    try:
        with pytest.raises(ConfigError) as info:
            resolve(cli={"config": str(path)})
    finally:
        path.chmod(0o600)
    for text in ["option --octane-config", str(path), "cannot be read", "permissions"]:
        assert text in str(info.value)


def test_spaces_file_that_is_a_folder_cannot_be_read(tmp_path: Path) -> None:
    # the unreadable-file path, reachable as root too
    with pytest.raises(ConfigError) as info:
        resolve(cli={"config": str(tmp_path)})
    assert "option --octane-config" in str(info.value)
    assert "cannot be read" in str(info.value)
