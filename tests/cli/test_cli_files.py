"""``upload FILE`` and ``convert FILE -o DIR``: JUnit and Octane XML in, safely.

Malformed or hostile inputs (XXE, billion laughs, any DOCTYPE, truncated XML, a wrong root)
end with exit code 2 and one line on stderr, before any job is recorded or request sent.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from cli_harness import Octane, lines_without_traceback

from pytest_octane.model import SliceStatus
from pytest_octane.octane import schema

SECRET_FILE_TEXT = "xxe-must-never-be-read"


def test_upload_of_pytest_junit_xml(octane: Octane, junit_xml: Path) -> None:
    octane.sim.add_ci_server("ci")  # a build context is sent only for a server Octane knows
    done = octane.upload(junit_xml, args=["--slice-size=4", "--build-server-id=ci",
                                          "--build-job-id=nightly", "--build-id=7"])  # fmt: skip
    assert done.code == 0, done.text
    job = octane.only_job()
    assert f"job {job.job_id}: 10 runs in 3 slice(s)" in done.out
    assert [s.run_count for s in job.slices] == [4, 4, 2]
    assert job.status is SliceStatus.SUCCESS
    octane.assert_every_run_once(10)
    runs = {r["name"]: r for r in octane.sim.runs()}
    assert Counter(r["status"] for r in runs.values()) == {"Passed": 8, "Failed": 1, "Skipped": 1}
    # classname test_shop.TestBasket -> package test_shop, class TestBasket
    assert (runs["test_empty"]["package"], runs["test_empty"]["class"]) == (
        "test_shop",
        "TestBasket",
    )
    assert (runs["test_number[3]"]["package"], runs["test_number[3]"]["class"]) == (
        "",
        "test_shop",
    )
    failed = runs["test_discount_fails"]
    assert "discount must never be negative" in failed["error"]["message"]
    assert "assert" in failed["error"]["trace"]
    assert all(isinstance(r["duration_ms"], int) for r in runs.values())
    assert runs["test_empty"]["build"] == {
        "server_id": "ci",
        "job_id": "nightly",
        "build_id": "7",
    }
    octane.assert_no_secret(done.text)


def test_convert_writes_valid_slices_and_uploading_them_gives_the_same_runs(
    octane: Octane, junit_xml: Path
) -> None:
    out = octane.root / "converted"
    converted = octane.cli("convert", str(junit_xml), "-o", str(out), "--slice-size=3")
    assert converted.code == 0, converted.text
    assert converted.out.strip() == f"10 test runs in 4 slice(s) written to {out}"
    files = sorted(out.glob("*.xml"))
    assert [f.name for f in files] == [f"slice-000{i}.xml" for i in range(1, 5)]
    for file in files:
        assert schema.validate(file.read_bytes()) == [], file
    assert octane.posts() == 0 and octane.jobs() == []  # a dry run: no network, no job

    done = octane.upload(*files, args=["--slice-size=5"])
    assert done.code == 0, done.text
    job = octane.only_job()
    assert [s.run_count for s in job.slices] == [5, 5]
    octane.assert_every_run_once(10)
    names = {r["name"] for r in octane.sim.runs()}
    assert names == {f"test_number[{i}]" for i in range(7)} | {
        "test_empty",
        "test_discount_fails",
        "test_pay",
    }


def test_upload_of_a_handwritten_octane_xml(octane: Octane) -> None:
    results = octane.root / "results.xml"
    results.write_text(
        """<?xml version="1.0" encoding="UTF-8"?>
<test_result>
  <test_runs>
    <test_run module="m" package="shop.api" class="Prices" name="test_tax"
              duration="12" status="Passed" started="1700000000000"/>
    <test_run module="m" package="shop.api" class="Prices" name="test_round"
              duration="3" status="Failed" started="1700000000012">
      <error type="AssertionError" message="off by one">Traceback: line 1</error>
    </test_run>
  </test_runs>
