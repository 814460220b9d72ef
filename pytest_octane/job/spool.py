"""The job's spool on disk: results written before the first request, so nothing is lost.

Each slice is kept as ``slice-NNNN.xml`` (valid Octane XML without story or module ids, which
need the network) plus ``slice-NNNN.keys.json`` (the JIRA keys of each run, in order).  Just
before a slice is sent, :func:`upload_payload` adds the ids that were looked up.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lxml import etree

from pytest_octane.errors import InputError, StoreError
from pytest_octane.job.evidence.files import write_slice_files
from pytest_octane.job.journal import slice_ends
from pytest_octane.model import (
    MAX_FAILURE_MESSAGE,
    MAX_FAILURES_KEPT,
    FailedTest,
    RunStatus,
    SliceRecord,
    TestRun,
)
from pytest_octane.model import SpooledRun as SpooledRun  # re-exported (it moved, issue 28)
from pytest_octane.octane.gherkin_xml import feature_keys, features_of, plan_slices
from pytest_octane.octane.results_xml import (
    ResultHeader,
    RunRefs,
    SliceFile,
    write_slices,
)
from pytest_octane.octane.schema import safe_parser
from pytest_octane.octane.xml_text import parser_reason

__all__ = [
    "JOURNAL_KEY",
    "SpooledRun",
    "cut_slices",
    "keys_path",
    "read_keys",
    "read_spooled_runs",
    "slice_outcomes",
    "slice_records",
    "spool_records",
    "upload_payload",
    "write_spool",
]

#: the job setting that names the job's journal (see job/journal.py)
JOURNAL_KEY = "journal"

#: Per-run children that come before ``backlog_items`` in the XSD's sequence.
_BEFORE_REFS = {"suite_ref", "program_ref", "release_ref", "release", "milestone_ref"}
_REFS_AND_BEFORE = _BEFORE_REFS | {"backlog_items", "product_areas"}


def keys_path(slice_path: Path) -> Path:
    return slice_path.with_name(slice_path.stem + ".keys.json")


def write_spool(
    folder: Path,
    header: ResultHeader,
    runs: Sequence[TestRun],
    *,
    slice_size: int,
    max_trace: int,
    first_index: int = 1,
) -> list[SliceFile]:
    """Write the slices and their JIRA-key sidecars (one entry per ``test_run`` or
    ``gherkin_test_run`` element, in order); return the slice files."""
    files = write_slices(
        folder, header, runs, slice_size=slice_size, max_trace=max_trace, first_index=first_index
    )
    for file, chunk in zip(files, plan_slices(runs, slice_size), strict=True):
        if any(run.gherkin is not None for run in chunk):
            keys = [list(feature_keys(feature)) for feature in features_of(chunk)]
        else:
            keys = [list(run.jira_keys) for run in chunk]
        keys_path(file.path).write_text(json.dumps(keys), encoding="utf-8")
        write_slice_files(file.path, chunk)  # issue 23: the files attached to its runs
    return files


def spool_records(
    folder: Path,
    runs: Sequence[TestRun],
    header: ResultHeader,
    *,
    slice_size: int,
    max_trace: int,
    first_index: int = 1,
) -> list[SliceRecord]:
    """Write ``runs`` as slices under ``folder`` (before any request) and their store records."""
    try:
        files = write_spool(
            folder,
            header,
            runs,
            slice_size=slice_size,
            max_trace=max_trace,
            first_index=first_index,
        )
    except OSError as exc:
        raise StoreError(
            f"cannot write the spool folder {str(folder)!r} ({exc.strerror or exc}); "
            "set --octane-spool-dir to a writable folder"
        ) from None
    return slice_records(files, runs, slice_size, time.time())


def slice_records(
    files: Sequence[SliceFile], runs: Sequence[TestRun], slice_size: int, now: float
) -> list[SliceRecord]:
    """The store's records of the slices ``write_spool`` wrote (``files``) of ``runs``."""
    return [
        SliceRecord(
            index=f.index,
            path=str(f.path.resolve()),
            run_count=f.run_count,
            created_at=now,
            updated_at=now,
            **outcome,
        )
        for f, outcome in zip(files, slice_outcomes(runs, slice_size), strict=True)
    ]


