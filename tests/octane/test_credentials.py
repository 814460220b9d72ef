"""Credentials: the Secret type, sign-in bodies, and the hook > env > file resolution order."""

from __future__ import annotations

import copy
import json
import os
import pickle
from pathlib import Path

import pytest

from pytest_octane.errors import CredentialsError
from pytest_octane.octane.credentials import Credentials, Secret, resolve_credentials

SECRET = "s3cr3t-Value-42"
API_ENV = {"OCTANE_CLIENT_ID": "key_id", "OCTANE_CLIENT_SECRET": SECRET}
USER_ENV = {"OCTANE_USER": "alice", "OCTANE_PASSWORD": SECRET}


def resolve(tmp_path: Path, environ: dict[str, str] | None = None, **kw: object) -> Credentials:
    kw.setdefault("path_template", str(tmp_path / "S-{space_id}"))
    return resolve_credentials(1001, environ=environ or {}, **kw)  # type: ignore[arg-type]


def write(tmp_path: Path, content: str, name: str = "S-1001") -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


# ------------------------------------------------------------------ Secret


def test_secret_hides_its_value_in_every_text_form() -> None:
    secret = Secret(SECRET)
    for text in (repr(secret), str(secret), f"{secret}", f"{secret!r}", "%s" % (secret,)):  # noqa: UP031
        assert text == "<hidden>"
    assert secret.reveal() == SECRET


def test_secret_compares_and_hashes_by_value() -> None:
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert Secret("a") != "a"
    assert len({Secret("a"), Secret("a")}) == 1


def test_secret_refuses_pickling_but_copies() -> None:
    secret = Secret(SECRET)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(secret)
    assert copy.deepcopy(secret) is secret
    with pytest.raises(TypeError):
        json.dumps({"s": secret})


def test_secret_wraps_only_strings() -> None:
    with pytest.raises(TypeError):
        Secret(42)  # type: ignore[arg-type]


# ------------------------------------------------------------------ Credentials


def test_api_key_sign_in_body_and_repr() -> None:
    creds = Credentials.api_key("key_id", SECRET, source="somewhere")
    assert creds.sign_in_body() == {"client_id": "key_id", "client_secret": SECRET}
    assert creds.kind == "api_key"
    assert SECRET not in repr(creds) and SECRET not in str(creds)
    assert "key_id" in repr(creds) and "<hidden>" in repr(creds)


def test_user_password_sign_in_body_and_repr() -> None:
    creds = Credentials.user_password("alice", Secret(SECRET), source="somewhere")
    assert creds.sign_in_body() == {"user": "alice", "password": SECRET}
    assert creds.kind == "user"
    assert SECRET not in repr(creds)


def test_credentials_are_frozen() -> None:
    creds = Credentials.api_key("key_id", SECRET, source="x")
    with pytest.raises(AttributeError):
        creds.client_id = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"client_id": "id"}, "empty client_secret"),
        ({"client_id": " ", "client_secret": Secret("x")}, "empty client_id"),
        ({"user": "u", "password": Secret("")}, "empty password"),
        ({}, "neither client_id/client_secret nor user/password"),
        (
            {"client_id": "i", "client_secret": Secret("x"), "user": "u", "password": Secret("p")},
            "mix an API key and a user/password",
        ),
    ],
)
def test_incomplete_credentials_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(CredentialsError, match=message):
        Credentials(source="test", **kwargs)  # type: ignore[arg-type]


# ------------------------------------------------------------------ resolution order


def test_hook_answer_wins_over_env_and_file(tmp_path: Path) -> None:
    write(tmp_path, json.dumps({"client_id": "from_file", "client_secret": "f"}))
    given = Credentials.api_key("from_hook", "h", source="hook pytest_octane_credentials (vault)")
    assert resolve(tmp_path, API_ENV, hook=lambda: given) is given


