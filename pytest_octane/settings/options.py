"""The option table ``OPTIONS``: every setting, each name it has, and its one default.

The pytest options, ini keys, ``OCTANE_*`` variables, spaces-file keys and ``pytest-octane``
arguments are all made from this table, and so is ``docs/configuration.md``; a default
written anywhere else is a copy that can drift (the constants below are the table's own,
for code that needs one without a ``Settings``, such as a client built by hand).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

from pytest_octane.settings.parsers import (
    JIRA_KEY_RE,
    MAX_SLICE_SIZE,
    MAX_WRITE_BATCH,
    TEST_FIELD_TYPES,
    Parser,
    float_in,
    int_in,
    parse_bool,
    parse_capture,
    parse_jira_key,
    parse_module_mode,
    parse_octane_root,
    parse_pair,
    parse_pattern,
    parse_release,
    parse_report_url,
    parse_str,
    parse_suite_path,
    parse_url,
    parse_verify,
)

if TYPE_CHECKING:
    import pytest

__all__ = [
    "DEFAULT_CLIENT_TYPE",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_CREDENTIALS_PATH",
    "DEFAULT_READ_TIMEOUT",
    "DEFAULT_TASK_STORE",
    "OPTIONS",
    "OPTIONS_BY_NAME",
    "SPACES_KEYS",
    "OptionSpec",
    "argument_kind",
    "register_pytest_options",
]

#: The HPECLIENTTYPE header Octane sees (``--octane-client-type``).
DEFAULT_CLIENT_TYPE = "PYTEST_OCTANE"
#: Seconds to wait for a connection, and for the next bytes of an answer.
DEFAULT_CONNECT_TIMEOUT = 20.0
DEFAULT_READ_TIMEOUT = 120.0
#: The folder that tracks jobs and keeps their slices (--octane-task-store, --octane-spool-dir).
DEFAULT_TASK_STORE = "octane_task_logs"
DEFAULT_CREDENTIALS_PATH = "/core/qzrelease/octane/S-{space_id}"


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
    group: str

    @property
    def dest(self) -> str:
        """Where a front end's parser keeps the value: ``octane_<name>``."""
        return f"octane_{self.name}"

    @property
    def tool_flags(self) -> tuple[str, ...]:
        """A ``pytest-octane`` verb's spellings: ``--slice-size`` and the plugin's
        ``--octane-slice-size`` (none for a setting without a flag)."""
        if not self.flag:
            return ()
        return ("--" + self.flag.removeprefix("--octane-"), self.flag)


def _option(name: str, help: str, parse: Parser, **kw: Any) -> OptionSpec:
    dashed = name.replace("_", "-")
    kw.setdefault("flag", f"--octane-{dashed}")
    kw.setdefault("env", f"OCTANE_{name.upper()}")
    kw.setdefault("ini", f"octane_{name}")
    return OptionSpec(name=name, help=help, parse=parse, **kw)


_connection = partial(_option, group="connection")
_upload = partial(_option, group="upload")
_results = partial(_option, group="results")

