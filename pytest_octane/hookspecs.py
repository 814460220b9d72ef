"""Hooks other plugins (and conftest.py files) can implement to adapt pytest-octane."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_octane.model import JobRecord, TestRun
    from pytest_octane.octane.credentials import Credentials
    from pytest_octane.settings import Settings

__all__ = [
    "pytest_octane_attachments",
    "pytest_octane_credentials",
    "pytest_octane_modify_run",
    "pytest_octane_upload_finished",
]


@pytest.hookspec(firstresult=True)
def pytest_octane_credentials(
    space_id: int, settings: Settings
) -> Credentials | dict[str, Any] | None:
    """Return credentials for ``space_id`` from your secret store (or None to fall through).

    A dict may hold ``client_id``/``client_secret`` or ``user``/``password``.  The first
    non-None answer wins; without one, environment variables and the credentials file are used.
    """


@pytest.hookspec(firstresult=True)
def pytest_octane_modify_run(run: TestRun) -> TestRun | None:
    """Return a changed copy of ``run`` (``dataclasses.replace``) or None to keep it.

    Called once per run at session end, on the xdist controller when xdist is used.
    """


def pytest_octane_upload_finished(job: JobRecord) -> None:
    """Called after an upload job ended (successfully or not) with its final record."""


def pytest_octane_attachments(item: pytest.Item, report: pytest.TestReport) -> list[Any] | None:
    """Return files to attach to ``item``'s Octane run, after each of its phase reports.

    Each entry is a path, or a tuple ``(path_or_bytes, name, description)`` (bytes need a
    name).  Called in the process that ran the test (an xdist worker under xdist), e.g. a
    plugin that attaches a screenshot when ``report.failed``.  Same as calling
    ``pytest_octane.attach`` from a hook.
    """