def test_hook_mapping_is_converted_and_named_as_source(tmp_path: Path) -> None:
    creds = resolve(tmp_path, API_ENV, hook=lambda: {"user": "bob", "password": SECRET})
    assert creds.user == "bob"
    assert creds.source == "hook pytest_octane_credentials"


def test_hook_mapping_with_half_a_pair_names_the_missing_key(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError) as info:
        resolve(tmp_path, hook=lambda: {"client_id": "x"}, hook_name="hook from plugin vault")
    assert (
        str(info.value)
        == "hook from plugin vault has client_id but no client_secret; add client_secret"
    )


def test_hook_with_wrong_type_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="returned a list"):
        resolve(tmp_path, hook=lambda: ["x"])  # type: ignore[arg-type,return-value]


def test_hook_returning_none_falls_through_to_env(tmp_path: Path) -> None:
    creds = resolve(tmp_path, API_ENV, hook=lambda: None)
    assert creds.client_id == "key_id"
    assert creds.source == "environment variables OCTANE_CLIENT_ID/OCTANE_CLIENT_SECRET"


def test_env_api_key_wins_over_env_user_and_file(tmp_path: Path) -> None:
    write(tmp_path, json.dumps({"client_id": "from_file", "client_secret": "f"}))
    creds = resolve(tmp_path, {**API_ENV, **USER_ENV})
    assert creds.client_id == "key_id"
    assert creds.client_secret == Secret(SECRET)


def test_env_user_password(tmp_path: Path) -> None:
    creds = resolve(tmp_path, USER_ENV)
    assert creds.sign_in_body() == {"user": "alice", "password": SECRET}
    assert creds.source == "environment variables OCTANE_USER/OCTANE_PASSWORD"


@pytest.mark.parametrize(
    ("environ", "present", "missing"),
    [
        ({"OCTANE_CLIENT_ID": "id"}, "OCTANE_CLIENT_ID", "OCTANE_CLIENT_SECRET"),
        ({"OCTANE_CLIENT_SECRET": SECRET}, "OCTANE_CLIENT_SECRET", "OCTANE_CLIENT_ID"),
        ({"OCTANE_USER": "alice", **API_ENV}, "OCTANE_USER", "OCTANE_PASSWORD"),
        ({"OCTANE_PASSWORD": SECRET, "OCTANE_USER": ""}, "OCTANE_PASSWORD", "OCTANE_USER"),
    ],
)
def test_half_set_env_names_the_missing_variable(
    tmp_path: Path, environ: dict[str, str], present: str, missing: str
) -> None:
    with pytest.raises(CredentialsError) as info:
        resolve(tmp_path, environ)
    message = str(info.value)
    assert message == (
        f"environment variable {present} is set but {missing} is not; "
        f"set {missing} too, or unset {present}"
    )
    assert SECRET not in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            {"client_id": "fid", "client_secret": SECRET},
            {"client_id": "fid", "client_secret": SECRET},
        ),
        (
            {"clientId": "cid", "clientSecret": SECRET},
            {"client_id": "cid", "client_secret": SECRET},
        ),
        ({"user": "u", "password": SECRET, "verifySSL": False}, {"user": "u", "password": SECRET}),
        (
            {"client_id": 1234, "client_secret": SECRET},
            {"client_id": "1234", "client_secret": SECRET},
        ),
    ],
)
def test_file_key_spellings(
    tmp_path: Path, content: dict[str, object], expected: dict[str, str]
) -> None:
    path = write(tmp_path, json.dumps(content))
    creds = resolve(tmp_path)
    assert creds.sign_in_body() == expected
    assert creds.source == f"file {path}"


def test_directory_path_reads_credentials_json_inside(tmp_path: Path) -> None:
    folder = tmp_path / "S-1001"
    folder.mkdir()
    write(folder, json.dumps({"client_id": "d", "client_secret": SECRET}), "credentials.json")
    creds = resolve(tmp_path)
    assert creds.client_id == "d"
    assert creds.source == f"file {folder / 'credentials.json'}"


