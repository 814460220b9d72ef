"""One frozen ``Settings``, resolved once from every source, with errors that name the source.

Precedence: command line > ``OCTANE_*`` environment variables > ini/pyproject ``octane_*``
keys > the spaces file entry of the selected shared space > defaults.  The option table
``OPTIONS`` (``options.py``) is the single description of every setting and holds its one
default; ``Settings`` (``resolve.py``) adds the options to the pytest plugin and the CLI and
builds itself from either, and ``docs/configuration.md`` is generated from the table.
"""

from __future__ import annotations

from pytest_octane.settings.options import (
    DEFAULT_CLIENT_TYPE,
    DEFAULT_CREDENTIALS_PATH,
    DEFAULT_TASK_STORE,
    OPTIONS,
    OPTIONS_BY_NAME,
    OptionSpec,
)
from pytest_octane.settings.parsers import JIRA_KEY_RE, MAX_SLICE_SIZE, parse_jira_key
from pytest_octane.settings.resolve import (
    Settings,
    check_credentials,
    given_options,
    load_spaces_file,
    option_help,
    require_connection,
    resolve_option,
    resolve_settings,
)

__all__ = [
    "DEFAULT_CLIENT_TYPE",
    "DEFAULT_CREDENTIALS_PATH",
    "DEFAULT_TASK_STORE",
    "JIRA_KEY_RE",
    "MAX_SLICE_SIZE",
    "OPTIONS",
    "OPTIONS_BY_NAME",
    "OptionSpec",
    "Settings",
    "check_credentials",
    "given_options",
    "load_spaces_file",
    "option_help",
    "parse_jira_key",
    "require_connection",
    "resolve_option",
    "resolve_settings",
]