OPTIONS: tuple[OptionSpec, ...] = (
    _connection("space", "Octane shared space id; turns the upload on.", int_in(1), metavar="ID"),
    _connection(
        "config",
        "JSON spaces file mapping shared space ids to their settings.",
        parse_str,
        metavar="PATH",
    ),
    _connection(
        "url",
        "Octane server root (or the seed's .../shared_spaces/S/workspaces/W URL).",
        parse_octane_root,
        spaces_key="url",
        metavar="URL",
    ),
    _connection(
        "workspace", "Octane workspace id.", int_in(1), spaces_key="workspaceId", metavar="ID"
    ),
    _connection(
        "credentials_path",
        "Credentials file path template; {space_id} is replaced.",
        parse_str,
        spaces_key="credentialsPath",
        default=DEFAULT_CREDENTIALS_PATH,
        metavar="TEMPLATE",
    ),
    _connection(
        "credentials_command",
        "Command printing the credentials as JSON (a secret store's CLI; no shell; "
        "{space_id} is replaced).",
        parse_str,
        spaces_key="credentialsCommand",
        metavar="COMMAND",
    ),
    _connection(
        "verify_ssl",
        "Verify TLS certificates: true, false, or a CA bundle path.",
        parse_verify,
        spaces_key="verifySSL",
        default=True,
        metavar="BOOL|PATH",
    ),
    _connection(
        "proxy",
        "Proxy URL for Octane requests (default: the environment's).",
        parse_url,
        spaces_key="proxy",
        metavar="URL",
    ),
    _connection(
        "client_type",
        "HPECLIENTTYPE header value.",
        parse_str,
        spaces_key="clientType",
        default=DEFAULT_CLIENT_TYPE,
        metavar="NAME",
    ),
    _connection(
        "connect_timeout",
        "Seconds to wait for a connection.",
        float_in(0.1),
        spaces_key="connectTimeout",
        default=DEFAULT_CONNECT_TIMEOUT,
        metavar="S",
    ),
    _connection(
        "read_timeout",
        "Seconds to wait for the next bytes of an answer; a whole request (connect, answer, "
        "body) may take the connect timeout plus twice this.",
        float_in(0.1),
        spaces_key="readTimeout",
        default=DEFAULT_READ_TIMEOUT,
        metavar="S",
    ),
    _upload(
        "slice_size",
        f"Test runs per uploaded document (1 to {MAX_SLICE_SIZE}).",
        int_in(1, MAX_SLICE_SIZE),
        spaces_key="autoRunsSliceSize",
        default=MAX_SLICE_SIZE,
        metavar="N",
    ),
    _upload(
        "max_parallel",
        "Uploads in flight at once.",
        int_in(1, 50),
        spaces_key="maxParallelUploads",
        default=5,
        metavar="N",
    ),
    _upload(
        "queue_budget",
        "Octane tasks queued or running at once for all jobs that share the task store and "
        "the shared space (default: no shared budget).",
        int_in(1, 1000),
        spaces_key="queueBudget",
        metavar="N",
    ),
    _upload(
        "stream",
        "Upload each slice while the tests run, as soon as its results are final (on), or "
        "everything at the end of the session (off). pytest-bdd runs are sent at the end.",
        parse_bool,
        spaces_key="streamUploads",
        default=True,
        metavar="on|off",
    ),
    _upload(
        "queue_full_retry",
        "Seconds between tries while Octane's queue is full.",
        float_in(0.0),
        spaces_key="queueFullRetrySeconds",
        default=10.0,
        metavar="S",
    ),
    _upload(
        "queue_full_deadline",
        "Give up waiting for a full queue after this many seconds.",
        float_in(0.0),
        spaces_key="queueFullDeadlineSeconds",
        default=1800.0,
        metavar="S",
    ),
    _upload(
        "backoff",
        "First wait in seconds after a transient error (502/503/504/429, connection); "
        "it doubles with jitter on each try.",
        float_in(0.0),
        spaces_key="backoffSeconds",
        default=1.0,
        metavar="S",
    ),
    _upload(
        "poll_timeout",
        "Seconds to wait for Octane to process one slice.",
        float_in(0.0),
        spaces_key="pollTimeoutSeconds",
        default=900.0,
        metavar="S",
    ),
    _upload(
        "skip_errors",
        "Let Octane skip references to missing entities (skip-errors=true).",
        parse_bool,
        spaces_key="skipErrors",
        default=False,
        is_switch=True,
    ),
    _upload(
        "compress",
        "Send uploads gzip-compressed (Content-Encoding: application/gzip); a server that "
        "refuses them gets plain XML for the rest of the job.",
        parse_bool,
        spaces_key="compressUploads",
        default=False,
        is_switch=True,
    ),
    _upload(
        "write_batch",
        f"Entities per POST/PUT call (1 to {MAX_WRITE_BATCH}, as the CI SDK).",
        int_in(1, MAX_WRITE_BATCH),
        spaces_key="entityWriteBatchSize",
        default=MAX_WRITE_BATCH,
        metavar="N",
    ),
    _upload(
        "strict",
        "Fail the pytest run when the upload fails or JIRA keys are unmapped.",
        parse_bool,
        default=False,
        is_switch=True,
    ),
    _upload(
        "task_store",
        "Where jobs are tracked: a folder, sqlite:///file.db or postgresql://...",
        parse_str,
        spaces_key="taskStore",
        default=DEFAULT_TASK_STORE,
        metavar="LOCATION",
    ),
    _upload(
        "spool_dir",
        "Folder where each job's slices are kept until Octane has them.",
        parse_str,
        spaces_key="spoolDir",
        default=DEFAULT_TASK_STORE,
        metavar="DIR",
    ),
    _upload(
        "update_auto_runs",
        "After all slices succeed, link the job's automated runs to the job-level and per-test "
        "stories (covered_content, appended); needs a suite.",
        parse_bool,
        spaces_key="updateAutoRuns",
        default=False,
        is_switch=True,
    ),
    _upload(
        "jira_field",
        "Story field holding the JIRA key.",
        parse_str,
        spaces_key="jiraKeyField",
        default="jira_key_udf",
        metavar="FIELD",
    ),
    _upload(
        "jira_tag_pattern",
        "Regular expression a whole pytest-bdd feature or scenario tag must match to be taken "
        "as a JIRA key (empty: tags are never keys).",
        parse_pattern,
        default=JIRA_KEY_RE.pattern,
        metavar="REGEX",
    ),
    _upload(
        "root_module",
        "Root application module the test modules go under.",
        parse_str,
        spaces_key="rootApplicationModuleName",
        metavar="NAME",
    ),
    _upload(
        "module_mode",
        "One application module per test module, per package, or off.",
        parse_module_mode,
        spaces_key="applicationModuleMode",
        default="module",
        metavar="off|module|package",
    ),
    _results(
        "release",
        "Release id, name, or _default_.",
        parse_release,
        spaces_key="release",
        metavar="ID|NAME",
    ),
    _results(
        "milestone",
        "Milestone id.",
        int_in(1),
        spaces_key="milestone",
        metavar="ID",
    ),
    _results("program", "Program id.", int_in(1), spaces_key="program", metavar="ID"),
    _results(
        "suite",
        "Suite path MODULE/.../SUITE under the root module; modules and suite are created "
        "when missing and every slice joins one suite run.",
        parse_suite_path,
        spaces_key="suitePath",
        metavar="PATH",
    ),
    _results("suite_id", "Test suite id the runs belong to.", int_in(1), metavar="ID"),
    _results(
        "external_run_id",
        "Suite run name (with a suite; default: the CI build id, else the job id).",
        parse_str,
        metavar="NAME",
    ),
    _results(
        "jira",
        "Job-level JIRA story linked to every run of the job (repeatable); needs a suite.",
        parse_jira_key,
        multiple=True,
        metavar="KEY",
    ),
    _results(
        "product_area",
        "Application module id for every run (repeatable).",
        int_in(1),
        multiple=True,
        metavar="ID",
    ),
    _results(
        "backlog_item",
        "Backlog item id for every run (repeatable).",
        int_in(1),
        multiple=True,
        metavar="ID",
    ),
    _results(
        "test_field",
        "Test field TYPE:VALUE (Test_Level, Test_Type, Testing_Tool_Type, Framework).",
        parse_pair(TEST_FIELD_TYPES),
        multiple=True,
        spaces_key="testFields",
        flag="--octane-field",
        env="OCTANE_FIELD",
        ini="octane_field",
        metavar="TYPE:VALUE",
    ),
    _results(
        "tag",
        "Environment taxonomy TYPE:VALUE (repeatable).",
        parse_pair(None),
        multiple=True,
        metavar="TYPE:VALUE",
    ),
    _results(
        "module",
        "Octane 'module' attribute of every run.",
        parse_str,
        metavar="NAME",
    ),
    _results("build_server_id", "Build context: CI server id.", parse_str, metavar="ID"),
    _results("build_job_id", "Build context: CI job id.", parse_str, metavar="ID"),
    _results("build_id", "Build context: build id.", parse_str, metavar="ID"),
    _results("build_job_name", "Build context: CI job name.", parse_str, metavar="NAME"),
    _results("build_name", "Build context: build name.", parse_str, metavar="NAME"),
    _results(
        "build_url",
        "The CI build's web page; every run links to it (external_report_url).",
        parse_url,
        metavar="URL",
    ),
    _results(
        "ci_server_type",
        "Octane server_type of the CI server --octane-register-ci-server creates "
        "(github_actions, gitlab, jenkins, azure_devops, ...).",
        parse_str,
        metavar="TYPE",
    ),
    _results(
        "register_ci_server",
        "Register the build context's CI server in Octane (ci_servers) when it is missing, "
        "so the runs keep their build context; without it an unknown CI server is left out.",
        parse_bool,
        spaces_key="registerCiServer",
        default=False,
        is_switch=True,
    ),
    _results(
        "report_url",
        "Link of every run to a report of your own (external_report_url), a template with "
        "{build_url}, {nodeid} and {name} (default: the detected CI build's page).",
        parse_report_url,
        spaces_key="reportUrl",
        metavar="TEMPLATE",
    ),
    _results(
        "capture",
        "Captured output sent after the trace of failed runs: no, log, system-out, "
        "system-err, out-err or all (pytest's junit_logging words).",
        parse_capture,
        spaces_key="captureOutput",
        default="all",
        metavar="MODE",
    ),
    _results(
        "capture_passed",
        "Send the captured output of passed runs too (in their description).",
        parse_bool,
        spaces_key="capturePassed",
        default=False,
        is_switch=True,
    ),
    _results(
        "attachments",
        "Send the files tests attach (octane_attach, pytest_octane.attach) to their runs.",
        parse_bool,
        spaces_key="attachments",
        default=True,
        metavar="on|off",
    ),
    _results(
        "attachment_max_mb",
        "Largest attachment kept, in MiB (a larger one is dropped with a warning).",
        int_in(1, 1024),
        spaces_key="attachmentMaxMb",
        default=25,
        metavar="MIB",
    ),
    _results(
        "attachments_max_mb",
        "Most MiB of attachments kept per job (later ones are dropped with a warning).",
        int_in(1, 100_000),
        spaces_key="attachmentsMaxMb",
        default=500,
        metavar="MIB",
    ),
    _results(
        "started",
        "Start time of the results, epoch milliseconds (default: measured).",
        int_in(0),
        metavar="MS",
    ),
    _results(
        "max_trace",
        "Characters of a traceback kept in the XML.",
        int_in(200),
        default=20000,
        metavar="N",
    ),
)

OPTIONS_BY_NAME = {spec.name: spec for spec in OPTIONS}

#: Keys a spaces-file entry may have (the seed's names).
SPACES_KEYS = {spec.spaces_key: spec for spec in OPTIONS if spec.spaces_key}


def argument_kind(spec: OptionSpec) -> dict[str, Any]:
    """How a parser takes the option: a bare switch, a repeatable value, or one value."""
    if spec.is_switch:
        return {"action": "store_true"}
    if spec.multiple:
        return {"action": "append", "metavar": spec.metavar}
    return {"metavar": spec.metavar}


def register_pytest_options(parser: pytest.Parser, group: pytest.OptionGroup) -> None:
    """Every option of the table as ``--octane-NAME`` in ``group`` and as an ini key (here,
    not beside ``Settings``: an inactive plugin imports the table, not the resolution)."""
    for spec in OPTIONS:
        if spec.flag:
            group.addoption(
                spec.flag, dest=spec.dest, default=None, help=spec.help, **argument_kind(spec)
            )
        if spec.ini:
            kind: Literal["linelist", "string"] = "linelist" if spec.multiple else "string"
            parser.addini(spec.ini, spec.help, type=kind, default=None)