def test_template_gets_the_space_id(tmp_path: Path) -> None:
    write(tmp_path, json.dumps({"client_id": "x", "client_secret": "y"}), "space-1001.json")
    creds = resolve(tmp_path, path_template=str(tmp_path / "space-{space_id}.json"))
    assert creds.client_id == "x"


def _nothing_found(tmp_path: Path, **kw: object) -> str:
    with pytest.raises(CredentialsError) as info:
        resolve(tmp_path, **kw)
    message = str(info.value)
    assert "\n" not in message
    assert SECRET not in message
    return message


def test_nothing_found_names_every_source_and_what_to_do(tmp_path: Path) -> None:
    message = _nothing_found(tmp_path, hook=lambda: None)
    path = tmp_path / "S-1001"
    assert message == (
        "no Octane credentials for shared space 1001: tried hook pytest_octane_credentials "
        "(no answer); environment variables OCTANE_CLIENT_ID/OCTANE_CLIENT_SECRET and "
        "OCTANE_USER/OCTANE_PASSWORD (not set); credentials_command (not set); "
        f"file {path} (missing). Set OCTANE_CLIENT_ID "
        "and OCTANE_CLIENT_SECRET (or OCTANE_USER and OCTANE_PASSWORD), or write "
        '{"client_id": "...", "client_secret": "..."} to the credentials file, or point '
        "credentials_path (credentialsPath) at the right file"
    )


def test_invalid_json_names_line_and_column_without_content(tmp_path: Path) -> None:
    write(tmp_path, '{\n  "client_id": "x",\n  "client_secret": "' + SECRET + '"\n  "user": 1\n}')
    message = _nothing_found(tmp_path)
    assert (
        f"file {tmp_path / 'S-1001'} (invalid JSON at line 4 column 3: Expecting ',' delimiter)"
        in message
    )


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('["a"]', "the JSON is a list, not an object"),
        ('{"client_id": "x"}', "has client_id but no client_secret; add client_secret"),
        ('{"clientSecret": "' + SECRET + '"}', "has clientSecret but no clientId; add clientId"),
        ('{"password": "' + SECRET + '"}', "has password but no user; add user"),
        (
            '{"rootApplicationModuleName": "R"}',
            "has none of the key pairs client_id/client_secret, clientId/clientSecret "
            "or user/password",
        ),
        ('{"client_id": "x", "client_secret": 5}', "client_secret must be a string"),
    ],
)
def test_file_problems_are_named(tmp_path: Path, content: str, reason: str) -> None:
    write(tmp_path, content)
    message = _nothing_found(tmp_path)
    assert f"file {tmp_path / 'S-1001'} ({reason})" in message


def test_file_not_utf8_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "S-1001").write_bytes(b"\xff\xfe\x00garbage")
    assert "(unreadable: not UTF-8 text)" in _nothing_found(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "{}")
    path.chmod(0)
    try:
        assert "(unreadable: permission denied)" in _nothing_found(tmp_path)
    finally:
        path.chmod(0o600)


def test_no_path_template_is_said(tmp_path: Path) -> None:
    message = _nothing_found(tmp_path, path_template=None)
    assert "credentials file (no credentials_path configured)" in message
    assert "hook" not in message.split(". Set")[0]


def test_bad_template_is_named(tmp_path: Path) -> None:
    with pytest.raises(
        CredentialsError, match=r"credentials_path '/x/\{space\}' is not a valid template"
    ):
        resolve(tmp_path, path_template="/x/{space}")


def test_empty_env_values_count_as_unset(tmp_path: Path) -> None:
    write(tmp_path, json.dumps({"user": "u", "password": "p"}))
    creds = resolve(tmp_path, {"OCTANE_CLIENT_ID": "", "OCTANE_CLIENT_SECRET": ""})
    assert creds.user == "u"


def test_credentials_json_that_is_a_directory_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "S-1001" / "credentials.json").mkdir(parents=True)
    assert "credentials.json (unreadable: Is a directory)" in _nothing_found(tmp_path)
