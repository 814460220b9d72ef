"""Validation of Octane ``test_result`` XML, for the simulator and for tests.

Two layers: our own structural checks, written from ``octaneResultSchema.xsd`` so they work in
a fresh clone, and -- when the real XSD can be found -- lxml's XML Schema validation on top.
Both kinds of ``<test_runs>`` are checked: ``<test_run>`` elements and (pytest-bdd
scenarios, see gherkin_xml.py) ``<gherkin_test_run>`` elements, never mixed.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from lxml import etree

from pytest_octane.errors import InputError

__all__ = ["XSD_MISSING", "assert_valid", "find_xsd", "parse", "validate"]

_XSD_ENV = "OCTANE_XSD"
_XSD_BESIDE_REPO = Path("shared") / "octane" / "octaneResultSchema.xsd"
#: Why XSD checks are skipped, and where to get the file (a skip reason must say how to un-skip).
XSD_MISSING = (
    "octaneResultSchema.xsd not found: download it from your Octane (signed in: GET "
    "/api/shared_spaces/<space>/workspaces/<workspace>/test-results/xsd) and set "
    "OCTANE_XSD=/path/to/octaneResultSchema.xsd, or put it in ../shared/octane/ beside the "
    "repository"
)
_XSI = "{http://www.w3.org/2001/XMLSchema-instance}"
_XSI_ALLOWED = {f"{_XSI}noNamespaceSchemaLocation", f"{_XSI}schemaLocation"}
_MAX_PROBLEMS = 200
_LONG_MIN = -(2**63)
_LONG_MAX = 2**63 - 1
_URL = re.compile(
    r"([hH][tT]{2}[pP][sS]?://*[^\n\r]*)|([tT][dD][sS]?://*[^\n\r]*)|(testdirector[s]?:*[^\n\r]*)"
)
_STATUSES = ("Passed", "Skipped", "Failed", "Planned")
_FIELD_TYPES = ("Test_Level", "Test_Type", "Testing_Tool_Type", "Framework")


# ---------------------------------------------------------------- attribute types


def _check_length(low: int, high: int) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if not low <= len(value) <= high:
            return f"must be {low} to {high} characters long, got {len(value)}"
        return None

    return check


def _check_long(value: str) -> str | None:
    text = value.strip()
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        return "must be an integer (xs:long)"
    if not _LONG_MIN <= int(text) <= _LONG_MAX:
        return "is out of the xs:long range"
    return None


def _check_boolean(value: str) -> str | None:
    if value.strip() not in ("true", "false", "1", "0"):
        return "must be true, false, 1 or 0"
    return None


def _check_enum(allowed: Sequence[str]) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if value not in allowed:
            return f"must be one of {', '.join(allowed)}"
        return None

    return check


def _check_url(value: str) -> str | None:
    problem = _check_length(6, 512)(value)
    if problem:
        return problem
    if not _URL.fullmatch(value):
        return "must start with http(s)://, td(s):// or testdirector(s):"
    return None


def _any_string(value: str) -> str | None:
    return None


_S255 = _check_length(1, 255)
_S0_255 = _check_length(0, 255)
_S3800 = _check_length(1, 3800)


# ---------------------------------------------------------------- element specs


@dataclass(frozen=True, slots=True)
class _Slot:
    """One particle of an xs:sequence: one of ``names``, between ``low`` and ``high`` times."""

    names: tuple[str, ...]
    low: int = 0
    high: int | None = 1


@dataclass(frozen=True, slots=True)
class _Spec:
    """What one element may carry: attributes (check, required), child sequence, text."""

    attrs: dict[str, tuple[Callable[[str], str | None], bool]] = field(default_factory=dict)
    children: tuple[_Slot, ...] = ()
    text: bool = False  # mixed or simple content: character data allowed


_REF = _Spec(attrs={"id": (_check_long, True)})
_CONTEXT = (
    _Slot(("suite_ref",)),
    _Slot(("program_ref",)),
    _Slot(("release_ref", "release")),
    _Slot(("milestone_ref",)),
    _Slot(("backlog_items",)),
    _Slot(("product_areas",)),
    _Slot(("test_fields",)),
    _Slot(("environment",)),
)
_SPECS: dict[str, _Spec] = {
    "test_result": _Spec(
        children=(_Slot(("build",)), *_CONTEXT, _Slot(("test_runs",), 1, 1)),
    ),
    "test_runs": _Spec(),
    "build": _Spec(
        attrs={
            "server_id": (_S255, True),
            "job_id": (_S255, True),
            "job_name": (_S255, False),
            "build_id": (_S255, True),
            "build_name": (_S255, False),
            "sub_type": (_S0_255, False),
            "artifact_id": (_S0_255, False),
        }
    ),
    "suite_ref": _Spec(
        attrs={
            "id": (_check_long, True),
            "external_run_id": (_S0_255, False),
            "component": (_S0_255, False),
        }
    ),
    "program_ref": _REF,
    "release_ref": _REF,
    "milestone_ref": _REF,
    "backlog_item_ref": _REF,
    "product_area_ref": _REF,
    "release": _Spec(attrs={"name": (_S255, True)}),
    "backlog_items": _Spec(children=(_Slot(("backlog_item_ref",), 0, None),)),
    "product_areas": _Spec(children=(_Slot(("product_area_ref",), 0, None),)),
    "test_fields": _Spec(children=(_Slot(("test_field",), 0, None),)),
    "test_field": _Spec(attrs={"type": (_check_enum(_FIELD_TYPES), True), "value": (_S255, True)}),
    "environment": _Spec(children=(_Slot(("taxonomy",), 0, None),)),
    "taxonomy": _Spec(attrs={"type": (_S255, True), "value": (_S255, True)}),
    "test_run": _Spec(
        attrs={
            "module": (_S0_255, False),
            "package": (_S0_255, False),
            "class": (_S0_255, False),
            "name": (_S255, True),
            "run_name": (_S255, False),
            "duration": (_check_long, True),
            "status": (_check_enum(_STATUSES), True),
            "manual": (_check_boolean, False),
            "started": (_check_long, False),
            "external_report_url": (_check_url, False),
            "external_assets": (_any_string, False),
            "external_test_id": (_S0_255, False),
            "external_run_id": (_S0_255, False),
            "run_type": (_S0_255, False),
        },
        children=(
            *_CONTEXT,
            _Slot(("error",)),
            _Slot(("description",)),
            _Slot(("steps",), 0, None),
        ),
    ),
    "error": _Spec(
        attrs={"type": (_any_string, False), "message": (_any_string, False)}, text=True
    ),
    "description": _Spec(text=True),
    "steps": _Spec(attrs={"iteration": (_S255, False)}, children=(_Slot(("step",), 0, None),)),
    "step": _Spec(
        attrs={
            "name": (_S3800, True),
            "duration": (_check_long, True),
            "status": (_S255, True),
            "external_step_id": (_S255, False),
        },
        children=(
            _Slot(("error_message",)),
            _Slot(("input_parameters",)),
            _Slot(("output_parameters",)),
        ),
    ),
    "error_message": _Spec(text=True),
    "gherkin_test_run": _Spec(
        attrs={
            "name": (_S0_255, True),
            "duration": (_check_long, True),
            "status": (_check_enum(_STATUSES), True),
            "external_run_id": (_S0_255, False),
        },
        children=(_Slot(("feature",), 1, 1),),
    ),
    "feature": _Spec(
        attrs={
            "name": (_S0_255, True),
            "path": (_S255, True),
            "identifier": (_S0_255, False),
            "tag": (_S0_255, True),
            "started": (_check_long, True),
        },
        children=(_Slot(("file",), 1, 1), _Slot(("scenarios",))),
    ),
    "file": _Spec(text=True),  # xs:anyType: any content (checked no further)
    "scenarios": _Spec(children=(_Slot(("background",)), _Slot(("scenario",), 0, None))),
    "background": _Spec(children=(_Slot(("steps",)),)),
    "background/steps": _Spec(children=(_Slot(("step",), 0, None),)),
    "background/step": _Spec(
        attrs={
            "name": (_S3800, True),
            "duration": (_check_long, False),
            "status": (_S255, False),
        },
        children=(_Slot(("error_message",)),),
    ),
    "scenario": _Spec(
        attrs={
            "name": (_check_length(0, 3800), True),
            "outlineIndex": (_check_long, False),
            "status": (_check_enum(_STATUSES), True),
        },
        children=(_Slot(("steps",), 1, 1),),
    ),
    "input_parameters": _Spec(children=(_Slot(("parameter",), 1, None),)),
    "output_parameters": _Spec(children=(_Slot(("parameter",), 1, None),)),
    "parameter": _Spec(
        attrs={"name": (_S255, True), "value": (_S0_255, False), "type": (_S0_255, False)}
    ),
}


def _spec_for(element: etree._Element, tag: str) -> _Spec:
    """Background steps are their own XSD types (duration and status optional)."""
    if tag in ("steps", "step"):
        parent = element.getparent()
        owner = parent if tag == "steps" else (parent.getparent() if parent is not None else None)
        if owner is not None and owner.tag == "background":
            return _SPECS[f"background/{tag}"]
    return _SPECS[tag]


# ---------------------------------------------------------------- structural check


class _Checker:
    """Walks the tree once and collects problems with their element paths."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, where: str, element: etree._Element, message: str) -> None:
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(f"{where} (line {element.sourceline}): {message}")

    def check_root(self, root: etree._Element) -> None:
        if root.tag != "test_result":
            self.add(str(root.tag), root, "root element must be <test_result> (no namespace)")
            return
        self.check_element(root, "test_result", _SPECS["test_result"])

    def check_element(self, element: etree._Element, where: str, spec: _Spec) -> None:
        self.check_attributes(element, where, spec)
        children = [c for c in element if isinstance(c.tag, str)]
        if not spec.text:
            self.check_no_text(element, where)
        if element.tag == "test_runs":
            self.check_test_runs(element, where, children)
            return
        if element.tag == "file":
            return  # xs:anyType
        self.check_sequence(element, where, spec.children, children)

    def check_attributes(self, element: etree._Element, where: str, spec: _Spec) -> None:
        for name, value in element.attrib.items():
            key = str(name)
            if key in spec.attrs:
                problem = spec.attrs[key][0](str(value))
                if problem:
                    shown = str(value) if len(str(value)) <= 60 else f"{str(value)[:57]}..."
                    self.add(where, element, f"attribute {key}={shown!r} {problem}")
            elif key not in _XSI_ALLOWED:
                self.add(where, element, f"unknown attribute {key!r}")
        for name, (_, required) in spec.attrs.items():
            if required and name not in element.attrib:
                self.add(where, element, f"required attribute {name!r} is missing")

    def check_no_text(self, element: etree._Element, where: str) -> None:
        texts = [element.text, *(child.tail for child in element)]
        if any(t is not None and t.strip() for t in texts):
            self.add(where, element, "text is not allowed inside this element")

    def check_sequence(
        self,
        element: etree._Element,
        where: str,
        slots: tuple[_Slot, ...],
        children: list[etree._Element],
    ) -> None:
        index = 0
        count = 0
        seen: dict[str, int] = {}
        for child in children:
            tag = str(child.tag)
            seen[tag] = seen.get(tag, 0) + 1
            child_where = f"{where}/{tag}[{seen[tag]}]"
            position = index
            used = count
            while position < len(slots):
                slot = slots[position]
                if tag in slot.names and (slot.high is None or used < slot.high):
                    break
                position += 1
                used = 0
            if position == len(slots):
                self.add(child_where, child, self.misplaced(tag, slots, index))
                continue
            for skipped in range(index, position):
                if (count if skipped == index else 0) < slots[skipped].low:
                    names = "|".join(slots[skipped].names)
                    self.add(where, element, f"required element <{names}> is missing")
            index, count = position, used + 1
            self.check_element(child, child_where, _spec_for(child, tag))
        for position in range(index, len(slots)):
            have = count if position == index else 0
            if have < slots[position].low:
                names = "|".join(slots[position].names)
                self.add(where, element, f"required element <{names}> is missing")

    @staticmethod
    def misplaced(tag: str, slots: tuple[_Slot, ...], index: int) -> str:
        known = [s for s in slots if tag in s.names]
        if not known:
            allowed = ", ".join("|".join(s.names) for s in slots) or "no child elements"
            return f"unknown element <{tag}> here (allowed, in this order: {allowed})"
        slot = known[0]
        if slots.index(slot) < index:
            later = "|".join(slots[index].names) if index < len(slots) else "the end"
            return f"element <{tag}> is out of order (it must come before <{later}>)"
        return f"element <{tag}> appears more often than allowed ({slot.high})"

    def check_test_runs(
        self, element: etree._Element, where: str, children: list[etree._Element]
    ) -> None:
        tags = {str(c.tag) for c in children}
        if "test_run" in tags and "gherkin_test_run" in tags:
            self.add(where, element, "<test_run> and <gherkin_test_run> cannot be mixed")
        numbers: dict[str, int] = {}
        for child in children:
            tag = str(child.tag)
            if tag in ("test_run", "gherkin_test_run"):
                numbers[tag] = numbers.get(tag, 0) + 1
                self.check_element(child, f"{where}/{tag}[{numbers[tag]}]", _SPECS[tag])
            else:
                self.add(
                    f"{where}/{tag}",
                    child,
                    f"unknown element <{tag}> (only <test_run> or <gherkin_test_run> elements "
                    "are allowed here)",
                )


