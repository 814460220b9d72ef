"""One frozen ``Settings``, resolved once from every source, with errors that name the source.

Precedence: command line > ``OCTANE_*`` environment variables > ini/pyproject ``octane_*``
keys > the spaces file entry of the selected shared space > defaults.  The option table
``OPTIONS`` is the single description of every setting: the pytest plugin, the CLI and the
configuration reference in ``docs/`` are all built from it.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pytest_octane.errors import ConfigError

ModuleMode = Literal["off", "module", "package"]

#: Octane allows at most this many test runs in one test-results call (the seed's limit).
MAX_SLICE_SIZE = 1000
#: Entities per POST/PUT, as the CI SDK (MAX_UPDATE_LIMIT, API-FACTS 1d)
MAX_WRITE_BATCH = 200
DEFAULT_CREDENTIALS_PATH = "/core/qzrelease/octane/S-{space_id}"
TEST_FIELD_TYPES = ("Test_Level", "Test_Type", "Testing_Tool_Type", "Framework")
#: Test fields every upload carries unless the user sets that type (the seed sets its tool).
DEFAULT_TEST_FIELDS = (("Testing_Tool_Type", "pytest"), ("Framework", "pytest"))
JIRA_KEY_RE = re.compile(r"[A-Z][A-Z0-9_]*-[0-9]+")

Parser = Callable[[Any, str], Any]


# ---------------------------------------------------------------- value parsers
# Each parser takes the raw value (a string from the CLI/env/ini, or a JSON value from the
# spaces file) and ``where`` (e.g. "option --octane-space") and returns the typed value.


def _as_text(raw: Any, where: str) -> str:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise ConfigError(f"{where}: expected text, got {type(raw).__name__} {raw!r}")
    return str(raw).strip()


def parse_str(raw: Any, where: str) -> str | None:
    text = _as_text(raw, where)
    return text or None


def _int_in(low: int, high: int | None = None) -> Parser:
    def parse(raw: Any, where: str) -> int:
        allowed = f"from {low} to {high}" if high is not None else f"{low} or more"
        if isinstance(raw, bool):
            raise ConfigError(f"{where}: expected a whole number, got {raw!r}; allowed: {allowed}")
        try:
            value = int(raw) if isinstance(raw, int) else int(_as_text(raw, where))
        except ValueError:
            raise ConfigError(
                f"{where}: {raw!r} is not a whole number; allowed: {allowed}"
            ) from None
        if value < low or (high is not None and value > high):
            raise ConfigError(f"{where}: {value} is out of range; allowed: {allowed}")
        return value

    return parse


def _float_in(low: float) -> Parser:
    def parse(raw: Any, where: str) -> float:
        if isinstance(raw, bool):
            raise ConfigError(f"{where}: expected a number of seconds, got {raw!r}")
        try:
            value = float(raw) if isinstance(raw, int | float) else float(_as_text(raw, where))
        except ValueError:
            raise ConfigError(f"{where}: {raw!r} is not a number") from None
        if value < low:
            raise ConfigError(f"{where}: {value} is too small; allowed: {low} or more")
        return value

    return parse


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_bool(raw: Any, where: str) -> bool:
    if isinstance(raw, bool):
        return raw
    text = _as_text(raw, where).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{where}: {raw!r} is not a boolean; use true or false")


def parse_verify(raw: Any, where: str) -> bool | str:
    """``verifySSL``: true/false, or the path of a CA bundle."""
    if isinstance(raw, bool):
        return raw
    text = _as_text(raw, where)
    if text.lower() in _TRUE | _FALSE:
        return text.lower() in _TRUE
    if not Path(text).is_file():
        raise ConfigError(
            f"{where}: {text!r} is neither true/false nor an existing CA bundle file; "
            "give the path of a PEM file with your CA certificates"
        )
    return text


def parse_module_mode(raw: Any, where: str) -> ModuleMode:
    text = _as_text(raw, where).lower()
    if text == "off":
        return "off"
    if text == "module":
        return "module"
    if text == "package":
        return "package"
    raise ConfigError(f"{where}: {raw!r} is not allowed; use off, module or package")


def parse_release(raw: Any, where: str) -> int | str | None:
    """A release id, a release name, or ``_default_`` (Octane's default release)."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return _int_in(1)(raw, where)  # type: ignore[no-any-return]
    text = _as_text(raw, where)
    if not text:
        return None
    if text.isdigit():
        return int(text)
    if len(text) > 255:
        raise ConfigError(f"{where}: a release name may have at most 255 characters")
    return text


def parse_pair(allowed_types: Sequence[str] | None) -> Parser:
    """``TYPE:VALUE`` (test fields and environment taxonomies)."""

    def parse(raw: Any, where: str) -> tuple[str, str]:
        text = _as_text(raw, where)
        kind, sep, value = text.partition(":")
        kind, value = kind.strip(), value.strip()
        if not sep or not kind or not value:
            raise ConfigError(f"{where}: {text!r} is not of the form TYPE:VALUE")
        if allowed_types is not None and kind not in allowed_types:
            raise ConfigError(
                f"{where}: test field type {kind!r} is not one of {', '.join(allowed_types)}"
            )
        if len(value) > 255 or len(kind) > 255:
            raise ConfigError(f"{where}: {text!r} is longer than Octane's 255 characters")
        return (kind, value)

    return parse


def parse_jira_key(raw: Any, where: str) -> str:
    text = _as_text(raw, where)
    if not JIRA_KEY_RE.fullmatch(text):
        raise ConfigError(f"{where}: {text!r} is not a JIRA key like ABC-123")
    return text


def parse_pattern(raw: Any, where: str) -> str:
    """A regular expression (checked now, so a typo fails before the tests run)."""
    text = _as_text(raw, where)
    try:
        re.compile(text)
    except re.error as exc:
        raise ConfigError(
            f"{where}: {text!r} is not a valid regular expression ({exc}); "
            "give a pattern such as [A-Z][A-Z0-9_]*-[0-9]+"
        ) from None
    return text


def parse_suite_path(raw: Any, where: str) -> str | None:
    """``Team/Area/Nightly``: application modules, then the test suite's name."""
    text = _as_text(raw, where)
    if not text:
        return None
    parts = [part.strip() for part in text.split("/")]
    if any(not part for part in parts):
        raise ConfigError(
            f"{where}: {text!r} has an empty part; give a suite path such as Team/Area/Nightly"
        )
    for part in parts:
        if len(part) > 255:
            raise ConfigError(f"{where}: {part[:40]!r}... is longer than Octane's 255 characters")
    return "/".join(parts)


def parse_url(raw: Any, where: str) -> str:
    text = _as_text(raw, where)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"{where}: {text!r} is not an http(s) URL; give the Octane server root "
            "such as https://octane.example.com"
        )
    return text


