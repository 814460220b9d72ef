"""One frozen ``Settings``, resolved once from every source, with errors that name the source.

Precedence: command line > ``OCTANE_*`` environment variables > ini/pyproject ``octane_*``
keys > the spaces file entry of the selected shared space > defaults.  The option table
``OPTIONS`` is the single description of every setting: the pytest plugin, the CLI and the
configuration reference in ``docs/`` are all built from it.
"""

from __future__ import annotations

from pytest_octane.settings.options import OPTIONS, OPTIONS_BY_NAME, SPACES_KEYS
from pytest_octane.settings.parsers import (
    DEFAULT_CREDENTIALS_PATH,
    DEFAULT_TEST_FIELDS,
    JIRA_KEY_RE,
    MAX_SLICE_SIZE,
    MAX_WRITE_BATCH,
    TEST_FIELD_TYPES,
    ModuleMode,
    Parser,
    parse_bool,
    parse_dry_run,
    parse_jira_key,
    parse_module_mode,
    parse_pair,
    parse_pattern,
    parse_release,
    parse_str,
    parse_suite_path,
    parse_url,
    parse_verify,
)
from pytest_octane.settings.resolve import (
    Settings,
    check_credentials,
    load_spaces_file,
    require_connection,
    resolve_settings,
)
from pytest_octane.settings.spec import OptionSpec

__all__ = [
    "DEFAULT_CREDENTIALS_PATH",
    "DEFAULT_TEST_FIELDS",
    "JIRA_KEY_RE",
    "MAX_SLICE_SIZE",
    "MAX_WRITE_BATCH",
    "OPTIONS",
    "OPTIONS_BY_NAME",
    "SPACES_KEYS",
    "TEST_FIELD_TYPES",
    "ModuleMode",
    "OptionSpec",
    "Parser",
    "Settings",
    "check_credentials",
    "load_spaces_file",
    "parse_bool",
    "parse_dry_run",
    "parse_jira_key",
    "parse_module_mode",
    "parse_pair",
    "parse_pattern",
    "parse_release",
    "parse_str",
    "parse_suite_path",
    "parse_url",
    "parse_verify",
    "require_connection",
    "resolve_settings",
]