# ---------------------------------------------------------------- parsing and the XSD


def safe_parser() -> etree.XMLParser:
    """A hardened parser: no entities, DTDs or network.

    A new parser per call: lxml parsers must not be shared between threads.
    """
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
    )


def parse(xml: bytes) -> etree._Element:
    """Parse untrusted XML safely (no entities, no network, no DOCTYPE); return the root."""
    if not xml.strip():
        raise InputError("the XML document is empty")
    try:
        root = etree.fromstring(xml, parser=safe_parser())
    except etree.XMLSyntaxError as exc:
        raise InputError(f"not well-formed XML: {exc}") from None
    # lxml-stubs lack DocInfo.doctype; it is "" when the document has no DOCTYPE.
    if getattr(root.getroottree().docinfo, "doctype", ""):
        raise InputError("a DOCTYPE is not allowed in Octane test results; remove it")
    return root


def find_xsd() -> Path | None:
    """Locate Octane's XSD: ``$OCTANE_XSD``, else ``../shared/octane/`` beside the repository."""
    configured = os.environ.get(_XSD_ENV, "").strip()
    if configured:
        return Path(configured)
    candidate = Path(__file__).resolve().parents[3] / _XSD_BESIDE_REPO
    return candidate if candidate.is_file() else None


_schema_lock = threading.Lock()
_schema_cache: dict[tuple[str, float], etree.XMLSchema] = {}