def slice_outcomes(runs: Sequence[TestRun], slice_size: int) -> list[dict[str, Any]]:
    """Per spooled slice (in ``write_spool``'s order): its runs by outcome and its failed
    runs with their messages, as ``SliceRecord`` fields, so the jobs page needs no XML."""
    result: list[dict[str, Any]] = []
    for chunk in plan_slices(runs, slice_size):
        by_status = {status: 0 for status in RunStatus}
        failures: list[FailedTest] = []
        for run in chunk:
            by_status[run.status] += 1
            if run.status is RunStatus.FAILED and len(failures) < MAX_FAILURES_KEPT:
                error = run.error
                failures.append(
                    FailedTest(
                        name=run.nodeid
                        or ".".join(p for p in (run.package, run.klass, run.name) if p),
                        message=(error.message if error else "")[:MAX_FAILURE_MESSAGE],
                        error_type=error.type if error else "",
                    )
                )
        result.append(
            {
                "runs_passed": by_status[RunStatus.PASSED],
                "runs_failed": by_status[RunStatus.FAILED],
                "runs_skipped": by_status[RunStatus.SKIPPED],
                "failures": tuple(failures),
            }
        )
    return result


def read_spooled_runs(slice_path: Path) -> list[SpooledRun]:
    """Identity and JIRA keys of every run of a spooled slice, in document order."""
    runs = _run_elements(_parse(slice_path))
    keys = read_keys(slice_path, len(runs))
    return [
        SpooledRun(
            package=run.get("package") or "",
            klass=run.get("class") or "",
            jira_keys=keys[i],
        )
        for i, run in enumerate(runs)
    ]


def read_keys(slice_path: Path, run_count: int) -> list[tuple[str, ...]]:
    """The JIRA keys of each of the slice's ``run_count`` runs, from its sidecar.

    The keys are nowhere else (the XML has no story ids before the upload), so a missing or
    damaged sidecar is an error naming it: sending the slice anyway would silently drop the
    runs' story links.
    """
    sidecar = keys_path(slice_path)
    fix = f"restore it (one list of JIRA keys per run of {slice_path.name}) or re-run the tests"
    try:
        keys = json.loads(sidecar.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"the JIRA keys file {sidecar} is missing: {fix}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else f"not JSON: {exc}"
        raise InputError(f"the JIRA keys file {sidecar} cannot be read ({reason}): {fix}") from None
    if not isinstance(keys, list) or not all(
        isinstance(run, list) and all(isinstance(key, str) for key in run) for run in keys
    ):
        raise InputError(f"the JIRA keys file {sidecar} is not a list of key lists: {fix}")
    if len(keys) != run_count:
        raise InputError(
            f"the JIRA keys file {sidecar} has {len(keys)} entries for {run_count} runs: {fix}"
        )
    return [tuple(run) for run in keys]


def upload_payload(slice_path: Path, refs: Sequence[RunRefs], *, attempt: int = 1) -> bytes:
    """The bytes to POST: the spooled slice with each run's story and module ids added.

    Octane answers an identical payload with the original task (``fromOlderPush``), even
    when that task failed; a comment naming the attempt makes a re-upload a new payload
    without changing what it means.
    """
    root = _parse(slice_path)
    runs = _run_elements(root)
    if len(runs) != len(refs):
        raise InputError(f"{slice_path}: {len(runs)} runs but {len(refs)} reference sets")
    if runs and runs[0].tag == "gherkin_test_run":
        _link_document(root, sorted({i for ref in refs for i in ref.backlog_item_ids}))
        runs, refs = [], []
    made: dict[RunRefs, list[etree._Element]] = {}  # one set of elements per distinct refs
    for run, ref in zip(runs, refs, strict=True):
        if not (ref.backlog_item_ids or ref.product_area_ids):
            continue
        if not any(child.tag in _REFS_AND_BEFORE for child in run):
            # the spool's own slices: nothing to merge with, so the run gets copies of the
            # elements made once for its refs (a run's own lookups took 20 ms a slice); lxml's
            # copy is deep already, without deepcopy's memo (17 against 7 ms a slice)
            elements = made.get(ref)
            if elements is None:
                elements = made[ref] = _ref_elements(ref)
            for position, element in enumerate(elements):
                run.insert(position, copy.copy(element))
            continue
        position = sum(1 for child in run if child.tag in _BEFORE_REFS)
        for tag, child_tag, ids in (
            ("product_areas", "product_area_ref", ref.product_area_ids),
            ("backlog_items", "backlog_item_ref", ref.backlog_item_ids),
        ):
            if not ids:
                continue
            existing = run.find(tag)
            if existing is None:
                existing = etree.Element(tag)
                run.insert(position, existing)
            have = {el.get("id") for el in existing}
            for ref_id in ids:
                if str(ref_id) not in have:
                    etree.SubElement(existing, child_tag, id=str(ref_id))
        # backlog_items must precede product_areas: re-order if both were added
        backlog, areas = run.find("backlog_items"), run.find("product_areas")
        if backlog is not None and areas is not None and run.index(backlog) > run.index(areas):
            run.remove(backlog)
            run.insert(run.index(areas), backlog)
    if attempt > 1:
        root.append(etree.Comment(f" pytest-octane re-upload, attempt {attempt} "))
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True))


