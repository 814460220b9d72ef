"""``Settings``: one frozen object resolved from every source, and the front ends that feed it.

The pytest plugin and the ``pytest-octane`` verbs do not list options: the option table's
options go to pytest's parser (``options.register_pytest_options``) or an argparse one
(``Settings.register_argparse_arguments``), and ``Settings`` builds itself from what was given
(``from_pytest_config``, ``from_argparse``), with ``OCTANE_*`` variables and the detected CI
under it.  ``resolve_settings`` is the resolution itself, for any mapping of sources.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_octane.errors import ConfigError
from pytest_octane.settings.options import (
    OPTIONS,
    OPTIONS_BY_NAME,
    SPACES_KEYS,
    OptionSpec,
    argument_kind,
)
from pytest_octane.settings.parsers import DEFAULT_TEST_FIELDS, CaptureMode, ModuleMode

if TYPE_CHECKING:
    import argparse

    import pytest

__all__ = [
    "Settings",
    "check_credentials",
    "given_options",
    "load_spaces_file",
    "option_help",
    "require_connection",
    "resolve_option",
    "resolve_settings",
]


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)  # compared by identity
class Settings:
    """Everything pytest-octane needs, resolved and validated.

    Never compared or hashed by value: an ``__eq__`` and ``__hash__`` over its sixty fields
    took 2 ms to generate at every session's start (issue 28).
    """

    space: int | None
    config: str | None
    url: str | None
    workspace: int | None
    credentials_path: str
    credentials_command: str | None
    verify_ssl: bool | str
    proxy: str | None
    client_type: str
    connect_timeout: float
    read_timeout: float
    slice_size: int
    max_parallel: int
    queue_budget: int | None
    stream: bool
    queue_full_retry: float
    queue_full_deadline: float
    backoff: float
    poll_timeout: float
    skip_errors: bool
    compress: bool
    write_batch: int
    strict: bool
    task_store: str
    spool_dir: str
    update_auto_runs: bool
    jira_field: str
    jira_tag_pattern: str
    root_module: str | None
    module_mode: ModuleMode
    release: int | str | None
    milestone: int | None
    program: int | None
    suite: str | None
    suite_id: int | None
    external_run_id: str | None
    jira: tuple[str, ...]
    product_area: tuple[int, ...]
    backlog_item: tuple[int, ...]
    test_field: tuple[tuple[str, str], ...]
    tag: tuple[tuple[str, str], ...]
    module: str | None
    build_server_id: str | None
    build_job_id: str | None
    build_id: str | None
    build_job_name: str | None
    build_name: str | None
    build_url: str | None
    ci_server_type: str | None
    register_ci_server: bool
    report_url: str | None
    capture: CaptureMode
    capture_passed: bool
    attachments: bool
    attachment_max_mb: int
    attachments_max_mb: int
    started: int | None
    max_trace: int
    #: Where each non-default value came from, for error messages and the report header.
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)
    #: Results come from this pytest run (the plugin), not from files of any other tool
    #: (the CLI's upload/convert): only then do Testing_Tool_Type and Framework default to pytest.
    from_pytest: bool = True

    @property
    def upload_enabled(self) -> bool:
        return self.space is not None

    def where(self, name: str) -> str:
        return self.sources.get(name, "default")

    @property
    def effective_test_fields(self) -> tuple[tuple[str, str], ...]:
        """``test_field`` plus a pytest default for each of DEFAULT_TEST_FIELDS not set."""
        if not self.from_pytest:
            return self.test_field
        given = {kind for kind, _ in self.test_field}
        return self.test_field + tuple(p for p in DEFAULT_TEST_FIELDS if p[0] not in given)

    def summary(self) -> dict[str, Any]:
        """Settings worth recording with a job (no secrets are ever in Settings)."""
        keep = (
            "url", "workspace", "slice_size", "max_parallel", "skip_errors", "update_auto_runs",
            "jira_field", "root_module", "module_mode", "release", "suite", "suite_id",
            "external_run_id", "jira", "verify_ssl", "register_ci_server", "ci_server_type",
        )  # fmt: skip
        return {name: getattr(self, name) for name in keep}

    def header_line(self) -> str:
        """Where the results go and where each of those settings came from, for pytest's
        report header; a user name or password in the URL or the task store is hidden."""
        from pytest_octane.settings.octane_url import redact_userinfo
        from pytest_octane.store.location import describe_location

        shown = (
            ("space", "space", self.space),
            ("workspace", "workspace", self.workspace),
            ("url", "url", redact_userinfo(self.url) if self.url else None),
            ("task store", "task_store", describe_location(self.task_store)),
            ("streaming", "stream", "on" if self.stream else "off"),
        )
        return "; ".join(
            f"{label} {'not set' if value is None else value} ({self.where(name)})"
            for label, name, value in shown
        )

    # ------------------------------------------------------------ the front ends

    @classmethod
    def from_pytest_config(cls, config: pytest.Config) -> Settings:
        """Settings of a pytest run: its options, ``OCTANE_*`` variables, ini keys, CI."""
        given = {spec.name: config.getoption(spec.dest) for spec in OPTIONS if spec.flag}
        ini = {spec.name: config.getini(spec.ini) for spec in OPTIONS if spec.ini}
        return _resolve_here(given, ini, config.inipath.name if config.inipath else "ini file")

    @staticmethod
    def register_argparse_arguments(
        parser: argparse.ArgumentParser, *, groups: Sequence[str], skip: Sequence[str] = ()
    ) -> None:
        """The table's options of ``groups`` for a ``pytest-octane`` verb, in both spellings
        (``--slice-size`` and the plugin's ``--octane-slice-size``)."""
        for group_name in groups:
            group = parser.add_argument_group(f"{group_name} settings")
            for spec in OPTIONS:
                if spec.group == group_name and spec.tool_flags and spec.name not in skip:
                    group.add_argument(
                        *spec.tool_flags,
                        dest=spec.dest,
                        help=option_help(spec),
                        **argument_kind(spec),
                    )

    @classmethod
    def from_argparse(cls, args: argparse.Namespace, **overrides: Any) -> Settings:
        """Settings of a ``pytest-octane`` verb: its arguments, then as ``from_options``."""
        return cls.from_options(given_options(args), **overrides)

    @classmethod
    def from_options(cls, given: Mapping[str, Any], **overrides: Any) -> Settings:
        """Settings from a front end's option values (``given_options``) with ``overrides``
        (raw values; None is not given) on top, ``OCTANE_*`` variables and the detected CI
        under them; no ini file."""
        cli = dict(given)
        cli.update({k: v for k, v in overrides.items() if v is not None})
        return _resolve_here(cli, {}, "ini file")


def option_help(spec: OptionSpec) -> str:
    """The option's help with its default and environment variable, as ``--help`` shows it."""
    extra = []
    if spec.default is not None and spec.default is not False and not spec.is_switch:
        default = spec.default
        if isinstance(default, bool):
            default = "true" if default else "false"
        extra.append(f"default: {default}")
    if spec.env:
        extra.append(f"env {spec.env}")
    text = spec.help + (f" ({'; '.join(extra)})" if extra else "")
    return text.replace("%", "%%")  # argparse formats help strings


def given_options(values: object) -> dict[str, Any]:
    """Every option's value as a front end parsed it (``octane_<name>`` attributes)."""
    return {spec.name: getattr(values, spec.dest, None) for spec in OPTIONS}


def _resolve_here(cli: Mapping[str, Any], ini: Mapping[str, Any], ini_name: str) -> Settings:
    """``resolve_settings`` with this process's environment and the CI system it runs in."""
    from pytest_octane.settings.ci import ci_defaults, detect_ci

    info = detect_ci(os.environ)
    return resolve_settings(
        cli=cli,
        environ=os.environ,
        ini=ini,
        ini_name=ini_name,
        detected=ci_defaults(info) if info else None,
    )


def _parse(spec: OptionSpec, raw: Any, where: str) -> Any:
    if not spec.multiple:
        return spec.parse(raw, where)
    if isinstance(raw, str):
        items: list[Any] = [p for p in re.split(r"[,\n]", raw) if p.strip()]
    elif isinstance(raw, list | tuple):
        items = list(raw)
    else:
        raise ConfigError(f"{where}: expected a list, got {type(raw).__name__}")
    return tuple(spec.parse(item, where) for item in items)


def load_spaces_file(path: str, where: str) -> dict[str, dict[str, Any]]:
    """Read the spaces file: ``{"1001": {"url": ..., "workspaceId": ...}, ...}``."""
    file = Path(path).expanduser()
    name = f"spaces file {str(file)!r}"
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{where}: {name} does not exist; give the path of a JSON file mapping shared "
            "space ids to their settings"
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"{where}: {name} cannot be read ({exc.strerror}); check its permissions"
        ) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{where}: {name} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{name}: expected a JSON object mapping shared space ids to their settings"
        )
    for key, entry in data.items():
        if not str(key).isdigit():
            raise ConfigError(f"{name}: key {key!r} is not a shared space id (digits)")
        if not isinstance(entry, dict):
            raise ConfigError(f"{name}: space {key}: expected a JSON object")
        unknown = sorted(set(entry) - set(SPACES_KEYS))
        if unknown:
            import difflib  # only to word this error (it costs 3 ms to import)

            hints = [
                f"{bad!r} (did you mean {close[0]!r}?)" if close else repr(bad)
                for bad in unknown
                for close in [difflib.get_close_matches(bad, SPACES_KEYS, n=1)]
            ]
            raise ConfigError(
                f"{name}: space {key}: unknown key(s) {', '.join(hints)}; "
                f"allowed: {', '.join(sorted(SPACES_KEYS))}"
            )
    return {str(key): entry for key, entry in data.items()}


