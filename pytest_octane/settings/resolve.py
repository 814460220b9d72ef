"""Resolution: one frozen ``Settings`` from every source, spaces file, derived values, checks."""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_octane.errors import ConfigError
from pytest_octane.settings.options import OPTIONS, OPTIONS_BY_NAME, SPACES_KEYS
from pytest_octane.settings.parsers import (
    DEFAULT_CREDENTIALS_PATH,
    DEFAULT_TEST_FIELDS,
    JIRA_KEY_RE,
    MAX_SLICE_SIZE,
    MAX_WRITE_BATCH,
    CaptureMode,
    ModuleMode,
)
from pytest_octane.settings.spec import OptionSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything pytest-octane needs, resolved and validated."""

    space: int | None = None
    config: str | None = None
    url: str | None = None
    workspace: int | None = None
    credentials_path: str = DEFAULT_CREDENTIALS_PATH
    credentials_command: str | None = None
    verify_ssl: bool | str = True
    proxy: str | None = None
    client_type: str = "PYTEST_OCTANE"
    connect_timeout: float = 20.0
    read_timeout: float = 120.0
    slice_size: int = MAX_SLICE_SIZE
    max_parallel: int = 5
    queue_budget: int | None = None
    stream: bool = True
    queue_full_retry: float = 10.0
    queue_full_deadline: float = 1800.0
    backoff: float = 1.0
    poll_timeout: float = 900.0
    skip_errors: bool = False
    compress: bool = False
    write_batch: int = MAX_WRITE_BATCH
    strict: bool = False
    task_store: str = "octane_task_logs"
    spool_dir: str = "octane_task_logs"
    update_auto_runs: bool = False
    jira_field: str = "jira_key_udf"
    jira_tag_pattern: str = JIRA_KEY_RE.pattern
    root_module: str | None = None
    module_mode: ModuleMode = "module"
    release: int | str | None = None
    milestone: int | None = None
    program: int | None = None
    suite: str | None = None
    suite_id: int | None = None
    external_run_id: str | None = None
    jira: tuple[str, ...] = ()
    product_area: tuple[int, ...] = ()
    backlog_item: tuple[int, ...] = ()
    test_field: tuple[tuple[str, str], ...] = ()
    tag: tuple[tuple[str, str], ...] = ()
    module: str | None = None
    build_server_id: str | None = None
    build_job_id: str | None = None
    build_id: str | None = None
    build_job_name: str | None = None
    build_name: str | None = None
    build_url: str | None = None
    ci_server_type: str | None = None
    register_ci_server: bool = False
    report_url: str | None = None
    capture: CaptureMode = "all"
    capture_passed: bool = False
    attachments: bool = True
    attachment_max_mb: int = 25
    attachments_max_mb: int = 500
    started: int | None = None
    max_trace: int = 20000
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


def _where_flag(spec: OptionSpec) -> str:
    return f"option {spec.flag}"


def _parse_multi(spec: OptionSpec, raw: Any, where: str) -> tuple[Any, ...]:
    if isinstance(raw, str):
        items: list[Any] = [p for p in re.split(r"[,\n]", raw) if p.strip()]
    elif isinstance(raw, list | tuple):
        items = list(raw)
    else:
        raise ConfigError(f"{where}: expected a list, got {type(raw).__name__}")
    return tuple(spec.parse(item, where) for item in items)


def _parse(spec: OptionSpec, raw: Any, where: str) -> Any:
    if spec.multiple:
        return _parse_multi(spec, raw, where)
    return spec.parse(raw, where)


def load_spaces_file(path: str, where: str) -> dict[str, dict[str, Any]]:
    """Read the spaces file: ``{"1001": {"url": ..., "workspaceId": ...}, ...}``."""
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{where}: spaces file {str(file)!r} does not exist; give the path of a JSON file "
            "mapping shared space ids to their settings"
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"{where}: spaces file {str(file)!r} cannot be read ({exc.strerror}); "
            "check its permissions"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{where}: spaces file {str(file)!r} is not valid JSON: {exc.msg} at line "
            f"{exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"spaces file {str(file)!r}: expected a JSON object mapping shared space ids to "
            "their settings"
        )
    spaces: dict[str, dict[str, Any]] = {}
    for key, entry in data.items():
        if not str(key).isdigit():
            raise ConfigError(
                f"spaces file {str(file)!r}: key {key!r} is not a shared space id (digits)"
            )
        if not isinstance(entry, dict):
            raise ConfigError(f"spaces file {str(file)!r}: space {key}: expected a JSON object")
        unknown = sorted(set(entry) - set(SPACES_KEYS))
        if unknown:
            hints = [
                f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name)
                for name in unknown
                for close in [difflib.get_close_matches(name, SPACES_KEYS, n=1)]
            ]
            raise ConfigError(
                f"spaces file {str(file)!r}: space {key}: unknown key(s) {', '.join(hints)}; "
                f"allowed: {', '.join(sorted(SPACES_KEYS))}"
            )
        spaces[str(key)] = entry
    return spaces


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

    def from_sources(spec: OptionSpec) -> bool:
        raw = cli.get(spec.name)
        if raw not in (None, [], ()) and raw is not False:
            values[spec.name] = _parse(spec, raw, _where_flag(spec))
            sources[spec.name] = _where_flag(spec)
            return True
        if spec.env and environ.get(spec.env, "").strip():
            where = f"environment variable {spec.env}"
            values[spec.name] = _parse(spec, environ[spec.env], where)
            sources[spec.name] = where
            return True
        raw = ini.get(spec.name)
        if spec.ini and raw not in (None, "", [], ()):
            where = f"{ini_name} key {spec.ini}"
            values[spec.name] = _parse(spec, raw, where)
            sources[spec.name] = where
            return True
        return False

    for first in ("space", "config"):
        from_sources(OPTIONS_BY_NAME[first])

    entry: Mapping[str, Any] = {}
    config_path = values.get("config")
    if config_path:
        spaces = load_spaces_file(config_path, sources["config"])
        space = values.get("space")
        if space is not None:
            if str(space) not in spaces:
                known = ", ".join(sorted(spaces)) or "none"
                raise ConfigError(
                    f"shared space {space} (from {sources['space']}) is not in spaces file "
                    f"{config_path!r} (it has: {known}); add it or pick another --octane-space"
                )
            entry = spaces[str(space)]

    for spec in OPTIONS:
        if spec.name in ("space", "config"):
            continue
        if from_sources(spec):
            continue
        if spec.spaces_key and spec.spaces_key in entry:
            where = f"spaces file {config_path!r}, space {values['space']}, key {spec.spaces_key}"
            values[spec.name] = _parse(spec, entry[spec.spaces_key], where)
            sources[spec.name] = where
        elif detected and spec.name in detected:
            values[spec.name] = _parse(spec, detected[spec.name], "detected CI build")
            sources[spec.name] = "detected CI build"
        elif spec.default is not None:
            values[spec.name] = spec.default

    _derive_from_url(values, sources)
    settings = Settings(sources=sources, **values)
    _check_combinations(settings)
    return settings


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
