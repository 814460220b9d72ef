"""Fixtures for the plugin's end-to-end tests.

``run_and_parse`` runs pytest (through pytester) with ``--octane-dry-run=DIR``, validates every
slice it writes (``validate_xml``, tests/conftest.py) and checks the one invariant every run
must keep: one Octane run per test item pytest reported.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pytest
from lxml import etree

#: Outcomes of pytest's summary line that stand for one test item each.
ITEM_OUTCOMES = ("passed", "failed", "skipped", "xfailed", "xpassed", "errors")
_TEARDOWN_ERROR = re.compile(r"^_+ ERROR at teardown of ")


# ---------------------------------------------------------------- isolation


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inner pytest runs must not see the outer shell's Octane or xdist settings."""
    for name in list(os.environ):
        if (name.startswith("OCTANE_") and name != "OCTANE_XSD") or name.startswith(
            "PYTEST_XDIST_"
        ):
            monkeypatch.delenv(name)


# ---------------------------------------------------------------- dry runs


@dataclass
class DryRun:
    """One pytest run with a dry run: its result and the parsed, validated slices."""

    result: pytest.RunResult
    folder: Path
    slices: list[etree._Element]
    jira_keys: dict[str, list[str]] = field(default_factory=dict)
    started_before_ms: int = 0
    finished_after_ms: int = 0

    @property
    def runs(self) -> list[etree._Element]:
        return [run for root in self.slices for run in root.iter("test_run")]

    def run(self, name: str) -> etree._Element:
        """The one run called ``name`` (fails when there are none or several)."""
        found = [run for run in self.runs if run.get("name") == name]
        assert len(found) == 1, f"{len(found)} runs named {name!r}: {self.names()}"
        return found[0]

    def names(self) -> list[str]:
        return [str(run.get("name")) for run in self.runs]

    def statuses(self) -> dict[str, str]:
        return {str(run.get("name")): str(run.get("status")) for run in self.runs}

    def identities(self) -> list[tuple[str, str, str, str]]:
        """(package, class, name, status) of every run, sorted: what must not depend on how
        the tests were scheduled."""
        return sorted(
            (
                str(run.get("package", "")),
                str(run.get("class", "")),
                str(run.get("name")),
                str(run.get("status")),
            )
            for run in self.runs
        )


def reported_items(result: pytest.RunResult) -> int:
    """Test items pytest reported: a teardown error after a passed or failed call is counted
    twice in pytest's summary line, so subtract those."""
    try:
        outcomes = result.parseoutcomes()
    except ValueError:
        return 0
    total = sum(outcomes.get(key, 0) for key in ITEM_OUTCOMES)
    return total - sum(1 for line in result.outlines if _TEARDOWN_ERROR.match(line))


def read_slices(folder: Path) -> tuple[list[bytes], dict[str, list[str]]]:
    """Raw slice documents of a dry-run folder, in order, and its jira-keys.json."""
    files = sorted(folder.glob("slice-*.xml"))
    assert [f.name for f in files] == [f"slice-{i:04d}.xml" for i in range(1, len(files) + 1)]
    leftovers = {p.name for p in folder.iterdir()} - {f.name for f in files} - {"jira-keys.json"}
    assert not leftovers, f"unexpected files in the dry-run folder: {sorted(leftovers)}"
    keys_file = folder / "jira-keys.json"
    keys = json.loads(keys_file.read_text(encoding="utf-8")) if keys_file.exists() else {}
    return [f.read_bytes() for f in files], keys


class RunAndParse(Protocol):
    def __call__(
        self, *args: str, subprocess: bool = False, check_count: bool = True
    ) -> DryRun: ...


@pytest.fixture
def run_and_parse(
    pytester: pytest.Pytester, validate_xml: Callable[[bytes], etree._Element]
) -> RunAndParse:
    """Run pytest with ``--octane-dry-run=<fresh folder>``; parse and validate every slice and
    check that there is exactly one run per test item pytest reported."""
    counter = iter(range(1, 1000))

    def run(*args: str, subprocess: bool = False, check_count: bool = True) -> DryRun:
        folder = pytester.path / f"octane-out-{next(counter)}"
        argv: Sequence[str] = (f"--octane-dry-run={folder}", *args)
        before = int(time.time() * 1000)
        if subprocess:
            result = pytester.runpytest_subprocess(*argv, timeout=120)
        else:
            result = pytester.runpytest(*argv)
        after = int(time.time() * 1000)
        documents, keys = read_slices(folder) if folder.exists() else ([], {})
        slices = [validate_xml(document) for document in documents]
        dry = DryRun(result, folder, slices, keys, before, after)
        if check_count:
            assert len(dry.runs) == reported_items(result), (
                f"{len(dry.runs)} Octane runs for {reported_items(result)} reported items: "
                f"{dry.names()}\n{result.stdout.str()}"
            )
        return dry

    return run
