"""Octane's test-results XML: a streaming writer (the readers are in ``inputs.py``).

The writer follows ``octaneResultSchema.xsd`` exactly (element order, enumerations, the
255-character limits) and streams with ``lxml.etree.xmlfile`` so 100,000 runs are never one
tree in memory.  Characters XML 1.0 forbids are replaced, never a crash.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from lxml import etree

from pytest_octane.model import TestRun
from pytest_octane.octane.gherkin_xml import gherkin_elements, plan_slices
from pytest_octane.octane.schema import safe_parser
from pytest_octane.octane.xml_text import (  # re-exported: the writer's header
    ResultHeader as ResultHeader,
)
from pytest_octane.octane.xml_text import (
    build_context_of as build_context_of,
)
from pytest_octane.octane.xml_text import clean, clean_limited, cut_trace, fit_long, run_link
from pytest_octane.octane.xml_text import (
    header_from_settings as header_from_settings,
)

__all__ = [
    "RefsFor",
    "RunRefs",
    "SliceFile",
    "run_element",
    "slice_path",
    "without_build",
    "write_document",
    "write_slices",
]

_MESSAGE_LIMIT = 4000


@dataclass(frozen=True, slots=True)
class RunRefs:
    """Octane ids one run links to beyond the document's: its stories and its module."""

    backlog_item_ids: tuple[int, ...] = ()
    product_area_ids: tuple[int, ...] = ()


RefsFor = Callable[[TestRun], RunRefs]


@dataclass(frozen=True, slots=True)
class SliceFile:
    """One written slice: its 1-based index, file and number of runs."""

    index: int
    path: Path
    run_count: int


def _refs_element(tag: str, child: str, ids: Iterable[int]) -> etree._Element:
    parent = etree.Element(tag)
    for ref in ids:
        etree.SubElement(parent, child, id=str(ref))
    return parent


def _release_element(release: int | str) -> etree._Element:
    if isinstance(release, int):
        return etree.Element("release_ref", id=str(release))
    return etree.Element("release", name=clean_limited(release))


def _header_elements(header: ResultHeader) -> Iterator[etree._Element]:
    if header.build is not None:
        yield etree.Element(
            "build", {k: clean_limited(v) for k, v in header.build.as_dict().items()}
        )
    if header.suite_id is not None:
        suite = etree.Element("suite_ref", id=str(header.suite_id))
        if header.external_run_id:
            suite.set("external_run_id", clean_limited(header.external_run_id))
        yield suite
    if header.program_id is not None:
        yield etree.Element("program_ref", id=str(header.program_id))
    if header.release is not None:
        yield _release_element(header.release)
    if header.milestone_id is not None:
        yield etree.Element("milestone_ref", id=str(header.milestone_id))
    if header.backlog_item_ids:
        yield _refs_element("backlog_items", "backlog_item_ref", header.backlog_item_ids)
    if header.product_area_ids:
        yield _refs_element("product_areas", "product_area_ref", header.product_area_ids)
    if header.test_fields:
        fields = etree.Element("test_fields")
        for kind, value in header.test_fields:
            etree.SubElement(fields, "test_field", type=kind, value=clean_limited(value))
        yield fields
    if header.taxonomies:
        env = etree.Element("environment")
        for kind, value in header.taxonomies:
            etree.SubElement(env, "taxonomy", type=clean_limited(kind), value=clean_limited(value))
        yield env