def parse_dry_run(raw: Any, where: str) -> str | None:
    text = _as_text(raw, where)
    return text or None


# ---------------------------------------------------------------- the option table


@dataclass(frozen=True, slots=True, kw_only=True)
class OptionSpec:
    """One setting and every name it has."""

    name: str
    help: str
    parse: Parser
    default: Any = None
    flag: str | None = None
    env: str | None = None
    ini: str | None = None
    spaces_key: str | None = None
    multiple: bool = False
    metavar: str | None = None
    is_switch: bool = False  # a CLI flag without a value (store_true)
    group: str = "connection"


def _opt(name: str, help: str, parse: Parser, **kw: Any) -> OptionSpec:
    dashed = name.replace("_", "-")
    kw.setdefault("flag", f"--octane-{dashed}")
    kw.setdefault("env", f"OCTANE_{name.upper()}")
    kw.setdefault("ini", f"octane_{name}")
    return OptionSpec(name=name, help=help, parse=parse, **kw)


OPTIONS: tuple[OptionSpec, ...] = (
    # -- selection and connection
    _opt("space", "Octane shared space id; turns the upload on.", _int_in(1), metavar="ID"),
    _opt(
        "config",
        "JSON spaces file mapping shared space ids to their settings.",
        parse_str,
        metavar="PATH",
    ),
    _opt(
        "url",
        "Octane server root (or the seed's .../shared_spaces/S/workspaces/W URL).",
        parse_url,
        spaces_key="url",
        metavar="URL",
    ),
    _opt("workspace", "Octane workspace id.", _int_in(1), spaces_key="workspaceId", metavar="ID"),
    _opt(
        "credentials_path",
        "Credentials file path template; {space_id} is replaced.",
        parse_str,
        spaces_key="credentialsPath",
        default=DEFAULT_CREDENTIALS_PATH,
        metavar="TEMPLATE",
    ),
    _opt(
        "credentials_command",
        "Command printing the credentials as JSON (a secret store's CLI; no shell; "
        "{space_id} is replaced).",
        parse_str,
        spaces_key="credentialsCommand",
        metavar="COMMAND",
    ),
    _opt(
        "verify_ssl",
        "Verify TLS certificates: true, false, or a CA bundle path.",
        parse_verify,
        spaces_key="verifySSL",
        default=True,
        metavar="BOOL|PATH",
    ),
    _opt(
        "proxy",
        "Proxy URL for Octane requests (default: the environment's).",
        parse_url,
        spaces_key="proxy",
        metavar="URL",
    ),
    _opt(
        "client_type",
        "HPECLIENTTYPE header value.",
        parse_str,
        spaces_key="clientType",
        default="PYTEST_OCTANE",
        metavar="NAME",
    ),
    _opt(
        "connect_timeout",
        "Seconds to wait for a connection.",
        _float_in(0.1),
        spaces_key="connectTimeout",
        default=20.0,
        metavar="S",
    ),
    _opt(
        "read_timeout",
        "Seconds to wait for the next bytes of an answer; a whole request (connect, answer, "
        "body) may take the connect timeout plus twice this.",
        _float_in(0.1),
        spaces_key="readTimeout",
        default=120.0,
        metavar="S",
    ),
    # -- upload behaviour
    _opt(
        "slice_size",
        f"Test runs per uploaded document (1 to {MAX_SLICE_SIZE}).",
        _int_in(1, MAX_SLICE_SIZE),
        spaces_key="autoRunsSliceSize",
        default=MAX_SLICE_SIZE,
        metavar="N",
        group="upload",
    ),
    _opt(
        "max_parallel",
        "Uploads in flight at once.",
        _int_in(1, 50),
        spaces_key="maxParallelUploads",
        default=5,
        metavar="N",
        group="upload",
    ),
    _opt(
        "queue_budget",
        "Octane tasks queued or running at once for all jobs that share the task store and "
        "the shared space (default: no shared budget).",
        _int_in(1, 1000),
        spaces_key="queueBudget",
        metavar="N",
        group="upload",
    ),
    _opt(
        "queue_full_retry",
        "Seconds between tries while Octane's queue is full.",
        _float_in(0.0),
        spaces_key="queueFullRetrySeconds",
        default=10.0,
        metavar="S",
        group="upload",
    ),
    _opt(
        "queue_full_deadline",
        "Give up waiting for a full queue after this many seconds.",
        _float_in(0.0),
        spaces_key="queueFullDeadlineSeconds",
        default=1800.0,
        metavar="S",
        group="upload",
    ),
    _opt(
        "backoff",
        "First wait in seconds after a transient error (502/503/504/429, connection); "
        "it doubles with jitter on each try.",
        _float_in(0.0),
        spaces_key="backoffSeconds",
        default=1.0,
        metavar="S",
        group="upload",
    ),
    _opt(
        "poll_timeout",
        "Seconds to wait for Octane to process one slice.",
        _float_in(0.0),
        spaces_key="pollTimeoutSeconds",
        default=900.0,
        metavar="S",
        group="upload",
    ),
    _opt(
        "skip_errors",
        "Let Octane skip references to missing entities (skip-errors=true).",
        parse_bool,
        spaces_key="skipErrors",
        default=False,
        is_switch=True,
        group="upload",
    ),
    _opt(
        "compress",
        "Send uploads gzip-compressed (Content-Encoding: application/gzip); a server that "
        "refuses them gets plain XML for the rest of the job.",
        parse_bool,
        spaces_key="compressUploads",
        default=False,
        is_switch=True,
        group="upload",
    ),
    _opt(
        "write_batch",
        f"Entities per POST/PUT call (1 to {MAX_WRITE_BATCH}, as the CI SDK).",
        _int_in(1, MAX_WRITE_BATCH),
        spaces_key="entityWriteBatchSize",
        default=MAX_WRITE_BATCH,
        metavar="N",
        group="upload",
    ),
    _opt(
        "strict",
        "Fail the pytest run when the upload fails or JIRA keys are unmapped.",
        parse_bool,
        default=False,
        is_switch=True,
        group="upload",
    ),
    _opt(
        "task_store",
        "Where jobs are tracked: a folder, sqlite:///file.db or postgresql://...",
        parse_str,
        spaces_key="taskStore",
        default="octane_task_logs",
        metavar="LOCATION",
        group="upload",
    ),
    _opt(
        "spool_dir",
        "Folder where each job's slices are kept until Octane has them.",
        parse_str,
        spaces_key="spoolDir",
        default="octane_task_logs",
        metavar="DIR",
        group="upload",
    ),
    _opt(
        "update_auto_runs",
        "After all slices succeed, link the job's automated runs to the job-level and per-test "
        "stories (covered_content, appended); needs a suite.",
        parse_bool,
        spaces_key="updateAutoRuns",
        default=False,
        is_switch=True,
        group="upload",
    ),
    _opt(
        "jira_field",
        "Story field holding the JIRA key.",
        parse_str,
        spaces_key="jiraKeyField",
        default="jira_key_udf",
        metavar="FIELD",
        group="upload",
    ),
    _opt(
        "jira_tag_pattern",
        "Regular expression a whole pytest-bdd feature or scenario tag must match to be taken "
        "as a JIRA key (empty: tags are never keys).",
        parse_pattern,
        default=JIRA_KEY_RE.pattern,
        metavar="REGEX",
        group="upload",
    ),
    _opt(
        "root_module",
        "Root application module the test modules go under.",
        parse_str,
        spaces_key="rootApplicationModuleName",
        metavar="NAME",
        group="upload",
    ),
    _opt(
        "module_mode",
        "One application module per test module, per package, or off.",
        parse_module_mode,
        spaces_key="applicationModuleMode",
        default="module",
        metavar="off|module|package",
        group="upload",
    ),
    # -- what the results say about themselves
    _opt(
        "release",
        "Release id, name, or _default_.",
        parse_release,
        spaces_key="release",
        metavar="ID|NAME",
        group="results",
    ),
    _opt(
        "milestone",
        "Milestone id.",
        _int_in(1),
        spaces_key="milestone",
        metavar="ID",
        group="results",
    ),
    _opt("program", "Program id.", _int_in(1), spaces_key="program", metavar="ID", group="results"),
    _opt(
        "suite",
        "Suite path MODULE/.../SUITE under the root module; modules and suite are created "
        "when missing and every slice joins one suite run.",
        parse_suite_path,
        spaces_key="suitePath",
        metavar="PATH",
        group="results",
    ),
    _opt(
        "suite_id", "Test suite id the runs belong to.", _int_in(1), metavar="ID", group="results"
    ),
    _opt(
        "external_run_id",
        "Suite run name (with a suite; default: the CI build id, else the job id).",
        parse_str,
        metavar="NAME",
        group="results",
    ),
    _opt(
        "jira",
        "Job-level JIRA story linked to every run of the job (repeatable); needs a suite.",
        parse_jira_key,
        multiple=True,
        metavar="KEY",
        group="results",
    ),
    _opt(
        "product_area",
        "Application module id for every run (repeatable).",
        _int_in(1),
        multiple=True,
        metavar="ID",
        group="results",
    ),
    _opt(
        "backlog_item",
        "Backlog item id for every run (repeatable).",
        _int_in(1),
        multiple=True,
        metavar="ID",
        group="results",
    ),
    _opt(
        "test_field",
        "Test field TYPE:VALUE (Test_Level, Test_Type, Testing_Tool_Type, Framework).",
        parse_pair(TEST_FIELD_TYPES),
        multiple=True,
        spaces_key="testFields",
        flag="--octane-field",
        env="OCTANE_FIELD",
        ini="octane_field",
        metavar="TYPE:VALUE",
        group="results",
    ),
    _opt(
        "tag",
        "Environment taxonomy TYPE:VALUE (repeatable).",
        parse_pair(None),
        multiple=True,
        metavar="TYPE:VALUE",
        group="results",
    ),
    _opt(
        "module",
        "Octane 'module' attribute of every run.",
        parse_str,
        metavar="NAME",
        group="results",
    ),
    _opt(
        "build_server_id", "Build context: CI server id.", parse_str, metavar="ID", group="results"
    ),
    _opt("build_job_id", "Build context: CI job id.", parse_str, metavar="ID", group="results"),
    _opt("build_id", "Build context: build id.", parse_str, metavar="ID", group="results"),
    _opt(
        "build_job_name", "Build context: CI job name.", parse_str, metavar="NAME", group="results"
    ),
    _opt("build_name", "Build context: build name.", parse_str, metavar="NAME", group="results"),
    _opt(
        "started",
        "Start time of the results, epoch milliseconds (default: measured).",
        _int_in(0),
        metavar="MS",
        group="results",
    ),
    _opt(
        "max_trace",
        "Characters of a traceback kept in the XML.",
        _int_in(200),
        default=20000,
        metavar="N",
        group="results",
    ),
)

OPTIONS_BY_NAME = {spec.name: spec for spec in OPTIONS}

#: Keys a spaces-file entry may have (the seed's names).
SPACES_KEYS = {spec.spaces_key: spec for spec in OPTIONS if spec.spaces_key}


# ---------------------------------------------------------------- the settings record


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
            "external_run_id", "jira", "verify_ssl",
        )  # fmt: skip
        return {name: getattr(self, name) for name in keep}


# ---------------------------------------------------------------- resolution


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
    from pytest_octane.octane.client import parse_octane_url  # only when a URL is configured

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
