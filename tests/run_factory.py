"""``make_test_run``: one ``TestRun`` as the plugin would record it, for tests that need runs."""

from __future__ import annotations

from typing import Any

from pytest_octane.model import RunStatus, TestRun

__all__ = ["make_test_run"]


def make_test_run(nodeid: str, **changes: Any) -> TestRun:
    """A passed, 1 ms run of ``nodeid`` (``folder/file.py::name``) with the package, class and
    name the plugin splits from it; ``changes`` replace any field."""
    path, _, name = nodeid.partition("::")
    folder, _, file = path.rpartition("/")
    fields: dict[str, Any] = {
        "nodeid": nodeid,
        "module": "",
        "package": folder.replace("/", "."),
        "klass": file.removesuffix(".py"),
        "name": name,
        "status": RunStatus.PASSED,
        "duration_ms": 1,
        "started_ms": 1_700_000_000_000,
    }
    fields.update(changes)
    return TestRun(**fields)