def _load_schema(path: Path) -> etree.XMLSchema:
    stamp = (str(path.resolve()), path.stat().st_mtime)
    cached = _schema_cache.get(stamp)
    if cached is None:
        document = etree.parse(str(path), parser=safe_parser())
        cached = etree.XMLSchema(document)
        _schema_cache.clear()
        _schema_cache[stamp] = cached
    return cached


def _xsd_problems(root: etree._Element, path: Path) -> list[str]:
    # XMLSchema objects keep an error log per call: serialise their use.
    with _schema_lock:
        try:
            schema = _load_schema(path)
        except (OSError, etree.XMLSchemaParseError, etree.XMLSyntaxError) as exc:
            return [f"XSD {path}: cannot be loaded ({exc}); fix or unset ${_XSD_ENV}"]
        if schema.validate(root.getroottree()):
            return []
        entries = cast("Iterable[Any]", schema.error_log)  # lxml-stubs: _ErrorLog is opaque
        return [f"XSD line {e.line}: {e.message}" for e in entries][:_MAX_PROBLEMS]


def validate(xml: bytes) -> list[str]:
    """Return every problem found in an Octane test_result document (empty list = valid)."""
    try:
        root = parse(xml)
    except InputError as exc:
        return [str(exc)]
    checker = _Checker()
    checker.check_root(root)
    problems = checker.problems
    if len(problems) >= _MAX_PROBLEMS:
        problems.append(f"... stopped after {_MAX_PROBLEMS} problems")
    xsd = find_xsd()
    if xsd is not None:
        problems.extend(_xsd_problems(root, xsd))
    return problems


def assert_valid(xml: bytes) -> None:
    """Raise AssertionError listing every problem if ``xml`` is not a valid test_result."""
    __tracebackhide__ = True
    problems = validate(xml)
    if problems:
        listing = "\n".join(f"  - {p}" for p in problems)
        raise AssertionError(
            f"invalid Octane test_result XML ({len(problems)} problems):\n{listing}"
        )
