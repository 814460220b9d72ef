"""Results files the CLI accepts: JUnit XML (converted) and Octane test-results XML.

Every number read (a duration, a start time) must be a possible one: finite, not negative,
inside the XSD's ``xs:long``. A file with an impossible one is refused in one line naming
the test case and the attribute, so the XML we write is always valid.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lxml import etree

from pytest_octane.errors import InputError
from pytest_octane.model import RunError, RunStatus, TestRun, cut_name
from pytest_octane.octane.schema import safe_parser
from pytest_octane.octane.xml_text import LONG_MAX, ms_of_seconds, parser_reason

if TYPE_CHECKING:
    from pytest_octane.settings import Settings

__all__ = [
    "parse_xml_file",
    "read_inputs",
    "read_junit",
    "read_octane",
    "read_results_file",
    "refuse_doctype",
]

_STATUSES = {status.value: status for status in RunStatus}


def _int_attr(value: str | None, where: str, name: str) -> int:
    if value is None:
        return 0
    try:
        number = int(value)
    except ValueError:
        raise InputError(f"{where}: {name}={value!r} is not a whole number") from None
    if not 0 <= number <= LONG_MAX:
        raise InputError(
            f"{where}: {name}={value!r} is not a possible value (a whole number of "
            f"milliseconds from 0 to {LONG_MAX}); fix or remove that attribute"
        )
    return number


def _named(path: Path, element: etree._Element) -> tuple[str, str]:
    """The element's name, and how messages name it (``file: testcase 'name' line N``)."""
    name = element.get("name")
    if not name:
        raise InputError(f"{path}: {element.tag} line {element.sourceline}: has no name attribute")
    return name, f"{path}: {element.tag} {name[:80]!r} line {element.sourceline}"


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
        name, where = _named(path, element)
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


# ---------------------------------------------------------------- reading input files


def parse_xml_file(path: Path) -> etree._ElementTree:
    """Parse without entity expansion, DTDs or network (XXE and billion-laughs safe)."""
    if not path.is_file():
        raise InputError(f"{path}: no such file; check the path")
    try:
        tree = etree.parse(str(path), safe_parser())
    except etree.XMLSyntaxError as exc:
        reason = parser_reason(str(exc.msg))
        truncated = _ends_early(path, exc, reason)
        if reason.lower().startswith("unregistered error message"):
            # libxml2's text for some errors at the end of the input: it says nothing
            reason = "the XML ends before its elements are closed"
        hint = (
            "is the file complete (was the run that wrote it interrupted)?"
            if truncated
            else "give a JUnit or Octane XML results file"
        )
        raise InputError(
            f"{path}: not well-formed XML at line {exc.lineno}: {reason}; {hint}"
        ) from None
    except OSError as exc:
        if "encoding" in str(exc).lower():
            raise InputError(
                f"{path}: has bytes that are not valid in its declared encoding; save it as "
                "UTF-8 (or fix the encoding in its <?xml ...?> declaration)"
            ) from None
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    docinfo: Any = tree.docinfo
    if docinfo.doctype:
        raise InputError(
            f"{path}: has a DOCTYPE declaration; results files with DTDs or entities are "
            "refused for safety — remove the DOCTYPE line"
        )
    return tree


#: libxml2's messages for input that stops in the middle (besides errors on the last line)
_EARLY_END = ("end of data", "not finished", "unregistered error message")


def _ends_early(path: Path, exc: etree.XMLSyntaxError, reason: str) -> bool:
    """Whether the parse failed because the file stops early (a truncated file)."""
    if any(words in reason.lower() for words in _EARLY_END):
        return True
    try:
        with open(path, "rb") as fh:
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
            fh.seek(-1, 2)
            lines += fh.read(1) != b"\n"
    except OSError:
        return False
    return exc.lineno is not None and exc.lineno >= lines


def _seconds_to_ms(raw: str | None, where: str) -> int:
    if not raw:
        return 0
    try:
        seconds = float(raw.replace(",", ""))
    except ValueError:
        raise InputError(f"{where}: time={raw!r} is not a number of seconds") from None
    ms = ms_of_seconds(seconds)
    if ms is None:
        raise InputError(
            f"{where}: time={raw!r} is not a possible duration (a finite number of seconds "
            f"from 0 to {LONG_MAX // 1000}); fix or remove that attribute"
        )
    return ms


#: ``status``/``result`` values that mean "not run" (gtest, CTest and others), for a
#: testcase without a <failure>, <error> or <skipped> child
_NOT_RUN = frozenset({"disabled", "notrun", "skipped", "suppressed"})


def _not_run(case: etree._Element) -> str | None:
    """Why a testcase was not run, read from its ``status``/``result`` attribute, or None."""
    said = [
        f'{attribute}="{value}"'
        for attribute in ("status", "result")
        if (value := (case.get(attribute) or "").strip()).lower() in _NOT_RUN
    ]
    return ", ".join(said) or None


def _timestamp_ms(raw: str | None) -> int | None:
    if not raw:
        return None
    try:
        stamp = dt.datetime.fromisoformat(raw)
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    return int(stamp.timestamp() * 1000)


def read_junit(path: Path, *, started_ms: int, module: str = "") -> list[TestRun]:
    """Convert a JUnit XML file the way octane-collection-tool does.

    ``classname`` splits into package (before the last dot) and class; ``time`` seconds
    become milliseconds; failure/error -> Failed with message and trace; skipped -> Skipped.
    """
    root = parse_xml_file(path).getroot()
    if root.tag not in ("testsuites", "testsuite"):
        raise InputError(
            f"{path}: root element <{root.tag}> is not JUnit's <testsuites> or <testsuite>"
        )
    runs: list[TestRun] = []
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    for suite in suites:
        suite_started = _timestamp_ms(suite.get("timestamp")) or started_ms
        offset = 0
        for case in suite.findall("testcase"):
            name, where = _named(path, case)
            classname = case.get("classname") or ""
            package, _, klass = classname.rpartition(".")
            duration = _seconds_to_ms(case.get("time"), where)
            status = RunStatus.PASSED
            error: RunError | None = None
            description = None
            not_run = _not_run(case)
            if not_run is not None:
                status, description = RunStatus.SKIPPED, f"not run ({not_run})"
            for child in case:
                if child.tag in ("failure", "error"):
                    status = RunStatus.FAILED
                    error = RunError(
                        type=child.get("type") or child.tag,
                        message=child.get("message") or "",
                        trace=child.text or "",
                    )
                    break
                if child.tag == "skipped":
                    status = RunStatus.SKIPPED
                    description = child.get("message") or child.text or None
            nodeid = f"{classname}::{name}" if classname else name
            runs.append(
                TestRun(
                    nodeid=nodeid,
                    module=module,
                    package=cut_name(package),
                    klass=cut_name(klass),
                    name=cut_name(name),
                    status=status,
                    duration_ms=duration,
                    started_ms=suite_started + offset,
                    error=error,
                    description=description,
                )
            )
            offset += duration
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