def resolve_settings(
    *,
    cli: Mapping[str, Any],
    environ: Mapping[str, str],
    ini: Mapping[str, Any],
    ini_name: str = "ini file",
    detected: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve every option from its sources; raise ConfigError naming the bad one.

    ``cli`` maps option names to values given on the command line (None = not given),
    ``ini`` maps option names to raw ini values (None or "" = not set), ``detected`` holds
    values found in the CI environment (they rank just above the defaults).
    """
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    entry: Mapping[str, Any] = {}
    for spec in OPTIONS:  # space and config come first: they select the spaces-file entry
        found = _given(spec, cli.get(spec.name), environ, ini.get(spec.name), ini_name)
        if found is None and (key := spec.spaces_key) and key in entry:
            where = f"spaces file {values['config']!r}, space {values['space']}, key {key}"
            found = _parse(spec, entry[key], where), where
        elif found is None and detected and spec.name in detected:
            found = _parse(spec, detected[spec.name], "detected CI build"), "detected CI build"
        if found is None:
            values[spec.name] = () if spec.multiple else spec.default
        else:
            values[spec.name], sources[spec.name] = found
        if spec.name == "config" and values["config"]:
            entry = _space_entry(values["config"], values["space"], sources)
    _derive_from_url(values, sources)
    settings = Settings(sources=sources, **values)
    _check_combinations(settings)
    return settings


def _space_entry(path: str, space: int | None, sources: Mapping[str, str]) -> Mapping[str, Any]:
    """The selected shared space's entry of the spaces file (the file is read either way)."""
    spaces = load_spaces_file(path, sources["config"])
    if space is None:
        return {}
    if str(space) not in spaces:
        known = ", ".join(sorted(spaces)) or "none"
        raise ConfigError(
            f"shared space {space} (from {sources['space']}) is not in spaces file "
            f"{path!r} (it has: {known}); add it or pick another --octane-space"
        )
    return spaces[str(space)]


def _given(
    spec: OptionSpec, flag: Any, environ: Mapping[str, str], ini: Any, ini_name: str
) -> tuple[Any, str] | None:
    """The option's value and where it came from: the command line, its variable, its ini
    key, in that order; None when none of them gives it."""
    if flag not in (None, [], ()) and flag is not False:
        where = f"option {spec.flag}"
        return _parse(spec, flag, where), where
    if spec.env and environ.get(spec.env, "").strip():
        where = f"environment variable {spec.env}"
        return _parse(spec, environ[spec.env], where), where
    if spec.ini and ini not in (None, "", [], ()):
        where = f"{ini_name} key {spec.ini}"
        return _parse(spec, ini, where), where
    return None


def resolve_option(name: str, flag: Any, environ: Mapping[str, str]) -> Any:
    """One option from the command line, else its variable, else its default: for the verbs
    that need only this setting (the task store) and must not fail over any other."""
    spec = OPTIONS_BY_NAME[name]
    found = _given(spec, flag, environ, None, "")
    return spec.default if found is None or found[0] is None else found[0]


def _derive_from_url(values: dict[str, Any], sources: dict[str, str]) -> None:
    url = values.get("url")
    if not url:
        return
    from pytest_octane.settings.octane_url import parse_octane_url

    try:
        server, space, workspace = parse_octane_url(url)
    except ConfigError as exc:
        raise ConfigError(f"{sources['url']}: {exc}") from None
    values["url"] = server
    if space is not None and values.get("space") not in (None, space):
        raise ConfigError(
            f"{sources['url']} names shared space {space}, but {sources['space']} "
            f"selects {values['space']}; make them agree"
        )
    if space is not None and values.get("space") is None:
        values["space"] = space
        sources["space"] = sources["url"]
    if workspace is not None:
        if values.get("workspace") not in (None, workspace):
            raise ConfigError(
                f"{sources['url']} names workspace {workspace}, but {sources['workspace']} "
                f"says {values['workspace']}; make them agree"
            )
        values["workspace"] = workspace
        sources.setdefault("workspace", sources["url"])


def _check_combinations(settings: Settings) -> None:
    # Checked for dry runs too: the build context and suite go into the XML either way.
    build = [settings.build_server_id, settings.build_job_id, settings.build_id]
    if any(build) and not all(build):
        raise ConfigError(
            "the build context needs all three of --octane-build-server-id, "
            "--octane-build-job-id and --octane-build-id"
        )
    if settings.suite and settings.suite_id is not None:
        raise ConfigError(
            f"both a suite path ({settings.where('suite')}) and a suite id "
            f"({settings.where('suite_id')}) are set; use --octane-suite or --octane-suite-id"
        )
    has_suite = bool(settings.suite) or settings.suite_id is not None
    if settings.external_run_id and not has_suite:
        raise ConfigError(
            "--octane-external-run-id names a suite run and needs a suite: "
            "--octane-suite PATH or --octane-suite-id ID"
        )
    if settings.jira and not has_suite:
        raise ConfigError(
            f"--octane-jira {','.join(settings.jira)} ({settings.where('jira')}) links the "
            "job's runs through its suite run; add --octane-suite PATH or --octane-suite-id ID"
        )


def require_connection(settings: Settings) -> tuple[str, int, int]:
    """Server, space and workspace of an upload, or a ConfigError saying what is missing."""
    if settings.space is None:
        raise ConfigError("no shared space selected; pass --octane-space=ID")
    if not settings.url:
        raise ConfigError(
            f"no Octane URL for shared space {settings.space}; set --octane-url, OCTANE_URL, "
            "ini octane_url, or 'url' in the spaces file (--octane-config)"
        )
    if settings.workspace is None:
        raise ConfigError(
            f"no workspace for shared space {settings.space}; set --octane-workspace, "
            "OCTANE_WORKSPACE, ini octane_workspace, or 'workspaceId' in the spaces file"
        )
    return settings.url, settings.space, settings.workspace


def check_credentials(settings: Settings) -> None:
    """Fail (ConfigError/CredentialsError) before a job is recorded, not with an unfinished
    job: the connection is configured and its shared space's credentials can be found."""
    from pytest_octane.octane.credentials import resolve_credentials

    _, space, _ = require_connection(settings)
    resolve_credentials(
        space,
        path_template=settings.credentials_path,
        environ=os.environ,
        command=settings.credentials_command,
    )
