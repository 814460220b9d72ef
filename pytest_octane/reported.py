"""What pytest reported of a test, and the names Octane knows it by.

A plain result's fields (:data:`Reported`), its status, the package, class and name of its
node id, a collected test's place (:class:`SpooledRun`) and the name Octane gives an attached
file: all that pytest's process needs for most tests.  The records of ``model.py``
(``TestRun`` and its parts) are made only for the others, a failure, a scenario or a file
attached, so a session whose tests pass never builds their classes (issue 28: about 30 M
instructions at each start).
"""

from __future__ import annotations

import enum
import functools
import hashlib
import os
import re
from typing import NamedTuple

__all__ = [
    "ATTACHMENT_WHITELIST",
    "MAX_NAME",
    "Reported",
    "RunStatus",
    "SpooledRun",
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


#: A plain result (no error, scenario or attachment) as its reports said it: ``(nodeid,
#: status, duration_ms, started_ms, description, jira_keys)``.  The pytest process writes
#: most results' journal lines and dry-run elements from these, the names derived by the
#: writer, without making their runs (a frozen dataclass costs 4 µs, issue 28).
Reported = tuple[str, RunStatus, int, int, str | None, tuple[str, ...]]


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


class SpooledRun(NamedTuple):
    """What the uploader needs to know of one run in a spooled slice, or of a collected test
    (its look-ahead): where it goes and its JIRA keys.  A named tuple: pytest's process makes
    the collected tests' at the end of collection, and defining a frozen dataclass costs about
    1 ms on Python 3.11 (issue 28)."""

    package: str
    klass: str
    jira_keys: tuple[str, ...]


# ---------------------------------------------------------------- attachment names
# (here, not in octane/client: the pytest process names attached files without the HTTP client)

#: Octane's default ATTACHMENTS_FILE_EXTENSION_WHITE_LIST (VERIFIED admhelp, API-FACTS 1e).
ATTACHMENT_WHITELIST = frozenset(
    "jpg jpeg bmp png doc docx msg pdf xml xls xlsx ppt pptx zip txt wmv mp4 m4p mkv vob log "
    "wrf fbr".split()
)
_UNSAFE_NAME = r'[/\\:*?"<>|\x00-\x1f]'  # compiled (and cached by ``re``) at first use


def octane_name(name: str) -> tuple[str, bool]:
    """The name Octane will take for a file called ``name``, and whether the file must go
    inside a ``.zip`` of that name first (its extension is not on the default whitelist).

    ``shots/login page.png`` -> ``("shots_login page.png", False)``;
    ``trace.har`` -> ``("trace.har.zip", True)``; ``.env`` -> ``("_.env.zip", True)``.
    """
    safe = re.sub(_UNSAFE_NAME, "_", name.strip()).strip() or "attachment"
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
