"""The streaming writer on its own, and the validator the end-to-end tests rely on."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from pytest_octane.model import (
    GherkinScenario,
    GherkinStep,
    RunError,
    RunStatus,
    TestRun,
)
from pytest_octane.octane import schema
from pytest_octane.octane.results_xml import (
    ResultHeader,
    RunRefs,
    run_xml,
    without_build,
    write_document,
    write_slices,
)
from pytest_octane.octane.xml_text import BuildContext


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


# Everything XML must escape or may not carry, and what a parser must give back for it: the
# forbidden characters (NUL, a lone surrogate, U+FFFF) become U+FFFD, the rest is kept as is
# (tab, newline and CR in attributes too: the writer uses character references for them).
HOSTILE = "a&b<c>d\"e'f\tg\nh\ri\r\nj\x00k\ud800l\uffffm\U0001f600n]]>o"
HOSTILE_CLEAN = "a&b<c>d\"e'f\tg\nh\ri\r\nj\ufffdk\ufffdl\ufffdm\U0001f600n]]>o"


def _document(header: ResultHeader, runs: list[TestRun], **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    write_document(buffer, header, runs, **kwargs)  # type: ignore[arg-type]
    return buffer.getvalue()


def test_hostile_values_come_back_from_a_parser_as_cleaned(validate_xml) -> None:
    header = ResultHeader(
        build=BuildContext(server_id=HOSTILE, job_id=HOSTILE, build_id="7", job_name=HOSTILE),
        suite_id=5,
        external_run_id=HOSTILE,
        release=HOSTILE,
        test_fields=(("Framework", HOSTILE),),
        taxonomies=((HOSTILE, HOSTILE),),
    )
    run = _run(
        1,
        module=HOSTILE,
        package=HOSTILE,
        klass=HOSTILE,
        name=HOSTILE,
        status=RunStatus.FAILED,
        error=RunError(type=HOSTILE, message=HOSTILE, trace=HOSTILE),
        description=HOSTILE,
    )
    root = validate_xml(_document(header, [run]))
    assert root.find("build").attrib == {
        "server_id": HOSTILE_CLEAN,
        "job_id": HOSTILE_CLEAN,
        "build_id": "7",
        "job_name": HOSTILE_CLEAN,
    }
    assert root.find("suite_ref").get("external_run_id") == HOSTILE_CLEAN
    assert root.find("release").get("name") == HOSTILE_CLEAN
    assert root.find("test_fields/test_field").get("value") == HOSTILE_CLEAN
    assert root.find("environment/taxonomy").attrib == {
        "type": HOSTILE_CLEAN,
        "value": HOSTILE_CLEAN,
    }
    element = root.find("test_runs/test_run")
    for attribute in ("module", "package", "class", "name"):
        assert element.get(attribute) == HOSTILE_CLEAN, attribute
    error = element.find("error")
    assert error.get("type") == error.get("message") == HOSTILE_CLEAN
    assert error.text == HOSTILE_CLEAN  # the CR too: written as &#13;, not normalised away
    assert element.find("description").text == HOSTILE_CLEAN


def test_values_are_cut_before_they_are_escaped(validate_xml) -> None:
    wide = "\u00e9" * 100 + "\U0001f600" * 100 + "x" * 100  # 300 characters, 2-4 bytes each
    run = _run(
        1,
        name="&" * 300,  # 1,500 characters once escaped, still 255 of the value
        package=wide,
        klass="\t" * 300,
        module="\x00" * 300,
        status=RunStatus.FAILED,
        error=RunError(type="<" * 5000, message='"' * 5000, trace=""),
    )
    element = validate_xml(_document(ResultHeader(), [run])).find("test_runs/test_run")
    assert element.get("name") == "&" * 255
    assert element.get("package") == "\u00e9" * 100 + "\U0001f600" * 100 + "x" * 55
    assert element.get("class") == "\t" * 255
    assert element.get("module") == "\ufffd" * 255
    error = element.find("error")
    assert error.get("type") == "<" * 4000 and error.get("message") == '"' * 4000
    assert not error.text  # an empty trace: an empty element


def test_a_run_without_a_usable_name_is_called_unnamed(validate_xml) -> None:
    root = validate_xml(_document(ResultHeader(), [_run(1, name=""), _run(2, name="\x00")]))
    assert [run.get("name") for run in root.iter("test_run")] == ["unnamed", "\ufffd"]


def test_long_traces_and_descriptions_are_cut_with_a_marker(validate_xml) -> None:
    trace = "<" * 50 + "\r\n" + "&" * 47 + "\x00"  # 100 characters
    run = _run(
        1,
        status=RunStatus.FAILED,
        description=trace,
        error=RunError(type="E", message="m", trace=trace),
    )
    element = validate_xml(_document(ResultHeader(), [run], max_trace=30)).find(
        "test_runs/test_run"
    )
    expected = (
        "<" * 20
        + "\n\n[... pytest-octane cut 70 of 100 characters (--octane-max-trace=30) ...]\n\n"
        + "&" * 9
        + "\ufffd"
    )
    assert element.find("error").text == expected
    assert element.find("description").text == expected


def test_run_links_are_escaped(validate_xml) -> None:
    header = ResultHeader(
        report_url="https://ci.example/report?test={nodeid}&name={name}",
        build_url="https://ci.example/job/1/",
    )
    run = _run(1, nodeid='t.py::test["a&b"]', name="test[<1>]")
    element = validate_xml(_document(header, [run])).find("test_runs/test_run")
    assert element.get("external_report_url") == (
        "https://ci.example/report?test=t.py::test%5B%22a%26b%22%5D&name=test%5B%3C1%3E%5D"
    )


def test_the_declaration_says_utf8_and_standalone(validate_xml) -> None:
    document = _document(FULL_HEADER, [_run(1, name="\u00e9t\u00e9 \U0001f600")])
    assert document.startswith(b"<?xml version='1.0' encoding='UTF-8' standalone='yes'?>")
    tree = etree.ElementTree(validate_xml(document))
    assert (tree.docinfo.xml_version, tree.docinfo.encoding, tree.docinfo.standalone) == (
        "1.0",
        "UTF-8",
        True,
    )
    assert "\u00e9t\u00e9 \U0001f600".encode() in document  # UTF-8, not character references
    assert tree.find("test_runs/test_run").get("name") == "\u00e9t\u00e9 \U0001f600"


def test_a_document_with_no_runs_still_has_its_header(validate_xml) -> None:
    # the XSD wants a run: the empty document is compared with a valid one, not validated
    empty = etree.fromstring(_document(FULL_HEADER, []))
    full = validate_xml(_document(FULL_HEADER, [_run(1)]))
    assert [child.tag for child in empty] == [child.tag for child in full]
    assert len(full) == 10 and len(empty.find("test_runs")) == 0
    assert etree.tostring(empty.find("environment")) == etree.tostring(full.find("environment"))


def test_a_release_id_is_a_release_ref(validate_xml) -> None:
    root = validate_xml(_document(ResultHeader(release=1001), [_run(1)]))
    assert root.find("release_ref").get("id") == "1001" and root.find("release") is None


@pytest.mark.parametrize("kind", [str, Path])
def test_the_target_may_be_a_path(validate_xml, tmp_path: Path, kind: type) -> None:
    target = tmp_path / "doc.xml"
    assert write_document(kind(target), FULL_HEADER, [_run(1), _run(2)]) == 2
    assert target.read_bytes() == _document(FULL_HEADER, [_run(1), _run(2)])
    validate_xml(target.read_bytes())


def test_a_long_stream_is_written_in_chunks(validate_xml) -> None:
    class Writes(io.BytesIO):
        calls = 0

        def write(self, data: object) -> int:
            self.calls += 1
            return super().write(data)  # type: ignore[arg-type]

    target = Writes()
    assert write_document(target, ResultHeader(), (_run(i) for i in range(3000))) == 3000
    assert target.calls > 1
    assert len(validate_xml(target.getvalue()).findall("test_runs/test_run")) == 3000


def test_run_xml_is_one_test_run_element() -> None:
    text = run_xml(_run(1, name="a<b"), RunRefs(backlog_item_ids=(4,)), 100)
    element = etree.fromstring(text)
    assert (
        element.tag,
        element.get("name"),
        element.find("backlog_items/backlog_item_ref").get("id"),
    ) == (
        "test_run",
        "a<b",
        "4",
    )


def test_without_build_drops_the_build_of_a_written_document(validate_xml) -> None:
    payload, server_id = without_build(_document(FULL_HEADER, [_run(1)]))
    assert server_id == "ci"
    root = validate_xml(payload)
    assert root.find("build") is None and root.find("suite_ref").get("id") == "5"
    assert without_build(_document(ResultHeader(), [_run(1)]))[1] is None


def test_without_build_reads_any_encoding_and_is_not_fooled_by_text() -> None:
    """The document is parsed unless its bytes plainly hold no <build> tag."""
    utf16 = _document(FULL_HEADER, [_run(1)]).decode("utf-8")
    utf16 = utf16.replace("encoding='UTF-8'", "encoding='UTF-16'")
    payload, server_id = without_build(utf16.encode("utf-16"))
    assert server_id == "ci" and etree.fromstring(payload).find("build") is None
    # a run named "<build" is escaped in the bytes: no build, nothing changed
    plain = _document(ResultHeader(), [_run(1, name="<build x>")])
    assert without_build(plain) == (plain, None)


def _scenario_run(index: int, feature: str, **changes: object) -> TestRun:
    gherkin = GherkinScenario(
        feature_name=f"Feature <{feature}> & more",
        feature_path=f"features/{feature}.feature",
        feature_text=f"Feature: {feature}\r\n  Scenario: s{index}\n",
        feature_tags=("TID12REV0.1",),
        name=f'scenario {index} "quoted"',
        steps=(
            GherkinStep(keyword="Given", text="a <step> & more\x00", status="passed"),
            GherkinStep(keyword="Then", text="it fails", status="failed", error="E\tbad"),
        ),
    )
    return _run(index, gherkin=gherkin, status=RunStatus.FAILED, **changes)


def test_a_document_of_only_gherkin_runs_is_valid(validate_xml) -> None:
    runs = [_scenario_run(1, "alpha"), _scenario_run(2, "beta"), _scenario_run(3, "alpha")]
    buffer = io.BytesIO()
    assert write_document(buffer, FULL_HEADER, runs) == 3
    root = validate_xml(buffer.getvalue())
    assert root.find("test_runs/test_run") is None
    features = root.findall("test_runs/gherkin_test_run")
    assert [f.get("name") for f in features] == ["Feature <alpha> & more", "Feature <beta> & more"]
    alpha = features[0].find("feature")
    assert alpha.find("file").text == "Feature: alpha\r\n  Scenario: s1\n"
    assert [s.get("name") for s in alpha.iter("scenario")] == [
        'scenario 1 "quoted"',
        'scenario 3 "quoted"',
    ]
    assert alpha.find(".//step").get("name") == "Given a <step> & more\ufffd"
    assert root.find("build").get("server_id") == "ci"  # the text header, then lxml's elements


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
