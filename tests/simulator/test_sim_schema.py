"""pytest_octane.octane.schema: structural checks from the XSD, plus lxml's XSD when found."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pytest_octane.octane import schema

VALID = b"""<?xml version="1.0" encoding="UTF-8"?>
<test_result>
  <build server_id="ci" job_id="nightly" build_id="42" job_name="Nightly"/>
  <suite_ref id="9" external_run_id="run-1"/>
  <program_ref id="3"/>
  <release name="_default_"/>
  <milestone_ref id="4"/>
  <backlog_items><backlog_item_ref id="2001"/></backlog_items>
  <product_areas><product_area_ref id="3001"/></product_areas>
  <test_fields><test_field type="Framework" value="pytest"/></test_fields>
  <environment><taxonomy type="OS" value="Linux"/></environment>
  <test_runs>
    <test_run module="m" package="pkg" class="C" name="test_a" duration="5" status="Passed"
              started="1700000000000" manual="false" external_report_url="https://ci/r/1">
      <backlog_items><backlog_item_ref id="2002"/></backlog_items>
      <error type="AssertionError" message="boom">Traceback ...</error>
      <description>Checks a thing</description>
      <steps iteration="1">
        <step name="s1" duration="1" status="Passed">
          <input_parameters><parameter name="x" value="1"/></input_parameters>
        </step>
      </steps>
    </test_run>
    <test_run name="test_b" duration="0" status="Skipped"/>
  </test_runs>
</test_result>
"""


def _with(fragment_old: bytes, fragment_new: bytes) -> bytes:
    assert fragment_old in VALID
    return VALID.replace(fragment_old, fragment_new, 1)


INVALID: dict[str, tuple[bytes, str]] = {
    "wrong root": (b"<results><test_runs/></results>", "root element must be <test_result>"),
    "missing test_runs": (b"<test_result/>", "required element <test_runs> is missing"),
    "order": (
        _with(b'<program_ref id="3"/>', b"").replace(
            b'<milestone_ref id="4"/>', b'<milestone_ref id="4"/><program_ref id="3"/>'
        ),
        "out of order",
    ),
    "twice": (
        _with(b'<program_ref id="3"/>', b'<program_ref id="3"/><program_ref id="5"/>'),
        "more often than allowed",
    ),
    "unknown element": (_with(b"<test_runs>", b"<bogus/><test_runs>"), "unknown element <bogus>"),
    "unknown attribute": (
        _with(b'name="test_b"', b'name="test_b" colour="red"'),
        "unknown attribute 'colour'",
    ),
    "missing name": (_with(b'name="test_b" ', b""), "required attribute 'name' is missing"),
    "empty name": (_with(b'name="test_b"', b'name=""'), "must be 1 to 255 characters"),
    "long class": (
        _with(b'class="C"', b'class="' + b"C" * 256 + b'"'),
        "must be 0 to 255 characters",
    ),
    "status enum": (
        _with(b'status="Skipped"', b'status="skipped"'),
        "must be one of Passed, Skipped, Failed, Planned",
    ),
    "duration type": (_with(b'duration="0"', b'duration="0.5"'), "xs:long"),
    "started type": (_with(b'started="1700000000000"', b'started="soon"'), "xs:long"),
    "long range": (_with(b'duration="0"', b'duration="99999999999999999999"'), "xs:long range"),
    "field type": (_with(b'type="Framework"', b'type="Tool"'), "must be one of Test_Level"),
    "ref id": (
        _with(b'<backlog_item_ref id="2001"/>', b'<backlog_item_ref id="QZ-1"/>'),
        "xs:long",
    ),
    "build required": (_with(b' build_id="42"', b""), "required attribute 'build_id'"),
    "release choice": (
        _with(b'<release name="_default_"/>', b'<release name="_default_"/><release_ref id="1"/>'),
        "more often than allowed",
    ),
    "run child order": (
        _with(b"<description>Checks a thing</description>", b"").replace(
            b"<error ", b"<description>x</description><error "
        ),
        "out of order",
    ),
    "text in element": (_with(b"<test_runs>", b"<test_runs>stray"), "text is not allowed"),
    "boolean": (_with(b'manual="false"', b'manual="no"'), "true, false, 1 or 0"),
    "url": (
        _with(b'external_report_url="https://ci/r/1"', b'external_report_url="ftp://x/y"'),
        "must start with http(s)://",
    ),
    "parameters need one": (
        _with(b'<parameter name="x" value="1"/>', b""),
        "required element <parameter> is missing",
    ),
    "doctype": (
        b'<!DOCTYPE test_result [<!ENTITY x "y">]><test_result><test_runs/></test_result>',
        "DOCTYPE is not allowed",
    ),
    "not xml": (b"<test_result><test_runs>", "not well-formed XML"),
    "empty": (b"", "empty"),
}


def test_a_complete_valid_document_has_no_problems() -> None:
    assert schema.validate(VALID) == []
    schema.assert_valid(VALID)


@pytest.mark.parametrize("case", sorted(INVALID))
def test_each_kind_of_violation_is_reported(case: str) -> None:
    xml, expected = INVALID[case]
    problems = schema.validate(xml)
    assert any(expected in p for p in problems), problems


GHERKIN = (
    b'<test_result><test_runs><gherkin_test_run name="g" duration="1" status="Passed">'
    b'<feature name="f" path="a.feature" tag="" started="1"><file>F</file><scenarios>'
    b'<background><steps><step name="Given bg"/></steps></background>'
    b'<scenario name="s" outlineIndex="1" status="Passed"><steps>'
    b'<step name="Given x" duration="1" status="passed"><error_message>e</error_message></step>'
    b"</steps></scenario></scenarios></feature>"
    b"</gherkin_test_run></test_runs></test_result>"
)


def test_gherkin_runs_pass_the_structural_check() -> None:
    # background steps may leave out duration and status (backgroundStepType), others not
    assert schema.validate(GHERKIN) == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            b'<scenario name="s" outlineIndex="1" status="Passed">',
            b'<scenario name="s">',
            "'status'",
        ),
        (b'status="passed"><error', b"><error", "'status' is missing"),
        (b'tag="" ', b"", "'tag' is missing"),
        (b"<file>F</file>", b"", "<file> is missing"),
        (b'path="a.feature"', b'path=""', "path=''"),
        (
            b"</gherkin_test_run>",
            b'</gherkin_test_run><test_run name="t" duration="1" status="Passed"/>',
            "cannot be mixed",
        ),
    ],
)
def test_gherkin_violations_are_reported(old: bytes, new: bytes, expected: str) -> None:
    assert old in GHERKIN
    problems = schema.validate(GHERKIN.replace(old, new))
    assert any(expected in p for p in problems), problems


def test_assert_valid_lists_every_problem() -> None:
    bad = _with(b'status="Skipped"', b'status="ok"').replace(b'duration="0"', b'duration="x"')
    with pytest.raises(AssertionError, match=r"\(\d+ problems\)") as info:
        schema.assert_valid(bad)
    assert "status='ok'" in str(info.value) and "duration='x'" in str(info.value)


def test_problems_name_the_element_and_line() -> None:
    problems = schema.validate(_with(b'status="Skipped"', b'status="bad"'))
    assert problems[0].startswith("test_result/test_runs[1]/test_run[2] (line 24)")


def test_entities_are_never_expanded() -> None:
    xml = b'<?xml version="1.0"?><!DOCTYPE t SYSTEM "http://example.invalid/x.dtd"><test_result/>'
    assert schema.validate(xml) == ["a DOCTYPE is not allowed in Octane test results; remove it"]


def test_find_xsd_prefers_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    target = tmp_path / "custom.xsd"
    monkeypatch.setenv("OCTANE_XSD", str(target))
    assert schema.find_xsd() == target


def test_find_xsd_looks_beside_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OCTANE_XSD", raising=False)
    found = schema.find_xsd()
    beside = Path(schema.__file__).resolve().parents[3] / "shared/octane/octaneResultSchema.xsd"
    assert found == (beside if beside.is_file() else None)


def test_an_unusable_xsd_is_reported_not_ignored(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.xsd"
    broken.write_text("<not-a-schema/>")
    monkeypatch.setenv("OCTANE_XSD", str(broken))
    problems = schema.validate(VALID)
    assert len(problems) == 1 and "cannot be loaded" in problems[0]


def _project_files(root: Path) -> list[Path]:
    """What the project ships: git's tracked and unignored files, or the tree outside venvs."""
    if (root / ".git").exists():
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        )
        if listed.returncode == 0:
            return [root / line for line in listed.stdout.splitlines()]
    skipped = {".git", ".venv", "venv", ".tox", "site-packages"}
    return [p for p in root.rglob("*") if not skipped.intersection(p.relative_to(root).parts)]


