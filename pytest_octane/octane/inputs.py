"""Results files the CLI accepts: JUnit XML (converted) and Octane test-results XML."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lxml import etree

from pytest_octane.errors import InputError
from pytest_octane.model import RunError, RunStatus, TestRun
from pytest_octane.octane.results_xml import parse_xml_file, read_junit

if TYPE_CHECKING:
    from pytest_octane.settings import Settings

_STATUSES = {status.value: status for status in RunStatus}


def _int_attr(value: str | None, where: str, name: str) -> int:
    if value is None:
        return 0
    try:
        return int(value)
    except ValueError:
        raise InputError(f"{where}: {name}={value!r} is not a whole number") from None


def read_octane(path: Path) -> list[TestRun]:
    """Runs of an Octane ``<test_result>`` file (its global elements are not carried over)."""
    root = parse_xml_file(path).getroot()
    gherkin = root.find("test_runs/gherkin_test_run")
    if gherkin is not None:
        raise InputError(
            f"{path}: gherkin_test_run line {gherkin.sourceline}: Gherkin runs (pytest-bdd "
            "features) cannot be read back by upload/convert; upload them from the pytest run "
            "(pytest --octane-space=...), or retry its job with pytest-octane retry"
        )
    runs: list[TestRun] = []
    for element in root.iterfind("test_runs/test_run"):
        where = f"{path}: test_run line {element.sourceline}"
        name = element.get("name")
        if not name:
            raise InputError(f"{where}: has no name attribute")
        status_text = element.get("status") or ""
        if status_text not in _STATUSES:
            raise InputError(f"{where}: status={status_text!r} is not one of {list(_STATUSES)}")
        error_el = element.find("error")
        error = None
        if error_el is not None:
            error = RunError(
                type=error_el.get("type") or "Error",
                message=error_el.get("message") or "",
                trace=error_el.text or "",
            )
        description_el = element.find("description")
        package, klass = element.get("package") or "", element.get("class") or ""
        runs.append(
            TestRun(
                nodeid="::".join(p for p in (package, klass, name) if p),
                module=element.get("module") or "",
                package=package,
                klass=klass,
                name=name,
                status=_STATUSES[status_text],
                duration_ms=_int_attr(element.get("duration"), where, "duration"),
                started_ms=_int_attr(element.get("started"), where, "started"),
                error=error,
                description=description_el.text if description_el is not None else None,
            )
        )
    return runs


class _DoctypeFound(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class _RootReached(Exception):
    pass


class _PrologSpy:
    """Parser target that sees the DOCTYPE before any entity in the body is looked at."""

    def doctype(self, name: str | None, pubid: str | None, system: str | None) -> None:
        raise _DoctypeFound(name or "")

    def start(self, tag: str | bytes, attrib: dict[str | bytes, str | bytes]) -> None:
        raise _RootReached

    def end(self, tag: str | bytes) -> None:
        """Never reached: parsing stops at the root element."""

    def data(self, data: str | bytes) -> None:
        """Text before the root element is irrelevant here."""

    def comment(self, text: str | bytes) -> None:
        """Comments in the prolog are harmless."""

    def close(self) -> None:
        """Nothing to return: only the prolog matters."""


def refuse_doctype(path: Path) -> None:
    """Refuse a DOCTYPE in the prolog, before an entity could be expanded or complain first.

    ``parse_xml_file`` refuses DTDs too, but only after a whole parse, so a hostile file
    (XXE, billion laughs) would get a confusing "not well-formed" message instead.
    """
    parser = etree.XMLParser(
        target=_PrologSpy(), resolve_entities=False, load_dtd=False, no_network=True
    )
    try:
        etree.parse(str(path), parser)
    except _DoctypeFound as found:
        raise InputError(
            f"{path}: has a DOCTYPE declaration (<!DOCTYPE {found.name} ...>); results files "
            "with DTDs or entities are refused for safety (XXE, billion laughs): remove it"
        ) from None
    except (_RootReached, etree.XMLSyntaxError, OSError):
        return  # no DOCTYPE; parse_xml_file reports every other problem in full


def read_results_file(path: Path, *, started_ms: int, module: str = "") -> list[TestRun]:
    """Read one results file, telling JUnit from Octane XML by its root element."""
    refuse_doctype(path)
    root = parse_xml_file(path).getroot()
    if root.tag == "test_result":
        return read_octane(path)
    if root.tag in ("testsuites", "testsuite"):
        return read_junit(path, started_ms=started_ms, module=module)
    raise InputError(
        f"{path}: root element <{root.tag}> is neither JUnit (<testsuites>/<testsuite>) nor "
        "Octane (<test_result>) XML"
    )


def read_inputs(files: Sequence[str], settings: Settings) -> list[TestRun]:
    """Every run of the given JUnit/Octane XML files, in order (``pytest-octane upload`` and
    the jobs page's upload form read their files with this)."""
    started = settings.started or int(time.time() * 1000)
    module = settings.module or ""
    return [
        run
        for path in files
        for run in read_results_file(Path(path), started_ms=started, module=module)
    ]
