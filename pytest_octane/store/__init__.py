"""Task stores: JSON files (default), SQLite and PostgreSQL, chosen by the location string.

``open_store`` is the one place a location becomes a store, so the plugin, the uploader and
the CLI accept exactly the same spellings and fail with the same one-line errors.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pytest_octane.errors import StoreError
from pytest_octane.settings.options import DEFAULT_TASK_STORE
from pytest_octane.store.base import DamagedJob, JobListing, TaskStore
from pytest_octane.store.location import URL_SCHEME, describe_location

__all__ = [
    "DEFAULT_LOCATION",
    "DamagedJob",
    "JobListing",
    "TaskStore",
    "describe_location",
    "open_store",
]

#: Folder used when the user configures nothing (the option table's default).
DEFAULT_LOCATION = DEFAULT_TASK_STORE

_SQLITE_SCHEMES = frozenset({"sqlite", "sqlite+pysqlite"})
_POSTGRES_SCHEMES = frozenset({"postgresql", "postgres", "postgresql+psycopg"})
_FILE_SCHEMES = frozenset({"file"})
_SUPPORTED = "a folder path, sqlite:///path.db or postgresql+psycopg://user@host:port/db"


def open_store(location: str) -> TaskStore:
    """Open the task store at ``location``.

    A folder path (or ``file://`` URL) gives the JSON store, ``sqlite:///path.db`` and
    ``postgresql[+psycopg]://user@host:port/db`` the SQL store. Raises StoreError for an
    unknown scheme or a missing optional dependency, naming the extra to install.
    """
    location = location.strip()
    if not location:
        raise StoreError(f"the task store location is empty: use {_SUPPORTED}")
    match = URL_SCHEME.match(location)
    if match is None:
        return _open_json(location)
    scheme = match.group(1).lower()
    shown = describe_location(location)
    if scheme in _FILE_SCHEMES:
        from urllib.request import url2pathname  # imports http.client and ssl: only here

        path = url2pathname(urlsplit(location).path)
        if not path:
            raise StoreError(
                f"the task store '{shown}' names no folder: use file:///path/to/folder"
            )
        return _open_json(path)
    if scheme in _SQLITE_SCHEMES:
        return _open_sql(location, shown, extra="db", driver=None)
    if scheme in _POSTGRES_SCHEMES:
        return _open_sql(location, shown, extra="postgres", driver="psycopg")
    raise StoreError(f"the task store '{shown}' has an unknown scheme '{scheme}': use {_SUPPORTED}")


def _open_json(folder: str) -> TaskStore:
    from pytest_octane.store.jsonfile import JsonFileStore

    return JsonFileStore(folder)


def _open_sql(location: str, shown: str, *, extra: str, driver: str | None) -> TaskStore:
    try:
        from pytest_octane.store.sql import SqlStore
    except ImportError:
        raise StoreError(
            f"the task store '{shown}' needs SQLAlchemy: pip install 'pytest-octane[{extra}]'"
        ) from None
    if driver is not None:
        try:
            __import__(driver)
        except ImportError:
            raise StoreError(
                f"the task store '{shown}' needs {driver}: pip install 'pytest-octane[{extra}]'"
            ) from None
    return SqlStore(location)