def test_the_repository_carries_no_copy_of_the_xsd() -> None:
    root = Path(schema.__file__).resolve().parents[2]
    assert not [p for p in _project_files(root) if p.suffix == ".xsd"]


@pytest.fixture
def real_xsd(monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("OCTANE_XSD", raising=False)
    found = schema.find_xsd()
    if found is None:
        pytest.skip(schema.XSD_MISSING)
    return found


def test_the_real_xsd_accepts_the_valid_document(real_xsd: Path) -> None:
    assert not [p for p in schema.validate(VALID) if p.startswith("XSD")]


XSD_ONLY_EXEMPT = {"doctype", "not xml", "empty"}  # never reach the XSD


@pytest.mark.parametrize("case", sorted(set(INVALID) - XSD_ONLY_EXEMPT))
def test_the_real_xsd_agrees_with_each_structural_finding(real_xsd: Path, case: str) -> None:
    xml, _ = INVALID[case]
    problems = schema.validate(xml)
    assert [p for p in problems if p.startswith("XSD")], problems
    assert [p for p in problems if not p.startswith("XSD")], problems


def test_a_document_the_real_xsd_accepts_skips_the_slower_structural_check(
    real_xsd: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The XSD decides; our checker only explains a refusal (the simulator's CPU, issue 28)."""

    def never(self: object, root: object) -> None:
        raise AssertionError("the structural check ran for a valid document")

    monkeypatch.setattr(schema._Checker, "check_root", never)
    assert schema.validate(VALID) == []


def test_without_an_xsd_only_the_structural_check_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schema, "find_xsd", lambda: None)
    problems = schema.validate(_with(b'status="Skipped"', b'status="bad"'))
    assert len(problems) == 1 and not problems[0].startswith("XSD")


@pytest.fixture
def any_xsd() -> Path:
    """The real XSD from $OCTANE_XSD or beside the repository."""
    found = schema.find_xsd()
    if found is None:
        pytest.skip("octaneResultSchema.xsd not found (set OCTANE_XSD)")
    return found


def test_the_real_xsd_accepts_the_gherkin_document(any_xsd: Path) -> None:
    assert schema.validate(GHERKIN) == []


def test_the_real_xsd_agrees_with_the_gherkin_findings(any_xsd: Path) -> None:
    for old, new in (
        (b'<scenario name="s" outlineIndex="1" status="Passed">', b'<scenario name="s">'),
        (b"<file>F</file>", b""),
        (b'status="passed"><error', b"><error"),
    ):
        problems = schema.validate(GHERKIN.replace(old, new))
        assert [p for p in problems if p.startswith("XSD")], problems
