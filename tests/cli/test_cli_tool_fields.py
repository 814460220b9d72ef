"""Files from other tools are not labelled as pytest results."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from pytest_octane.cli import main

JUNIT = '<testsuite><testcase classname="com.shop.CartTest" name="adds" time="0.1"/></testsuite>'


def test_converted_junit_carries_no_pytest_test_fields(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text(JUNIT)
    assert main(["convert", str(junit), "-o", str(tmp_path / "out")]) == 0
    root = etree.parse(str(tmp_path / "out" / "slice-0001.xml")).getroot()
    assert root.find("test_fields") is None


def test_fields_given_on_the_command_line_are_kept(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text(JUNIT)
    out = tmp_path / "out"
    assert main(["convert", str(junit), "-o", str(out), "--field", "Framework:JUnit"]) == 0
    fields = etree.parse(str(out / "slice-0001.xml")).getroot().find("test_fields")
    assert [dict(f.attrib) for f in fields] == [{"type": "Framework", "value": "JUnit"}]
