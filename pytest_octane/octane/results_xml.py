"""Octane's test-results XML: a streaming writer (the readers are in ``inputs.py``).

The writer follows ``octaneResultSchema.xsd`` exactly (element order, enumerations, the
255-character limits).  Plain runs are written as text, a chunk of runs at a time, so
100,000 runs are never one document in memory and a dry run never imports lxml (issue 28);
pytest-bdd scenarios are built by gherkin_xml with lxml and serialised into the same text.
Characters XML 1.0 forbids are replaced, never a crash; what XML must escape is escaped the
way lxml does (character references for tab, newline and CR in attributes, for CR in text),
so a parser gives back exactly the values the runs held.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, NamedTuple, TypeVar

from pytest_octane.octane.xml_text import (
    LONG_MAX,
    CharClass,
    clean,
    cut_trace,
    fit_long,
    run_link,
)
from pytest_octane.octane.xml_text import (  # re-exported: the writer's header
    ResultHeader as ResultHeader,
)
from pytest_octane.octane.xml_text import (
    build_context_of as build_context_of,
)
from pytest_octane.octane.xml_text import (
    header_from_settings as header_from_settings,
)
from pytest_octane.reported import Reported, RunStatus, package_and_class, split_test_name

if TYPE_CHECKING:
    from pytest_octane.model import TestRun

__all__ = [
    "RefsFor",
    "RunRefs",
    "SliceFile",
    "reported_run_xml",
    "run_xml",
    "slice_path",
    "without_build",
    "write_document",
    "write_slices",
    "write_text_slices",
    "write_texts",
]

_Chunk = TypeVar("_Chunk")
_MESSAGE_LIMIT = 4000
_NAME_LIMIT = 255
#: runs joined into one string and written at once (bounds the memory of a long stream)
_CHUNK_RUNS = 500
#: each status's value (an enum member's ``.value`` is a slow property on Python 3.11)
_STATUS_TEXT = {status: status.value for status in RunStatus}
_DECLARATION = "<?xml version='1.0' encoding='UTF-8' standalone='yes'?>\n"

# Characters that need work: those XML 1.0 forbids (cleaned, see xml_text.clean) and those
# that must be escaped.  Most values hold none and are used as they are.
_ATTRIBUTE_WORK = CharClass('\x00-\x1f&<>"')
_TEXT_WORK = CharClass("\x00-\x08\x0b\x0c\x0e-\x1f&<>\r")


def _attribute(value: str, limit: int | None = _NAME_LIMIT) -> str:
    """``value`` cleaned, cut to ``limit`` characters and escaped for a double-quoted
    attribute (tab, newline and CR as character references, so they survive a parser's
    attribute-value normalisation)."""
    if not _ATTRIBUTE_WORK.found_in(value):
        return value[:limit]
    return (
        clean(value)[:limit]
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("\t", "&#9;")
        .replace("\n", "&#10;")
        .replace("\r", "&#13;")
    )


def _text(value: str) -> str:
    """``value`` cleaned and escaped for element content (CR as a character reference, which
    a parser would otherwise turn into a newline)."""
    if not _TEXT_WORK.found_in(value):
        return value
    return (
        clean(value)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\r", "&#13;")
    )


class RunRefs(NamedTuple):
    """Octane ids one run links to beyond the document's: its stories and its module."""

    backlog_item_ids: tuple[int, ...] = ()
    product_area_ids: tuple[int, ...] = ()


RefsFor = Callable[["TestRun"], "RunRefs"]


@dataclass(frozen=True, slots=True)
class SliceFile:
    """One written slice: its 1-based index, file and number of runs."""

    index: int
    path: Path
    run_count: int


def _refs_xml(tag: str, child: str, ids: Iterable[int]) -> str:
    refs = "".join(f'<{child} id="{ref}"/>' for ref in ids)
    return f"<{tag}>{refs}</{tag}>"


def _pairs_xml(tag: str, child: str, pairs: Iterable[tuple[str, str]]) -> str:
    items = "".join(
        f'<{child} type="{_attribute(kind)}" value="{_attribute(value)}"/>' for kind, value in pairs
    )
    return f"<{tag}>{items}</{tag}>"


