"""Credentials from a secret store's CLI: ``credentialsCommand`` runs it and reads JSON.

The pattern of git credential helpers and AWS ``credential_process``: a command (no shell;
``{space_id}`` is replaced in every argument) prints ``{"client_id": ..., "client_secret":
...}`` on stdout.  Vault's ``kv get -format=json`` answer (the pair under ``data`` or
``data.data``) is read as it is.  Errors name the command and what went wrong, never a byte
of its output: a half-printed secret must not end up in a CI log.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Mapping
from typing import Any

from pytest_octane.errors import CredentialsError

__all__ = ["TIMEOUT_S", "run_credentials_command"]

#: A secret store's CLI answers in a second or two; a hang (a login prompt) must not block CI.
TIMEOUT_S = 30.0

_PAIRS = (("client_id", "client_secret"), ("clientId", "clientSecret"), ("user", "password"))


def _argv(command: str, space_id: int) -> list[str]:
    try:
        parts = shlex.split(command)
    except ValueError as exc:
        raise CredentialsError(
            f"credentials_command {command!r} cannot be split into arguments ({exc}); "
            "check its quotes"
        ) from None
    if not parts:
        raise CredentialsError("credentials_command is empty; give a command line or unset it")
    return [part.replace("{space_id}", str(space_id)) for part in parts]


def _pair_holder(data: Any) -> Mapping[str, Any] | None:
    """The object holding a key pair: the answer itself, or Vault's ``data``/``data.data``."""
    for candidate in (data, _get(data, "data"), _get(_get(data, "data"), "data")):
        if isinstance(candidate, Mapping) and any(
            candidate.get(a) or candidate.get(b) for a, b in _PAIRS
        ):
            return candidate
    return None


def _get(data: Any, key: str) -> Any:
    return data.get(key) if isinstance(data, Mapping) else None


def run_credentials_command(
    command: str, space_id: int, *, timeout: float = TIMEOUT_S
) -> Mapping[str, Any]:
    """Run ``command`` for ``space_id``; return the mapping with the key pair it printed."""
    argv = _argv(command, space_id)
    name = f"credentials_command {argv[0]!r}"
    try:
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise CredentialsError(
            f"{name} was not found; install it or give its full path in credentials_command"
        ) from None
    except PermissionError:
        raise CredentialsError(f"{name} is not executable; check its permissions") from None
    except subprocess.TimeoutExpired:
        raise CredentialsError(
            f"{name} did not finish within {timeout:g} s (waiting for a login or a "
            "prompt?); sign in to the secret store first, or run the command yourself"
        ) from None
    except OSError as exc:
        raise CredentialsError(f"{name} cannot be started ({exc.strerror or exc})") from None
    if done.returncode != 0:
        raise CredentialsError(
            f"{name} exited with status {done.returncode} (its output is not shown, it may "
            "hold secrets); run the command yourself to see its message"
        )
    try:
        data = json.loads(done.stdout.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CredentialsError(
            f"{name} printed something that is not JSON (not shown, it may hold secrets); "
            'it must print {"client_id": "...", "client_secret": "..."}'
        ) from None
    holder = _pair_holder(data)
    if holder is None:
        raise CredentialsError(
            f"{name} printed JSON without client_id/client_secret (nor user/password); "
            'it must print {"client_id": "...", "client_secret": "..."}'
        )
    return holder
