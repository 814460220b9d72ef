"""One frozen ``Settings``, resolved once from every source, with errors that name the source.

Precedence: command line > ``OCTANE_*`` environment variables > ini/pyproject ``octane_*``
keys > the spaces file entry of the selected shared space > defaults.  The option table
``OPTIONS`` (``options.py``) is the single description of every setting and holds its one
default; ``Settings`` (``resolve.py``, imported when first named) builds itself from the
pytest plugin's or the CLI's options, and ``docs/configuration.md`` is generated from the table.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pytest_octane.settings.options import (
    DEFAULT_CLIENT_TYPE,
    DEFAULT_CREDENTIALS_PATH,
    DEFAULT_TASK_STORE,
    OPTIONS,
    OPTIONS_BY_NAME,
    OptionSpec,
)
from pytest_octane.settings.parsers import JIRA_KEY_RE, MAX_SLICE_SIZE, parse_jira_key

if TYPE_CHECKING:
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


def __getattr__(name: str) -> Any:
    """``resolve.py``'s names, imported on first use: pytest imports this package for the
    option table of every session, and resolves settings only when the plugin is on."""
    # not ``from pytest_octane.settings import resolve``: its hasattr would come back here
    resolve = importlib.import_module("pytest_octane.settings.resolve")
    if name in resolve.__all__:
        return getattr(resolve, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
