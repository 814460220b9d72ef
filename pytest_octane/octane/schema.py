"""Validation of Octane ``test_result`` XML, for the simulator and for tests.

Two layers: our own structural checks, written from ``octaneResultSchema.xsd`` so they work in
a fresh clone, and -- when the real XSD can be found -- lxml's XML Schema validation, which
then decides (our checks only explain what it refused).
Both kinds of ``<test_runs>`` are checked: ``<test_run>`` elements and (pytest-bdd
scenarios, see gherkin_xml.py) ``<gherkin_test_run>`` elements, never mixed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

from lxml import etree

from pytest_octane.errors import InputError
from pytest_octane.octane.xsd_spec import SPECS, XSI_ALLOWED, Slot, Spec, spec_for

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
_MAX_PROBLEMS = 200


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
        self.check_element(root, "test_result", SPECS["test_result"])

    def check_element(self, element: etree._Element, where: str, spec: Spec) -> None:
        self.check_attributes(element, where, spec)
        every = list(element)  # comments and processing instructions too (their tails count)
        children = [c for c in every if isinstance(c.tag, str)] if every else every
        if not spec.text:
            self.check_no_text(element, where, every)
        if element.tag == "test_runs":
            self.check_test_runs(element, where, children)
            return
        if element.tag == "file":
            return  # xs:anyType
        if children or spec.needs_children:
            self.check_sequence(element, where, spec, children)

    def check_attributes(self, element: etree._Element, where: str, spec: Spec) -> None:
        # element.items() and element.get(): each read of element.attrib makes a new proxy,
        # which made this the checker's hot spot (a slice has a thousand runs)
        attrs = spec.attrs
        # lxml gives str names and values (the stubs say str or bytes)
        for key, value in cast("list[tuple[str, str]]", element.items()):
            entry = attrs.get(key)
            if entry is not None:
                problem = entry[0](value)
                if problem:
                    shown = value if len(value) <= 60 else f"{value[:57]}..."
                    self.add(where, element, f"attribute {key}={shown!r} {problem}")
            elif key not in XSI_ALLOWED:
                self.add(where, element, f"unknown attribute {key!r}")
        for name in spec.required:
            if element.get(name) is None:
                self.add(where, element, f"required attribute {name!r} is missing")

    def check_no_text(
        self, element: etree._Element, where: str, every: list[etree._Element]
    ) -> None:
        text = element.text
        if (text is not None and text.strip()) or any(
            tail is not None and tail.strip() for tail in (child.tail for child in every)
        ):
            self.add(where, element, "text is not allowed inside this element")

    def check_sequence(
        self,
        element: etree._Element,
        where: str,
        spec: Spec,
        children: list[etree._Element],
    ) -> None:
        """The children against the xs:sequence of ``spec``: each child tag has one slot
        (``Spec.slot_of``), so a child either fits the slot it names or is misplaced."""
        slots, slot_of = spec.children, spec.slot_of
        index = 0
        count = 0
        seen: dict[str, int] = {}
        for child in children:
            tag = str(child.tag)
            seen[tag] = seen.get(tag, 0) + 1
            child_where = f"{where}/{tag}[{seen[tag]}]"
            position = slot_of.get(tag, -1)
            if position < index:  # unknown, or its slot is behind: out of order
                self.add(child_where, child, self.misplaced(tag, slots, index))
                continue
            used = count if position == index else 0
            high = slots[position].high
            if high is not None and used >= high:
                self.add(child_where, child, self.misplaced(tag, slots, index))
                continue
            if spec.needs_children:
                for skipped in range(index, position):
                    if (count if skipped == index else 0) < slots[skipped].low:
                        names = "|".join(slots[skipped].names)
                        self.add(where, element, f"required element <{names}> is missing")
            index, count = position, used + 1
            self.check_element(child, child_where, spec_for(child, tag))
        if spec.needs_children:
            for position in range(index, len(slots)):
                have = count if position == index else 0
                if have < slots[position].low:
                    names = "|".join(slots[position].names)
                    self.add(where, element, f"required element <{names}> is missing")

    @staticmethod
    def misplaced(tag: str, slots: tuple[Slot, ...], index: int) -> str:
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
                self.check_element(child, f"{where}/{tag}[{numbers[tag]}]", SPECS[tag])
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
    """Return every problem found in an Octane test_result document (empty list = valid).

    With the real XSD, a document it accepts is valid: lxml checks it in a tenth of our
    checker's time (a slice of 1,000 runs: 5 against 54 ms, CPU the simulator took from the
    tests it runs beside, issue 28).  Our checker then only explains what the XSD refused,
    its findings first; without the XSD it is the whole check.
    """
    try:
        root = parse(xml)
    except InputError as exc:
        return [str(exc)]
    xsd = find_xsd()
    xsd_problems = _xsd_problems(root, xsd) if xsd is not None else []
    if xsd is not None and not xsd_problems:
        return []
    checker = _Checker()
    checker.check_root(root)
    problems = checker.problems
    if len(problems) >= _MAX_PROBLEMS:
        problems.append(f"... stopped after {_MAX_PROBLEMS} problems")
    return problems + xsd_problems


def assert_valid(xml: bytes) -> None:
    """Raise AssertionError listing every problem if ``xml`` is not a valid test_result."""
    __tracebackhide__ = True
    problems = validate(xml)
    if problems:
        listing = "\n".join(f"  - {p}" for p in problems)
        raise AssertionError(
            f"invalid Octane test_result XML ({len(problems)} problems):\n{listing}"
        )
