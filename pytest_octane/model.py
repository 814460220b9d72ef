"""Plain value types shared by the plugin, the uploader, the store and the CLI.

Nothing here imports pytest: the CLI and the uploader work on the same records
the plugin produces.  A test's status and names, and a plain result as its reports said it,
live in ``reported.py`` (all pytest's process needs of them for most tests: issue 28) and are
exported here too; so are the task store's records, which live in ``records.py`` and are
imported on first use (pytest's process rarely needs them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_octane.reported import (  # re-exported: the names every layer uses
    ATTACHMENT_WHITELIST,
    MAX_NAME,
    Reported,
    RunStatus,
    SpooledRun,
    cut_name,
    octane_name,
    package_and_class,
    split_nodeid,
    split_test_name,
)

if TYPE_CHECKING:
    from pytest_octane.records import (
        MAX_FAILURE_MESSAGE,
        MAX_FAILURES_KEPT,
        FailedTest,
        JobRecord,
        RequestLogEntry,
        SliceRecord,
        SliceStatus,
        SliceWait,
    )

__all__ = [
    "ATTACHMENT_WHITELIST",
    "MAX_FAILURES_KEPT",
    "MAX_FAILURE_MESSAGE",
    "MAX_NAME",
    "Attachment",
    "FailedTest",
    "GherkinScenario",
    "GherkinStep",
    "JobRecord",
    "Reported",
    "RequestLogEntry",
    "RunError",
    "RunStatus",
    "SliceRecord",
    "SliceStatus",
    "SliceWait",
    "SpooledRun",
    "TestRun",
    "cut_name",
    "octane_name",
    "package_and_class",
    "split_nodeid",
    "split_test_name",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunError:
    """What went wrong in a failed run: exception type, one-line message, full trace."""

    type: str
    message: str
    trace: str


@dataclass(frozen=True, slots=True, kw_only=True)
class GherkinStep:
    """One executed (or not reached) step of a scenario; status is Octane's lowercase word."""

    keyword: str
    text: str
    status: str
    duration_ms: int = 0
    error: str | None = None
    background: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class GherkinScenario:
    """What a pytest-bdd scenario adds to its run: the feature it belongs to and its steps.

    ``feature_text`` is shared between the scenarios of one feature (one string object).
    """

    feature_name: str
    feature_path: str
    feature_text: str
    feature_tags: tuple[str, ...]
    name: str
    tags: tuple[str, ...] = ()
    outline_index: int | None = None
    steps: tuple[GherkinStep, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Attachment:
    """A file a test attached, already copied into the job's spool, to be sent to its run.

    ``path`` is the absolute path of the spooled copy; ``name`` is the safe name Octane gets.
    """

    path: str
    name: str
    description: str | None = None
    size: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class TestRun:
    """One test item's final result, named the way Octane identifies a test."""

    __test__ = False  # not a pytest test class

    nodeid: str
    module: str
    package: str
    klass: str
    name: str
    status: RunStatus
    duration_ms: int
    started_ms: int
    error: RunError | None = None
    description: str | None = None
    jira_keys: tuple[str, ...] = ()
    #: set for a pytest-bdd scenario: written inside a ``gherkin_test_run``, not a ``test_run``
    gherkin: GherkinScenario | None = None
    #: files the test attached (pytest_octane.attach), sent to its run after its slice
    attachments: tuple[Attachment, ...] = ()


#: the names ``records.py`` defines, exported here as well (:func:`__getattr__`); spelled
#: out, not read from ``records.__all__``: each ``from pytest_octane.model import ...``
#: asks this module for ``__path__``, and that would import records.py every time
_RECORDS = frozenset(
    (
        "MAX_FAILURES_KEPT",
        "MAX_FAILURE_MESSAGE",
        "FailedTest",
        "JobRecord",
        "RequestLogEntry",
        "SliceRecord",
        "SliceStatus",
        "SliceWait",
    )
)


def __getattr__(name: str) -> Any:
    """A store record, imported from ``records.py`` when first asked for."""
    if name in _RECORDS:
        from pytest_octane import records

        value = globals()[name] = getattr(records, name)
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
