"""Impossible numbers, truncated files and "not run" states in results files (issue 24
points 1, 5 and 6).

Every duration and start time read from a file must be a possible one (finite, not negative,
inside the XSD's ``xs:long``): a file with an impossible one is refused in one line naming the
test case and the attribute, before any job is recorded or request sent. A truncated file is
refused with the "is the file complete?" hint whatever libxml2 calls the error, and a
``status``/``result`` attribute meaning "not run" (gtest, CTest) makes a Skipped run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_harness import CliResult, Octane, lines_without_traceback

from pytest_octane.errors import InputError
from pytest_octane.octane import schema
from pytest_octane.octane.inputs import read_results_file

IMPOSSIBLE_TIMES = ["inf", "-inf", "1e309", "1e30", "NaN", "-1", "-0.5"]


def junit(tmp: Path, case_attrs: str, body: str = "") -> Path:
    path = tmp / "results.xml"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="s">\n'
        f'<testcase classname="pkg.C" name="test_fine" time="0.25"/>\n'
        f'<testcase classname="pkg.C" name="test_odd" {case_attrs}>{body}</testcase>\n'
        "</testsuite>\n",
        encoding="utf-8",
    )
    return path


def convert_case(octane: Octane, tmp: Path, case_attrs: str) -> tuple[CliResult, Path, Path]:
    """``pytest-octane convert`` of ``junit(tmp, case_attrs)`` into ``tmp/out``: the result,
    the results file and the output folder."""
    results, out = junit(tmp, case_attrs), tmp / "out"
    return octane.cli("convert", str(results), "-o", str(out)), results, out


def one_error_line(text: str) -> str:
    lines = lines_without_traceback(text)
    assert len(lines) == 1, text
    return lines[0]


# ---------------------------------------------------------------- point 1: impossible numbers


@pytest.mark.parametrize("value", IMPOSSIBLE_TIMES)
def test_an_impossible_junit_time_is_refused_in_one_line(
    octane: Octane, tmp_path: Path, value: str
) -> None:
    converted, results, out = convert_case(octane, tmp_path, f'time="{value}"')
    assert converted.code == 2, converted.text
    line = one_error_line(converted.err)
    assert "testcase 'test_odd' line 4" in line and f"time={value!r}" in line, line
    assert "not a possible duration" in line, line
    assert not out.exists() or not list(out.glob("*.xml"))
    uploaded = octane.upload(results)
    assert uploaded.code == 2, uploaded.text
    assert f"time={value!r}" in one_error_line(uploaded.err)
    assert octane.posts() == 0 and octane.jobs() == []


@pytest.mark.parametrize(
    ("attrs", "named"),
    [
        ('duration="99999999999999999999" started="1"', "duration='99999999999999999999'"),
        ('duration="-1" started="1"', "duration='-1'"),
        ('duration="1" started="-1700000000000"', "started='-1700000000000'"),
        ('duration="1" started="9223372036854775808"', "started='9223372036854775808'"),
    ],
)
def test_an_impossible_number_in_octane_xml_is_refused(
    octane: Octane, tmp_path: Path, attrs: str, named: str
) -> None:
    results = tmp_path / "octane.xml"
    results.write_text(
        f'<test_result><test_runs><test_run name="test_odd" status="Passed" {attrs}/>'
        "</test_runs></test_result>",
        encoding="utf-8",
    )
    done = octane.upload(results)
    assert done.code == 2, done.text
    line = one_error_line(done.err)
    assert "test_run 'test_odd' line 1" in line and named in line, line
    assert octane.posts() == 0


def test_the_largest_possible_time_is_written_as_a_valid_xs_long(
    octane: Octane, tmp_path: Path
) -> None:
    """9,223,372,036,854,774 s is about the most ``xs:long`` milliseconds hold: accepted, and the
    start times that follow it (start + earlier durations) stay inside the range too."""
    path = tmp_path / "results.xml"
    path.write_text(
        '<testsuite name="s">'
        '<testcase classname="c" name="a" time="9223372036854774"/>'
        '<testcase classname="c" name="b" time="9223372036854774"/>'
        "</testsuite>",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    done = octane.cli("convert", str(path), "-o", str(out))
    assert done.code == 0, done.text
    xml = (out / "slice-0001.xml").read_bytes()
    assert schema.validate(xml) == []
    root = schema.parse(xml)
    for run in root.iter("test_run"):
        assert 0 <= int(run.get("duration", "")) <= 2**63 - 1
        assert 0 <= int(run.get("started", "")) <= 2**63 - 1


# ---------------------------------------------------------------- point 6: truncated files

SUREFIRE = b"""<?xml version="1.0" encoding="UTF-8"?>
<testsuite xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" name="com.x.AppTest" \
time="0.012" tests="2" errors="0" skipped="0" failures="1">
  <properties>
    <property name="java.version" value="17"/>
  </properties>
  <testcase name="testA" classname="com.x.AppTest" time="0.001"/>
  <testcase name="testB" classname="com.x.AppTest" time="0.002">
    <failure message="expected: &lt;1&gt;" type="org.opentest4j.AssertionFailedError">\
