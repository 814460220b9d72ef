"""Plain value types shared by the plugin, the uploader, the store and the CLI.

Nothing here imports pytest: the CLI and the uploader work on the same records
the plugin produces.  The task store's records live in ``records.py`` and are exported
here too, imported on first use (pytest's process rarely needs them: issue 28).
"""

from __future__ import annotations

import enum
import functools
import hashlib
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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
    "BuildContext",
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


class RunStatus(enum.StrEnum):
    """Octane's native statuses for a test run (XSD ``nativeStatusType``)."""

    PASSED = "Passed"
    FAILED = "Failed"
    SKIPPED = "Skipped"
    PLANNED = "Planned"


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


#: A plain result (no error, scenario or attachment) as its reports said it: ``(nodeid,
#: status, duration_ms, started_ms, description, jira_keys)``.  The pytest process writes
#: most results' journal lines and dry-run elements from these, the names derived by the
#: writer, without making their runs (a frozen dataclass costs 4 µs, issue 28).
Reported = tuple[str, RunStatus, int, int, str | None, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class SpooledRun:
    """What the uploader needs to know of one run in a spooled slice (here, not in
    job/spool.py, so that the pytest process that names them imports no XML writer)."""

    package: str
    klass: str
    jira_keys: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildContext:
    """CI build that produced the runs (XSD ``<build>``): all three ids or none."""

    server_id: str
    job_id: str
    build_id: str
    job_name: str | None = None
    build_name: str | None = None

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in _fields(self).items() if v is not None}


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


def _fields(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__}


#: Octane's limit on a test's package, class and name (XSD ``name`` attributes).
MAX_NAME = 255


def cut_name(value: str, limit: int = MAX_NAME) -> str:
    """Cut ``value`` to ``limit`` characters with a hash suffix, so long names never collide."""
    if len(value) <= limit:
        return value
    digest = hashlib.sha1(value.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{value[: limit - 12]}~~{digest}"


def split_nodeid(nodeid: str) -> tuple[str, str, str]:
    """(package, class, name) the way pytest's junitxml and Octane's collection tool name tests.

    ``tests/unit/test_x.py::TestA::test_b[1]`` -> ``("tests.unit.test_x", "TestA", "test_b[1]")``;
    ``tests/test_x.py::test_b`` -> ``("tests", "test_x", "test_b")``.  Uploads of the same
    suite through ``--junitxml`` and octane-collection-tool land on the same Octane tests.
    """
    prefix, name = split_test_name(nodeid)
    package, klass = package_and_class(prefix)
    return package, klass, name


def split_test_name(nodeid: str) -> tuple[str, str]:
    """(the node id's file and classes, the test's name cut to :data:`MAX_NAME`):
    ``tests/test_x.py::TestA::test_b[1]`` -> (``tests/test_x.py::TestA``, ``test_b[1]``).
    The first part names the package and class (:func:`package_and_class`), shared by the
    tests of a file."""
    path, bracket, params = nodeid.partition("[")
    prefix, sep, name = path.rpartition("::")
    if not sep:  # a bare path (collection errors): the file is the class
        prefix, name = path, path
    name += bracket + params
    return prefix, name if len(name) <= MAX_NAME else cut_name(name)


@functools.lru_cache(maxsize=4096)
def package_and_class(prefix: str) -> tuple[str, str]:
    """``tests/test_x.py::TestA`` -> (``tests.test_x``, ``TestA``); shared by a file's tests."""
    file_part, *classes = prefix.split("::")
    file_part = file_part.removesuffix(".py")
    file_part = file_part.replace(os.sep, ".").replace("/", ".").strip(".")
    package, _, klass = ".".join([file_part, *classes]).rpartition(".")
    return cut_name(package), cut_name(klass)


# ---------------------------------------------------------------- attachment names
# (here, not in octane/client: the pytest process names attached files without the HTTP client)

#: Octane's default ATTACHMENTS_FILE_EXTENSION_WHITE_LIST (VERIFIED admhelp, API-FACTS 1e).
ATTACHMENT_WHITELIST = frozenset(
    "jpg jpeg bmp png doc docx msg pdf xml xls xlsx ppt pptx zip txt wmv mp4 m4p mkv vob log "
    "wrf fbr".split()
)
_UNSAFE_NAME = re.compile(r'[/\\:*?"<>|\x00-\x1f]')


def octane_name(name: str) -> tuple[str, bool]:
    """The name Octane will take for a file called ``name``, and whether the file must go
    inside a ``.zip`` of that name first (its extension is not on the default whitelist).

    ``shots/login page.png`` -> ``("shots_login page.png", False)``;
    ``trace.har`` -> ``("trace.har.zip", True)``; ``.env`` -> ``("_.env.zip", True)``.
    """
    safe = _UNSAFE_NAME.sub("_", name.strip()).strip() or "attachment"
    if safe.startswith("."):
        safe = "_" + safe
    extension = safe.rpartition(".")[2].lower() if "." in safe else ""
    wrap = extension not in ATTACHMENT_WHITELIST
    if wrap:
        safe += ".zip"
    if len(safe) > MAX_NAME:  # keep the extension(s) at the end
        stem, dot, ext = safe.partition(".")
        safe = stem[: MAX_NAME - len(ext) - 1] + dot + ext
        safe = safe[-MAX_NAME:]
    return safe, wrap