def _header_xml(header: ResultHeader) -> str:
    parts = []
    if header.build is not None:
        attributes = "".join(
            f' {key}="{_attribute(value)}"' for key, value in header.build.as_dict().items()
        )
        parts.append(f"<build{attributes}/>")
    if header.suite_id is not None:
        external = (
            f' external_run_id="{_attribute(header.external_run_id)}"'
            if header.external_run_id
            else ""
        )
        parts.append(f'<suite_ref id="{header.suite_id}"{external}/>')
    if header.program_id is not None:
        parts.append(f'<program_ref id="{header.program_id}"/>')
    if isinstance(header.release, int):
        parts.append(f'<release_ref id="{header.release}"/>')
    elif header.release is not None:
        parts.append(f'<release name="{_attribute(header.release)}"/>')
    if header.milestone_id is not None:
        parts.append(f'<milestone_ref id="{header.milestone_id}"/>')
    if header.backlog_item_ids:
        parts.append(_refs_xml("backlog_items", "backlog_item_ref", header.backlog_item_ids))
    if header.product_area_ids:
        parts.append(_refs_xml("product_areas", "product_area_ref", header.product_area_ids))
    if header.test_fields:
        parts.append(_pairs_xml("test_fields", "test_field", header.test_fields))
    if header.taxonomies:
        parts.append(_pairs_xml("environment", "taxonomy", header.taxonomies))
    return "".join(parts)


def _run_start(
    module: str,
    package: str,
    klass: str,
    name: str,
    status: RunStatus,
    duration_ms: int,
    started_ms: int,
    link: str = "",
) -> str:
    """A ``<test_run`` start tag, open (its attributes in the XSD's order)."""
    name = _attribute(name) or "unnamed"
    if not 0 <= duration_ms <= LONG_MAX:
        duration_ms = fit_long(duration_ms)
    if not 0 <= started_ms <= LONG_MAX:
        started_ms = fit_long(started_ms)
    return (
        f'<test_run{_place_xml(module, package, klass)} name="{name}" duration="{duration_ms}"'
        f' status="{_STATUS_TEXT[status]}" started="{started_ms}"{link}'
    )


@functools.lru_cache(maxsize=1024)
def _place_xml(module: str, package: str, klass: str) -> str:
    """The module, package and class attributes (shared by a file's tests: made once)."""
    module = f' module="{_attribute(module)}"' if module else ""
    package = f' package="{_attribute(package)}"' if package else ""
    klass = f' class="{_attribute(klass)}"' if klass else ""
    return module + package + klass


def _description_xml(description: str, max_trace: int) -> str:
    return f"<description>{_text(cut_trace(description, max_trace))}</description>"


def run_xml(
    run: TestRun, refs: RunRefs | None, max_trace: int, header: ResultHeader | None = None
) -> str:
    """One ``<test_run>`` element as XML text."""
    link = ""
    if header is not None and (header.report_url or header.build_url):
        url = run_link(header.report_url, header.build_url, run.nodeid, run.name)
        if url:
            link = f' external_report_url="{_attribute(url, None)}"'
    start = _run_start(
        run.module,
        run.package,
        run.klass,
        run.name,
        run.status,
        run.duration_ms,
        run.started_ms,
        link,
    )
    children = []
    if refs is not None:
        if refs.backlog_item_ids:
            children.append(_refs_xml("backlog_items", "backlog_item_ref", refs.backlog_item_ids))
        if refs.product_area_ids:
            children.append(_refs_xml("product_areas", "product_area_ref", refs.product_area_ids))
    error = run.error
    if error is not None:
        type_ = _attribute(error.type, _MESSAGE_LIMIT)
        message = _attribute(error.message, _MESSAGE_LIMIT)
        trace = _text(cut_trace(error.trace, max_trace))
        children.append(f'<error type="{type_}" message="{message}">{trace}</error>')
    if run.description:
        children.append(_description_xml(run.description, max_trace))
    if not children:
        return start + "/>"
    return f"{start}>{''.join(children)}</test_run>"


def reported_run_xml(module: str, reported: Reported, max_trace: int) -> str:
    """What :func:`run_xml` writes for a plain result as its reports said it (no error,
    scenario, link or refs), its names derived here: a dry run writes most results this way,
    without making their runs (in half the steps of :func:`_run_start`, issue 28)."""
    nodeid, status, duration_ms, started_ms, description, _ = reported
    prefix, name = split_test_name(nodeid)
    if not (0 <= duration_ms <= LONG_MAX and 0 <= started_ms <= LONG_MAX):
        duration_ms, started_ms = fit_long(duration_ms), fit_long(started_ms)
    start = (
        f'{_place_of(module, prefix)} name="{_attribute(name) or "unnamed"}" '
        f'duration="{duration_ms}" status="{_STATUS_TEXT[status]}" started="{started_ms}"'
    )
    if not description:
        return start + "/>"
    return f"{start}>{_description_xml(description, max_trace)}</test_run>"