def run_element(
    run: TestRun, refs: RunRefs | None, max_trace: int, header: ResultHeader | None = None
) -> etree._Element:
    attrib = {}
    if run.module:
        attrib["module"] = clean_limited(run.module)
    if run.package:
        attrib["package"] = clean_limited(run.package)
    if run.klass:
        attrib["class"] = clean_limited(run.klass)
    attrib["name"] = clean_limited(run.name) or "unnamed"
    attrib["duration"] = str(fit_long(run.duration_ms))
    attrib["status"] = run.status.value
    attrib["started"] = str(fit_long(run.started_ms))
    if header is not None:
        link = run_link(header.report_url, header.build_url, run.nodeid, run.name)
        if link:
            attrib["external_report_url"] = link
    element = etree.Element("test_run", attrib)
    if refs is not None:
        if refs.backlog_item_ids:
            element.append(
                _refs_element("backlog_items", "backlog_item_ref", refs.backlog_item_ids)
            )
        if refs.product_area_ids:
            element.append(
                _refs_element("product_areas", "product_area_ref", refs.product_area_ids)
            )
    if run.error is not None:
        error = etree.SubElement(
            element,
            "error",
            type=clean(run.error.type)[:_MESSAGE_LIMIT],
            message=clean(run.error.message)[:_MESSAGE_LIMIT],
        )
        error.text = clean(cut_trace(run.error.trace, max_trace))
    if run.description:
        etree.SubElement(element, "description").text = clean(cut_trace(run.description, max_trace))
    return element


def write_document(
    target: IO[bytes] | str | Path,
    header: ResultHeader,
    runs: Iterable[TestRun],
    *,
    refs: RefsFor | None = None,
    max_trace: int = 20000,
) -> int:
    """Stream one ``<test_result>`` document; return the number of runs written.

    Runs that are pytest-bdd scenarios are written as one ``<gherkin_test_run>`` per feature
    (the slicing in gherkin_xml keeps them apart from plain runs, as the XSD requires).
    """
    iterator = iter(runs)
    first = next(iterator, None)
    count = 0
    elements: Iterable[etree._Element]
    if first is not None and first.gherkin is not None:
        scenarios = [first, *iterator]
        _one_kind(scenarios, gherkin=True)
        count = len(scenarios)
        elements = gherkin_elements(scenarios, max_trace)
    else:

        def plain() -> Iterator[etree._Element]:
            nonlocal count
            for run in itertools.chain([first] if first else [], iterator):
                _one_kind([run], gherkin=False)
                count += 1
                yield run_element(run, refs(run) if refs else None, max_trace, header)

        elements = plain()
    out: Any = str(target) if isinstance(target, Path) else target
    with etree.xmlfile(out, encoding="UTF-8") as xf:
        xf.write_declaration(standalone=True)
        with xf.element("test_result"):
            for element in _header_elements(header):
                xf.write(element)
            with xf.element("test_runs"):
                for element in elements:
                    xf.write(element)
    return count


def _one_kind(runs: Iterable[TestRun], *, gherkin: bool) -> None:
    if any((run.gherkin is not None) != gherkin for run in runs):
        raise ValueError("a slice holds either plain runs or pytest-bdd scenarios, not both")


def without_build(payload: bytes) -> tuple[bytes, str | None]:
    """The payload without its document-level ``<build>``, and that build's ``server_id``
    (None, and the payload unchanged, when it has none)."""
    root = etree.fromstring(payload, safe_parser())
    build = root.find("build")
    if build is None:
        return payload, None
    root.remove(build)
    out = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)
    return bytes(out), build.get("server_id") or ""


def slice_path(folder: Path, index: int) -> Path:
    return folder / f"slice-{index:04d}.xml"


def write_slices(
    folder: Path,
    header: ResultHeader,
    runs: Sequence[TestRun],
    *,
    slice_size: int,
    refs: RefsFor | None = None,
    max_trace: int = 20000,
    first_index: int = 1,
) -> list[SliceFile]:
    """Write ``slice-0001.xml``, ... (from ``first_index``) with at most ``slice_size`` runs
    each (none for no runs); see ``plan_slices`` for how pytest-bdd scenarios are sliced."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for index, chunk in enumerate(plan_slices(runs, slice_size), start=first_index):
        path = slice_path(folder, index)
        tmp = path.with_suffix(".xml.tmp")
        with open(tmp, "wb") as fh:
            count = write_document(fh, header, chunk, refs=refs, max_trace=max_trace)
        tmp.replace(path)
        written.append(SliceFile(index, path, count))
    return written
