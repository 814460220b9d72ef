"""Where Octane credentials come from, and a value type that keeps secrets out of text.

Sources, first answer wins: the ``pytest_octane_credentials`` hook, the ``OCTANE_*``
environment variables, the ``credentialsCommand`` (a secret store's CLI, see
``credentials_command``), then a JSON file under the credentials path template (the seed's
``/core/qzrelease/octane/S-{space_id}``). Every error names the sources tried, never a value.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn

from pytest_octane.errors import CredentialsError

__all__ = [
    "ENV_CLIENT_ID",
    "ENV_CLIENT_SECRET",
    "ENV_PASSWORD",
    "ENV_USER",
    "Credentials",
    "Secret",
    "resolve_credentials",
]

ENV_CLIENT_ID = "OCTANE_CLIENT_ID"
ENV_CLIENT_SECRET = "OCTANE_CLIENT_SECRET"
ENV_USER = "OCTANE_USER"
ENV_PASSWORD = "OCTANE_PASSWORD"

# (id key, secret key) pairs accepted in a file or a hook mapping, preferred first.
_KEY_PAIRS: tuple[tuple[str, str, Literal["api_key", "user"]], ...] = (
    ("client_id", "client_secret", "api_key"),
    ("clientId", "clientSecret", "api_key"),
    ("user", "password", "user"),
)
_FILE_NAME_IN_DIR = "credentials.json"
_HIDDEN = "<hidden>"


class Secret:
    """A string that shows as ``<hidden>`` everywhere except through :meth:`reveal`."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"Secret wraps a str, not {type(value).__name__}")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return _HIDDEN

    __str__ = __repr__

    def __format__(self, format_spec: str) -> str:
        return _HIDDEN

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return self._value == other._value
        return NotImplemented

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self

    def __reduce__(self) -> NoReturn:
        # Pickling is how secrets leak into task files and caches; refuse it outright.
        raise TypeError("a Secret cannot be pickled; store where it came from, not its value")


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    """One way to sign in to Octane: an API key (client id/secret) or a user and password.

    ``source`` says where they came from, so a refused sign-in can point the user there.
    """

    source: str
    client_id: str | None = None
    client_secret: Secret | None = None
    user: str | None = None
    password: Secret | None = None

    def __post_init__(self) -> None:
        api_key = self.client_id is not None or self.client_secret is not None
        user = self.user is not None or self.password is not None
        if api_key and user:
            raise CredentialsError(
                f"credentials from {self.source} mix an API key and a user/password; "
                "give exactly one of the two"
            )
        if api_key:
            _require(self.client_id, "client_id", self.source)
            _require_secret(self.client_secret, "client_secret", self.source)
        elif user:
            _require(self.user, "user", self.source)
            _require_secret(self.password, "password", self.source)
        else:
            raise CredentialsError(
                f"credentials from {self.source} hold neither client_id/client_secret "
                "nor user/password; give one of the two pairs"
            )

    @classmethod
    def api_key(cls, client_id: str, client_secret: str | Secret, *, source: str) -> Credentials:
        return cls(source=source, client_id=client_id, client_secret=_as_secret(client_secret))

    @classmethod
    def user_password(cls, user: str, password: str | Secret, *, source: str) -> Credentials:
        return cls(source=source, user=user, password=_as_secret(password))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str) -> Credentials:
        """Build from a file's or a hook's keys (``client_id``/``clientId``/``user`` pairs)."""
        for id_key, secret_key, kind in _KEY_PAIRS:
            has_id = data.get(id_key) not in (None, "")
            has_secret = data.get(secret_key) not in (None, "")
            if has_id and has_secret:
                identity = data[id_key]
                if isinstance(identity, bool) or not isinstance(identity, (str, int)):
                    raise CredentialsError(f"{source}: {id_key} must be a string")
                secret = data[secret_key]
                if not isinstance(secret, (str, Secret)):
                    raise CredentialsError(f"{source}: {secret_key} must be a string")
                if kind == "api_key":
                    return cls.api_key(str(identity).strip(), secret, source=source)
                return cls.user_password(str(identity).strip(), secret, source=source)
            if has_id or has_secret:
                present, missing = (id_key, secret_key) if has_id else (secret_key, id_key)
                raise CredentialsError(f"{source} has {present} but no {missing}; add {missing}")
        raise CredentialsError(
            f"{source} has none of the key pairs client_id/client_secret, "
            "clientId/clientSecret or user/password"
        )

    @property
    def kind(self) -> Literal["api_key", "user"]:
        return "api_key" if self.client_id is not None else "user"

    @property
    def identity(self) -> str:
        """The non-secret half (client id or user name), for messages."""
        return self.client_id if self.client_id is not None else str(self.user)

    @property
    def secret(self) -> Secret:
        value = self.client_secret if self.client_secret is not None else self.password
        assert value is not None  # guaranteed by __post_init__
        return value

    def sign_in_body(self) -> dict[str, str]:
        """The JSON body of ``POST /authentication/sign_in``; holds the secret in clear."""
        if self.kind == "api_key":
            return {"client_id": self.identity, "client_secret": self.secret.reveal()}
        return {"user": self.identity, "password": self.secret.reveal()}

    def __repr__(self) -> str:
        if self.kind == "api_key":
            who = f"client_id={self.client_id!r}, client_secret={_HIDDEN}"
        else:
            who = f"user={self.user!r}, password={_HIDDEN}"
        return f"Credentials({who}, source={self.source!r})"

    __str__ = __repr__


