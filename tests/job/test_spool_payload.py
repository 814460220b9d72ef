"""job/spool.py's upload_payload: a spooled slice with each run's story and module ids added."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lxml import etree
from uploader_support import make_run

from pytest_octane.job.spool import upload_payload
from pytest_octane.octane.results_xml import ResultHeader, RunRefs, write_slices

Validate = Callable[[bytes], etree._Element]


def _refs_of(run: etree._Element) -> list[tuple[str, list[str]]]:
    return [
        (child.tag, [str(ref.get("id")) for ref in child])
        for child in run
        if child.tag in ("backlog_items", "product_areas")
    ]


def _slice(tmp_path: Path, count: int, refs: list[RunRefs] | None = None) -> Path:
    given = dict(zip(range(count), refs or [], strict=False))
    [written] = write_slices(
        tmp_path,
        ResultHeader(backlog_item_ids=(7,)),  # a document-level link is left as it is
        [make_run(i) for i in range(count)],
        slice_size=count,
        refs=(lambda run: given[int(run.name.removeprefix("test_"))]) if refs else None,
    )
    return written.path


def test_each_run_gets_its_own_ids_in_the_schemas_order(
    tmp_path: Path, validate_xml: Validate
) -> None:
    both, stories, none = RunRefs((11, 12), (31,)), RunRefs((13,), ()), RunRefs()
    path = _slice(tmp_path, 5)
    root = validate_xml(upload_payload(path, [both, stories, none, both, stories]))
    runs = root.find("test_runs")
    assert runs is not None
    assert [_refs_of(run) for run in runs] == [
        [("backlog_items", ["11", "12"]), ("product_areas", ["31"])],
        [("backlog_items", ["13"])],
        [],
        [("backlog_items", ["11", "12"]), ("product_areas", ["31"])],
        [("backlog_items", ["13"])],
    ]
    assert [child.tag for child in runs[0]][:3] == ["backlog_items", "product_areas", "error"]
    assert [str(ref.get("id")) for ref in root.iterfind("backlog_items/backlog_item_ref")] == ["7"]


def test_ids_a_slice_already_holds_are_kept_and_the_new_ones_added(
    tmp_path: Path, validate_xml: Validate
) -> None:
    path = _slice(tmp_path, 2, [RunRefs((11,), ()), RunRefs((), (31,))])
    root = validate_xml(upload_payload(path, [RunRefs((11, 12), (32,)), RunRefs((13,), (31,))]))
    runs = root.find("test_runs")
    assert runs is not None
    assert [_refs_of(run) for run in runs] == [
        [("backlog_items", ["11", "12"]), ("product_areas", ["32"])],
        [("backlog_items", ["13"]), ("product_areas", ["31"])],
    ]


def test_a_second_attempt_is_a_different_payload_of_the_same_runs(tmp_path: Path) -> None:
    path = _slice(tmp_path, 2)
    refs = [RunRefs((11,), ()), RunRefs()]
    first, second = upload_payload(path, refs), upload_payload(path, refs, attempt=2)
    assert first != second and b"attempt 2" in second
    again = etree.fromstring(second)
    for comment in again.xpath("//comment()"):
        comment.getparent().remove(comment)
    assert etree.tostring(again) == etree.tostring(etree.fromstring(first))
