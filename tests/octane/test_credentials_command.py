"""``credentialsCommand``: a secret store's CLI prints the credentials as JSON."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

from pytest_octane.errors import CredentialsError
from pytest_octane.octane.credentials import resolve_credentials
from pytest_octane.octane.credentials_command import run_credentials_command

SECRET = "s3cr3t-value-never-shown"


def _script(tmp_path: Path, body: str) -> str:
    """A command line running ``body`` as a Python program (no shell involved)."""
    path = tmp_path / "helper.py"
    path.write_text(body)
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(path))}"


def _resolve(command: str):  # type: ignore[no-untyped-def]
    return resolve_credentials(1001, path_template=None, environ={}, command=command)


def test_the_command_prints_the_pair_and_gets_the_space_id(tmp_path: Path) -> None:
    command = _script(
        tmp_path,
        "import json, sys\n"
        f"print(json.dumps({{'client_id': 'bot-' + sys.argv[1], 'client_secret': {SECRET!r}}}))\n",
    )
    found = _resolve(command + " S-{space_id}")
    assert found.client_id == "bot-S-1001"
    assert found.secret.reveal() == SECRET
    assert "credentials_command" in found.source and SECRET not in repr(found)


def test_vaults_kv_get_json_answer_is_read_as_it_is(tmp_path: Path) -> None:
    vault = {"request_id": "x", "data": {"data": {"client_id": "v", "client_secret": SECRET}}}
    command = _script(tmp_path, f"print({json.dumps(json.dumps(vault))})\n")
    assert _resolve(command).client_id == "v"


def test_no_shell_is_involved(tmp_path: Path) -> None:
    marker = tmp_path / "touched"
    command = _script(tmp_path, "import sys; print(sys.argv[1:])\n") + f" ; touch {marker}"
    with pytest.raises(CredentialsError, match="not JSON"):
        _resolve(command)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (f"import sys; print({SECRET!r}); sys.exit(3)\n", "exited with status 3"),
        (f"print('oops {SECRET}')\n", "not JSON"),
        (f'print(\'{{"token": "{SECRET}"}}\')\n', "without client_id/client_secret"),
        ('print(\'{"client_id": "a"}\')\n', "has client_id but no client_secret"),
    ],
)
def test_a_bad_answer_is_one_clear_error_without_the_output(
    tmp_path: Path, body: str, fragment: str
) -> None:
    with pytest.raises(CredentialsError, match=fragment) as info:
        _resolve(_script(tmp_path, body))
    assert SECRET not in str(info.value)


def test_a_hanging_command_times_out(tmp_path: Path) -> None:
    command = _script(tmp_path, "import time; time.sleep(30)\n")
    with pytest.raises(CredentialsError, match=r"did not finish within 0\.5 s"):
        run_credentials_command(command, 1001, timeout=0.5)


def test_a_missing_program_says_so() -> None:
    with pytest.raises(CredentialsError, match="'no-such-secret-cli' was not found"):
        _resolve("no-such-secret-cli kv get x")


def test_environment_variables_still_win_and_the_file_is_not_read(tmp_path: Path) -> None:
    env = {"OCTANE_CLIENT_ID": "env", "OCTANE_CLIENT_SECRET": "x"}
    found = resolve_credentials(1001, path_template=None, environ=env, command="no-such-secret-cli")
    assert found.client_id == "env"


def test_it_is_a_setting_from_ini_env_and_spaces_file(tmp_path: Path) -> None:
    from pytest_octane.settings import resolve_settings

    spaces = tmp_path / "spaces.json"
    spaces.write_text(json.dumps({"1001": {"credentialsCommand": "op read x"}}))
    from_file = resolve_settings(cli={"space": "1001", "config": str(spaces)}, environ={}, ini={})
    assert from_file.credentials_command == "op read x"
    from_env = resolve_settings(
        cli={"space": "1001"}, environ={"OCTANE_CREDENTIALS_COMMAND": "vault kv get"}, ini={}
    )
    assert from_env.credentials_command == "vault kv get"
    from_ini = resolve_settings(
        cli={"space": "1001"}, environ={}, ini={"credentials_command": "aws x"}
    )
    assert from_ini.credentials_command == "aws x"