<![CDATA[org.opentest4j.AssertionFailedError: expected: <1> but was: <2>
\tat com.x.AppTest.testB(AppTest.java:20)
]]></failure>
    <system-out><![CDATA[hello]]></system-out>
  </testcase>
</testsuite>
"""
HINT = "is the file complete (was the run that wrote it interrupted)?"


def test_a_truncated_surefire_file_gets_the_hint_where_libxml2_says_unregistered_error(
    octane: Octane, tmp_path: Path
) -> None:
    """The cut OpenText's comparison found: libxml2 says only "Unregistered error message"."""
    cut = SUREFIRE.index(b"&lt;1") + 2  # inside the entity reference of the message
    path = tmp_path / "corrupt-junit.xml"
    path.write_bytes(SUREFIRE[:cut])
    done = octane.cli("convert", str(path), "-o", str(tmp_path / "out"))
    assert done.code == 2, done.text
    line = one_error_line(done.err)
    assert line.endswith(HINT), line
    assert "Unregistered error message" not in line, line


def test_every_cut_of_a_surefire_file_is_refused_with_the_hint(tmp_path: Path) -> None:
    """Whatever libxml2 calls the error, a file cut anywhere after its root tag is named as
    possibly incomplete, in one line."""
    path = tmp_path / "cut.xml"
    first = SUREFIRE.index(b"<testsuite")
    missing: list[str] = []
    for cut in range(first + 1, len(SUREFIRE.rstrip()) - 1):
        path.write_bytes(SUREFIRE[:cut])
        with pytest.raises(InputError) as caught:
            read_results_file(path, started_ms=0)
        message = str(caught.value)
        assert "\n" not in message, message
        if not message.endswith(HINT):
            missing.append(f"cut at {cut}: {message}")
    assert not missing, "\n".join(missing[:5])


def test_unfinished_cdata_is_quoted_on_one_line_and_cut(octane: Octane, tmp_path: Path) -> None:
    """libxml2 quotes the start of unfinished CDATA over several lines; we print one."""
    cut = SUREFIRE.index(b"\tat com.x")
    path = tmp_path / "cdata.xml"
    path.write_bytes(SUREFIRE[:cut] + b"more trace lines\n" * 5)
    done = octane.cli("convert", str(path), "-o", str(tmp_path / "out"))
    assert done.code == 2, done.text
    line = one_error_line(done.err)
    assert "CData section not finished (at 'org.opentest4j.AssertionFailedError: exp…')" in line
    assert line.endswith(HINT), line


# ---------------------------------------------------------------- point 6: "not run" states


@pytest.mark.parametrize(
    "attrs",
    [
        'status="disabled"',  # CTest
        'status="notrun"',  # gtest before 1.10, CTest
        'status="notrun" result="suppressed"',  # gtest DISABLED_ tests
        'status="skipped"',
        'status="run" result="skipped"',  # gtest GTEST_SKIP() without a child element
        'status="NotRun"',
    ],
)
def test_a_not_run_status_without_a_child_element_is_skipped(
    octane: Octane, tmp_path: Path, attrs: str
) -> None:
    done, _, out = convert_case(octane, tmp_path, f'time="0" {attrs}')
    assert done.code == 0, done.text
    root = schema.parse((out / "slice-0001.xml").read_bytes())
    runs = {r.get("name"): r for r in root.iter("test_run")}
    assert runs["test_fine"].get("status") == "Passed"
    odd = runs["test_odd"]
    assert odd.get("status") == "Skipped", attrs
    description = odd.findtext("description") or ""
    assert description.startswith("not run (") and attrs.split()[-1] in description


def test_a_failure_wins_over_a_not_run_status(octane: Octane, tmp_path: Path) -> None:
    results = junit(tmp_path, 'status="run" result="completed"', '<failure message="m"/>')
    results2 = tmp_path / "second.xml"
    results2.write_text(
        results.read_text().replace('status="run" result="completed"', 'status="notrun"'),
        encoding="utf-8",
    )
    for path, out in ((results, tmp_path / "o1"), (results2, tmp_path / "o2")):
        assert octane.cli("convert", str(path), "-o", str(out)).code == 0
        root = schema.parse((out / "slice-0001.xml").read_bytes())
        odd = [r for r in root.iter("test_run") if r.get("name") == "test_odd"]
        assert odd[0].get("status") == "Failed", path