@functools.lru_cache(maxsize=1024)
def _place_of(module: str, prefix: str) -> str:
    """``<test_run`` with the module, package and class of the tests under ``prefix`` (a
    file and its classes, ``model.split_test_name``)."""
    return "<test_run" + _place_xml(module, *package_and_class(prefix))


def write_document(
    target: IO[bytes] | str | Path,
    header: ResultHeader,
    runs: Iterable[TestRun],
    *,
    refs: RefsFor | None = None,
    max_trace: int = 20000,
) -> int:
    """Stream one ``<test_result>`` document (UTF-8) to a binary file or a path; return the
    number of runs written.

    Runs that are pytest-bdd scenarios are written as one ``<gherkin_test_run>`` per feature
    (the slicing in gherkin_xml keeps them apart from plain runs, as the XSD requires).
    """
    if isinstance(target, str | Path):
        with open(target, "wb") as fh:
            return write_document(fh, header, runs, refs=refs, max_trace=max_trace)
    iterator = iter(runs)
    first = next(iterator, None)
    count = 0
    texts: Iterable[str]
    if first is not None and first.gherkin is not None:
        scenarios = [first, *iterator]
        _one_kind(scenarios, gherkin=True)
        count = len(scenarios)
        from pytest_octane.octane.gherkin_xml import gherkin_run_texts

        texts = gherkin_run_texts(scenarios, max_trace)
    else:

        def plain() -> Iterator[str]:
            nonlocal count
            for run in iterator if first is None else itertools.chain((first,), iterator):
                if run.gherkin is not None:
                    _one_kind([run], gherkin=False)
                count += 1
                yield run_xml(run, refs(run) if refs else None, max_trace, header)

        texts = plain()
    write_texts(target, header, texts)
    return count


def write_texts(target: IO[bytes], header: ResultHeader, texts: Iterable[str]) -> None:
    """One ``<test_result>`` document of these run elements (``run_xml`` or
    ``reported_run_xml`` texts), UTF-8, written a chunk of runs at a time."""
    parts = [_DECLARATION, "<test_result>", _header_xml(header), "<test_runs>"]
    for text in texts:
        parts.append(text)
        if len(parts) >= _CHUNK_RUNS:
            target.write("".join(parts).encode("utf-8"))
            parts.clear()
    parts.append("</test_runs></test_result>")
    target.write("".join(parts).encode("utf-8"))


def _one_kind(runs: Iterable[TestRun], *, gherkin: bool) -> None:
    if any((run.gherkin is not None) != gherkin for run in runs):
        raise ValueError("a slice holds either plain runs or pytest-bdd scenarios, not both")


def without_build(payload: bytes) -> tuple[bytes, str | None]:
    """The payload without its document-level ``<build>``, and that build's ``server_id``
    (None, and the payload unchanged, when it has none)."""
    if payload[:1] == b"<" and payload[1:2] != b"\x00" and b"<build" not in payload:
        # an ASCII-compatible document (as every writer here makes) with no such tag: not
        # parsed (a slice's payload took ~8 ms to parse at each send, issue 28)
        return payload, None
    from lxml import etree

    from pytest_octane.octane.schema import safe_parser

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
    from pytest_octane.octane.gherkin_xml import plan_slices  # not for a dry run's texts

    slices = plan_slices(runs, slice_size)
    return _write_files(
        folder,
        slices,
        lambda fh, chunk: write_document(fh, header, chunk, refs=refs, max_trace=max_trace),
        first_index,
    )


def write_text_slices(
    folder: Path, header: ResultHeader, texts: Sequence[str], *, slice_size: int
) -> list[SliceFile]:
    """:func:`write_slices` for plain runs given as their elements (``reported_run_xml``)."""
    slices = [texts[start : start + slice_size] for start in range(0, len(texts), slice_size)]

    def write(fh: IO[bytes], chunk: Sequence[str]) -> int:
        write_texts(fh, header, chunk)
        return len(chunk)

    return _write_files(folder, slices, write, 1)


def _write_files(
    folder: Path,
    slices: Sequence[_Chunk],
    write: Callable[[IO[bytes], _Chunk], int],
    first_index: int,
) -> list[SliceFile]:
    """Each slice to its file, whole or not at all (a temporary file renamed)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for index, chunk in enumerate(slices, start=first_index):
        path = slice_path(folder, index)
        tmp = path.with_suffix(".xml.tmp")
        with open(tmp, "wb") as fh:
            count = write(fh, chunk)
        tmp.replace(path)
        written.append(SliceFile(index, path, count))
    return written