def resolve_credentials(
    space_id: int,
    *,
    path_template: str | None,
    environ: Mapping[str, str],
    hook: Callable[[], Credentials | Mapping[str, Any] | None] | None = None,
    hook_name: str = "hook pytest_octane_credentials",
    command: str | None = None,
) -> Credentials:
    """Find the credentials for ``space_id``; raise one CredentialsError naming every source."""
    tried: list[str] = []
    if hook is not None:
        answer = hook()
        if isinstance(answer, Credentials):
            return answer
        if isinstance(answer, Mapping):
            return Credentials.from_mapping(answer, source=hook_name)
        if answer is not None:
            raise CredentialsError(
                f"{hook_name} returned a {type(answer).__name__}; it must return "
                "Credentials, a dict with client_id/client_secret or user/password, or None"
            )
        tried.append(f"{hook_name} (no answer)")

    from_env = _from_environ(environ)
    if from_env is not None:
        return from_env
    tried.append(
        f"environment variables {ENV_CLIENT_ID}/{ENV_CLIENT_SECRET} and "
        f"{ENV_USER}/{ENV_PASSWORD} (not set)"
    )

    if command:
        from pytest_octane.octane.credentials_command import run_credentials_command

        answer = run_credentials_command(command, space_id)
        return Credentials.from_mapping(answer, source=f"credentials_command {command!r}")
    tried.append("credentials_command (not set)")

    if path_template is None:
        tried.append("credentials file (no credentials_path configured)")
    else:
        path = _credentials_path(path_template, space_id)
        found, reason = _from_file(path)
        if found is not None:
            return found
        tried.append(f"file {path} ({reason})")

    raise CredentialsError(
        f"no Octane credentials for shared space {space_id}: tried "
        + "; ".join(tried)
        + f". Set {ENV_CLIENT_ID} and {ENV_CLIENT_SECRET} (or {ENV_USER} and {ENV_PASSWORD}), "
        'or write {"client_id": "...", "client_secret": "..."} to the credentials file, '
        "or point credentials_path (credentialsPath) at the right file"
    )


def _from_environ(environ: Mapping[str, str]) -> Credentials | None:
    pairs = ((ENV_CLIENT_ID, ENV_CLIENT_SECRET), (ENV_USER, ENV_PASSWORD))
    for id_var, secret_var in pairs:
        has_id, has_secret = bool(environ.get(id_var)), bool(environ.get(secret_var))
        if has_id != has_secret:
            present, missing = (id_var, secret_var) if has_id else (secret_var, id_var)
            raise CredentialsError(
                f"environment variable {present} is set but {missing} is not; "
                f"set {missing} too, or unset {present}"
            )
    source = f"environment variables {ENV_CLIENT_ID}/{ENV_CLIENT_SECRET}"
    if environ.get(ENV_CLIENT_ID):
        return Credentials.api_key(
            environ[ENV_CLIENT_ID].strip(), environ[ENV_CLIENT_SECRET], source=source
        )
    if environ.get(ENV_USER):
        return Credentials.user_password(
            environ[ENV_USER].strip(),
            environ[ENV_PASSWORD],
            source=f"environment variables {ENV_USER}/{ENV_PASSWORD}",
        )
    return None


def _credentials_path(template: str, space_id: int) -> Path:
    try:
        rendered = template.format(space_id=space_id)
    except (KeyError, IndexError, ValueError) as exc:
        raise CredentialsError(
            f"credentials_path {template!r} is not a valid template ({exc!r}); "
            "the only placeholder allowed is {space_id}"
        ) from None
    path = Path(rendered).expanduser()
    return path / _FILE_NAME_IN_DIR if path.is_dir() else path


def _from_file(path: Path) -> tuple[Credentials | None, str]:
    """Read one credentials file; on failure return why, without any of its content."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, "missing"
    except PermissionError:
        return None, "unreadable: permission denied"
    except UnicodeDecodeError:
        return None, "unreadable: not UTF-8 text"
    except OSError as exc:
        return None, f"unreadable: {exc.strerror or type(exc).__name__}"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
    if not isinstance(data, dict):
        return None, f"the JSON is a {type(data).__name__}, not an object"
    try:
        return Credentials.from_mapping(data, source=f"file {path}"), ""
    except CredentialsError as exc:
        reason = str(exc).removeprefix(f"file {path} ").removeprefix(f"file {path}: ")
        return None, reason


def _as_secret(value: str | Secret) -> Secret:
    return value if isinstance(value, Secret) else Secret(value)


def _require(value: str | None, key: str, source: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise CredentialsError(f"credentials from {source} have an empty {key}")


def _require_secret(value: Secret | None, key: str, source: str) -> None:
    if not isinstance(value, Secret) or not value.reveal():
        raise CredentialsError(f"credentials from {source} have an empty {key}")
