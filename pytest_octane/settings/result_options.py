"""The option table's results group: what the results say about themselves (release, suite)."""

from __future__ import annotations

from pytest_octane.settings.parsers import (
    TEST_FIELD_TYPES,
    _int_in,
    parse_bool,
    parse_capture,
    parse_jira_key,
    parse_pair,
    parse_release,
    parse_report_url,
    parse_str,
    parse_suite_path,
    parse_url,
)
from pytest_octane.settings.spec import OptionSpec, _opt

RESULT_OPTIONS: tuple[OptionSpec, ...] = (
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
        "build_url",
        "The CI build's web page; every run links to it (external_report_url).",
        parse_url,
        metavar="URL",
        group="results",
    ),
    _opt(
        "ci_server_type",
        "Octane server_type of the CI server --octane-register-ci-server creates "
        "(github_actions, gitlab, jenkins, azure_devops, ...).",
        parse_str,
        metavar="TYPE",
        group="results",
    ),
    _opt(
        "register_ci_server",
        "Register the build context's CI server in Octane (ci_servers) when it is missing, "
        "so the runs keep their build context; without it an unknown CI server is left out.",
        parse_bool,
        spaces_key="registerCiServer",
        default=False,
        is_switch=True,
        group="results",
    ),
    _opt(
        "report_url",
        "Link of every run to a report of your own (external_report_url), a template with "
        "{build_url}, {nodeid} and {name} (default: the detected CI build's page).",
        parse_report_url,
        spaces_key="reportUrl",
        metavar="TEMPLATE",
        group="results",
    ),
    _opt(
        "capture",
        "Captured output sent after the trace of failed runs: no, log, system-out, "
        "system-err, out-err or all (pytest's junit_logging words).",
        parse_capture,
        spaces_key="captureOutput",
        default="all",
        metavar="MODE",
        group="results",
    ),
    _opt(
        "capture_passed",
        "Send the captured output of passed runs too (in their description).",
        parse_bool,
        spaces_key="capturePassed",
        default=False,
        is_switch=True,
        group="results",
    ),
    _opt(
        "attachments",
        "Send the files tests attach (octane_attach, pytest_octane.attach) to their runs.",
        parse_bool,
        spaces_key="attachments",
        default=True,
        metavar="on|off",
        group="results",
    ),
    _opt(
        "attachment_max_mb",
        "Largest attachment kept, in MiB (a larger one is dropped with a warning).",
        _int_in(1, 1024),
        spaces_key="attachmentMaxMb",
        default=25,
        metavar="MIB",
        group="results",
    ),
    _opt(
        "attachments_max_mb",
        "Most MiB of attachments kept per job (later ones are dropped with a warning).",
        _int_in(1, 100_000),
        spaces_key="attachmentsMaxMb",
        default=500,
        metavar="MIB",
        group="results",
    ),
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