</test_result>
""",
        encoding="utf-8",
    )
    done = octane.upload(results)
    assert done.code == 0, done.text
    octane.assert_every_run_once(2)
    runs = {r["name"]: r for r in octane.sim.runs()}
    assert (runs["test_tax"]["module"], runs["test_tax"]["package"]) == ("m", "shop.api")
    assert runs["test_tax"]["class"] == "Prices"
    assert runs["test_round"]["status"] == "Failed"
    assert runs["test_round"]["error"]["message"] == "off by one"
    assert runs["test_round"]["duration_ms"] == 3


BAD_INPUTS = {
    "xxe": (
        '<?xml version="1.0"?>\n<!DOCTYPE testsuite [<!ENTITY x SYSTEM "file://{secret}">]>\n'
        '<testsuite name="s"><testcase classname="a.B" name="&x;"/></testsuite>',
        "DOCTYPE",
    ),
    "billion-laughs": (
        '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
        + "".join(
            f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
            for i in range(1, 10)
        )
        + ']>\n<testsuite name="s"><testcase classname="a.B" name="&lol9;"/></testsuite>',
        "DOCTYPE",
    ),
    "doctype": (
        '<?xml version="1.0"?>\n<!DOCTYPE testsuite>\n<testsuite name="s"/>',
        "DOCTYPE",
    ),
    "truncated": (
        '<?xml version="1.0"?>\n<testsuite name="s"><testcase classname="a.B" name="t">',
        "not well-formed",
    ),
    "wrong-root": ('<?xml version="1.0"?>\n<html><body/></html>', "<html>"),
    "empty": ("", "not well-formed"),
    "binary": ("\x00\x01\x02garbage", "not well-formed"),
    "octane-bad-status": (
        '<test_result><test_runs><test_run name="t" status="Green" duration="1"/>'
        "</test_runs></test_result>",
        "'Green'",
    ),
    "octane-gherkin": (
        '<test_result><test_runs><gherkin_test_run name="f" duration="1" status="Passed">'
        '<feature name="f" path="a.feature" tag="" started="1"><file/></feature>'
        "</gherkin_test_run></test_runs></test_result>",
        "Gherkin runs",
    ),
    "junit-nameless-testcase": ('<testsuite><testcase classname="a.B"/></testsuite>', "name"),
    "junit-bad-time": (
        '<testsuite><testcase classname="a.B" name="t" time="soon"/></testsuite>',
        "'soon'",
    ),
}


@pytest.mark.parametrize("command", ["upload", "convert"])
@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_and_exit_code_2(octane: Octane, command: str, case: str) -> None:
    secret = octane.root / "outside.txt"
    secret.write_text(SECRET_FILE_TEXT)
    text, expected = BAD_INPUTS[case]
    bad = octane.root / f"{case}.xml"
    bad.write_text(text.replace("{secret}", str(secret)), encoding="utf-8")
    good = octane.root / "good.xml"
    good.write_text('<testsuite><testcase classname="a.B" name="ok"/></testsuite>')
    out = octane.root / "converted"
    if command == "upload":
        result = octane.upload(good, bad)
    else:
        result = octane.cli("convert", str(good), str(bad), "-o", str(out))
    assert result.code == 2, result.text
    (line,) = lines_without_traceback(result.err)
    assert line.startswith("pytest-octane: error: ")
    assert str(bad) in line and expected in line
    assert SECRET_FILE_TEXT not in result.text
    assert result.out == ""
    # refused before anything happened: no request, no job, no slice written
    assert octane.sim.request_log == []
    assert octane.jobs() == []
    assert not out.exists() and not octane.spool.exists()


def test_missing_input_file_is_exit_code_2(octane: Octane) -> None:
    result = octane.upload(octane.root / "nope.xml")
    assert result.code == 2, result.text
    (line,) = lines_without_traceback(result.err)
    assert "nope.xml" in line and "no such file" in line
    assert octane.sim.request_log == []


def test_a_results_file_without_tests_uploads_nothing(octane: Octane) -> None:
    empty = octane.root / "empty.xml"
    empty.write_text('<testsuites><testsuite name="s" tests="0"/></testsuites>')
    result = octane.upload(empty)
    assert result.code == 1, result.text
    (line,) = lines_without_traceback(result.err)
    assert "no test runs" in line
    assert octane.sim.request_log == [] and octane.jobs() == []


def test_convert_into_a_folder_that_cannot_be_created(octane: Octane, junit_xml: Path) -> None:
    blocker = octane.root / "a-file"
    blocker.write_text("not a folder")
    result = octane.cli("convert", str(junit_xml), "-o", str(blocker / "out"))
    assert result.code == 2, result.text
    (line,) = lines_without_traceback(result.err)
    assert str(blocker) in line
