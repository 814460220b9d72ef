"""The streaming writer on its own, and the validator the end-to-end tests rely on."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_octane.model import BuildContext, RunError, RunStatus, TestRun
from pytest_octane.octane import schema
from pytest_octane.octane.results_xml import ResultHeader, RunRefs, write_document, write_slices


def _run(index: int, **changes: object) -> TestRun:
    fields: dict[str, object] = {
        "nodeid": f"pkg/test_m.py::TestC::test_{index}",
        "module": "",
        "package": "pkg.test_m",
        "klass": "TestC",
        "name": f"test_{index}",
        "status": RunStatus.PASSED,
        "duration_ms": 3,
        "started_ms": 1_700_000_000_000 + index,
    }
    fields.update(changes)
    return TestRun(**fields)  # type: ignore[arg-type]


FULL_HEADER = ResultHeader(
    build=BuildContext(server_id="ci", job_id="job", build_id="7", build_name="seven"),
    suite_id=5,
    external_run_id="run",
    program_id=6,
    release="_default_",
    milestone_id=8,
    backlog_item_ids=(1, 2),
    product_area_ids=(3,),
    test_fields=(("Framework", "pytest"),),
    taxonomies=(("OS", "Linux"),),
)


def test_full_document_is_valid(validate_xml) -> None:
    runs = [
        _run(1),
        _run(
            2,
            status=RunStatus.FAILED,
            error=RunError(type="ValueError", message="bad", trace="Traceback ...\nValueError"),
            description="error in setup",
        ),
        _run(3, status=RunStatus.SKIPPED, description="xfail: later", module="Payments"),
        _run(4, status=RunStatus.PLANNED, package="", klass=""),
    ]
    buffer = io.BytesIO()
    count = write_document(
        buffer,
        FULL_HEADER,
        runs,
        refs=lambda run: RunRefs(backlog_item_ids=(11,), product_area_ids=(12, 13)),
    )
    assert count == 4
    root = validate_xml(buffer.getvalue())
    run = root.find("test_runs/test_run[@name='test_2']")
    assert [child.tag for child in run] == [
        "backlog_items",
        "product_areas",
        "error",
        "description",
    ]
    assert run.find("error").text == "Traceback ...\nValueError"
    planned = root.find("test_runs/test_run[@name='test_4']")
    assert "package" not in planned.attrib and "class" not in planned.attrib


def test_writer_streams_from_an_iterator(validate_xml, tmp_path: Path) -> None:
    produced = 0

    def runs() -> Iterator[TestRun]:
        nonlocal produced
        for index in range(5000):
            produced += 1
            yield _run(index)

    target = tmp_path / "big.xml"
    assert write_document(target, ResultHeader(), runs()) == 5000
    assert produced == 5000
    assert len(validate_xml(target.read_bytes()).findall("test_runs/test_run")) == 5000


def test_write_slices_numbers_files_and_leaves_no_temporaries(validate_xml, tmp_path: Path) -> None:
    files = write_slices(tmp_path / "out", FULL_HEADER, [_run(i) for i in range(5)], slice_size=2)
    assert [(f.index, f.path.name, f.run_count) for f in files] == [
        (1, "slice-0001.xml", 2),
        (2, "slice-0002.xml", 2),
        (3, "slice-0003.xml", 1),
    ]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "slice-0001.xml",
        "slice-0002.xml",
        "slice-0003.xml",
    ]
    for file in files:
        validate_xml(file.path.read_bytes())
    assert write_slices(tmp_path / "empty", FULL_HEADER, [], slice_size=2) == []


def test_attributes_are_cut_to_the_schema_limits(validate_xml) -> None:
    long = "n" * 400
    header = ResultHeader(
        release=long,
        taxonomies=((long, long),),
        test_fields=(("Test_Level", long),),
        build=BuildContext(server_id=long, job_id=long, build_id=long),
    )
    buffer = io.BytesIO()
    write_document(buffer, header, [_run(1, name=long, package=long, klass=long, module=long)])
    root = validate_xml(buffer.getvalue())
    run = root.find("test_runs/test_run")
    assert all(len(run.get(attr)) == 255 for attr in ("name", "package", "class", "module"))


BAD_DOCUMENTS = {
    "wrong root": b"<results><test_runs/></results>",
    "no test_runs": b"<test_result/>",
    "header after runs": b"<test_result><test_runs/><release name='x'/></test_result>",
    "bad status": b"<test_result><test_runs><test_run name='a' duration='1' status='Ok'"
    b" started='1'/></test_runs></test_result>",
    "empty name": b"<test_result><test_runs><test_run name='' duration='1' status='Passed'"
    b" started='1'/></test_runs></test_result>",
    "long name": b"<test_result><test_runs><test_run name='"
    + b"x" * 256
    + b"' duration='1' status='Passed' started='1'/></test_runs></test_result>",
    "duration not integer": b"<test_result><test_runs><test_run name='a' duration='1.5'"
    b" status='Passed' started='1'/></test_runs></test_result>",
    "negative duration": b"<test_result><test_runs><test_run name='a' duration='-1'"
    b" status='Passed' started='1'/></test_runs></test_result>",
    "no started": b"<test_result><test_runs><test_run name='a' duration='1'"
    b" status='Passed'/></test_runs></test_result>",
    "description before error": b"<test_result><test_runs><test_run name='a' duration='1'"
    b" status='Failed' started='1'><description>d</description><error/></test_run>"
    b"</test_runs></test_result>",
    "long package": b"<test_result><test_runs><test_run name='a' package='"
    + b"p" * 256
    + b"' duration='1' status='Passed' started='1'/></test_runs></test_result>",
    "bad field type": b"<test_result><test_fields><test_field type='Kind' value='v'/>"
    b"</test_fields><test_runs/></test_result>",
    "not well-formed": b"<test_result><test_runs>",
}


@pytest.fixture(params=["structural", "xsd"])
def checks(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a validator test with structural checks only (a fresh clone without
    ``../shared``), and again with the real XSD when it is there."""
    if request.param == "structural":
        monkeypatch.setattr(schema, "find_xsd", lambda: None)
    elif schema.find_xsd() is None:
        pytest.skip(schema.XSD_MISSING)
    return str(request.param)


@pytest.mark.parametrize("document", BAD_DOCUMENTS.values(), ids=BAD_DOCUMENTS.keys())
def test_validator_rejects_bad_documents(validate_xml, checks: str, document: bytes) -> None:
    with pytest.raises(AssertionError, match="invalid Octane XML"):
        validate_xml(document)


def test_validator_accepts_a_minimal_document(validate_xml, checks: str) -> None:
    validate_xml(
        b"<?xml version='1.0' encoding='UTF-8'?><test_result><test_runs><test_run name='a'"
        b" duration='0' status='Planned' started='0'/></test_runs></test_result>"
    )


def test_the_xsd_skip_reason_says_where_to_get_the_file() -> None:
    assert "test-results/xsd" in schema.XSD_MISSING and "OCTANE_XSD=" in schema.XSD_MISSING