def _ref_elements(ref: RunRefs) -> list[etree._Element]:
    """A run's ``backlog_items`` and ``product_areas``, in the XSD's order."""
    elements = []
    for tag, child_tag, ids in (
        ("backlog_items", "backlog_item_ref", ref.backlog_item_ids),
        ("product_areas", "product_area_ref", ref.product_area_ids),
    ):
        if ids:
            element = etree.Element(tag)
            for ref_id in ids:
                etree.SubElement(element, child_tag, id=str(ref_id))
            elements.append(element)
    return elements


def _run_elements(root: etree._Element) -> list[etree._Element]:
    """The document's runs: its ``test_run`` elements or its ``gherkin_test_run`` elements."""
    runs = root.findall("test_runs/test_run")
    return runs or root.findall("test_runs/gherkin_test_run")


def _link_document(root: etree._Element, story_ids: Sequence[int]) -> None:
    """Gherkin runs have no per-run ``backlog_items``: link the document (its features share
    their keys, see gherkin_xml.plan_slices).  Product areas are left off for Gherkin runs."""
    if not story_ids:
        return
    existing = root.find("backlog_items")
    if existing is None:
        existing = etree.Element("backlog_items")
        before = ("product_areas", "test_fields", "environment", "test_runs")
        anchor = next(el for el in root if el.tag in before)
        anchor.addprevious(existing)
    have = {el.get("id") for el in existing}
    for ref_id in story_ids:
        if str(ref_id) not in have:
            etree.SubElement(existing, "backlog_item_ref", id=str(ref_id))


def _parse(path: Path) -> etree._Element:
    try:
        return etree.parse(str(path), safe_parser()).getroot()
    except OSError as exc:
        raise InputError(
            f"spooled slice {path} cannot be read ({exc}); was the spool folder removed?"
        ) from None
    except etree.XMLSyntaxError as exc:
        reason = parser_reason(str(exc.msg))
        raise InputError(f"spooled slice {path} is not well-formed XML ({reason})") from None


def cut_slices(
    runs: Sequence[TestRun],
    size: int,
    *,
    ended: bool,
    skip: int = 0,
    expected: int | None = None,
) -> list[Sequence[TestRun]]:
    """The slices of a journal's results, cut the same way every time from journal order.

    Each full chunk of plain runs is a slice as soon as it is journaled: ``size`` runs, and
    where the last expected slice is cut in two (``expected``, see ``journal.slice_ends``);
    the rest waits for the end of the journal (``ended``): the last partial chunk, and
    everything from the first chunk holding a pytest-bdd run on (a feature's scenarios share
    a slice, see ``plan_slices``).  A growing journal only ever adds slices after the ones cut
    before, so slice N holds the same runs whoever cuts it (the uploader, or ``resume`` after
    a kill).

    ``skip``: how many full slices were cut before the end already (they are left out of the
    answer, and their runs are not looked at again).
    """
    ends = slice_ends(len(runs), size, expected)
    slices: list[Sequence[TestRun]] = [()] * skip
    start = ends[skip - 1] if skip else 0
    for end in ends[skip:]:
        chunk = runs[start:end]
        if any(run.gherkin is not None for run in chunk):
            break
        slices.append(chunk)
        start = end
    if ended and start < len(runs):
        slices.extend(plan_slices(runs[start:], size))
    return slices
