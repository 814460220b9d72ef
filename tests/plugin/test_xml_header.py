"""Options that fill the document header (what octane-collection-tool lets users set)."""

from __future__ import annotations

import pytest

ONE_TEST = "def test_one():\n    pass\n"


@pytest.fixture
def one_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_header=ONE_TEST)


def _header(dry) -> list[tuple[str, dict[str, str]]]:
    """Tag and attributes of every element before ``<test_runs>`` in the first slice."""
    root = dry.slices[0]
    return [(child.tag, dict(child.attrib)) for child in root if child.tag != "test_runs"]


@pytest.mark.usefixtures("one_test")
def test_every_header_option_in_schema_order(run_and_parse) -> None:
    dry = run_and_parse(
        "--octane-started=1700000000123",
        "--octane-tag=OS:Linux",
        "--octane-tag=Browser:Firefox 128",
        "--octane-field=Test_Level:Unit Test",
        "--octane-field=Framework:pytest",
        "--octane-field=Test_Type:Regression",
        "--octane-field=Testing_Tool_Type:pytest-octane",
        "--octane-backlog-item=3001",
        "--octane-backlog-item=3002",
        "--octane-product-area=2001",
        "--octane-milestone=44",
        "--octane-release=1005",
        "--octane-program=7",
        "--octane-suite-id=9001",
        "--octane-external-run-id=nightly #12",
        "--octane-build-server-id=jenkins-1",
        "--octane-build-job-id=shop-tests",
        "--octane-build-id=481",
        "--octane-build-job-name=Shop tests",
        "--octane-build-name=#481",
    )
    root = dry.slices[0]
    assert [child.tag for child in root] == [
        "build",
        "suite_ref",
        "program_ref",
        "release_ref",
        "milestone_ref",
        "backlog_items",
        "product_areas",
        "test_fields",
        "environment",
        "test_runs",
    ]
    assert dict(root.find("build").attrib) == {
        "server_id": "jenkins-1",
        "job_id": "shop-tests",
        "build_id": "481",
        "job_name": "Shop tests",
        "build_name": "#481",
    }
    assert dict(root.find("suite_ref").attrib) == {"id": "9001", "external_run_id": "nightly #12"}
    assert root.find("program_ref").get("id") == "7"
    assert root.find("release_ref").get("id") == "1005"
    assert root.find("milestone_ref").get("id") == "44"
    assert [e.get("id") for e in root.find("backlog_items")] == ["3001", "3002"]
    assert [e.get("id") for e in root.find("product_areas")] == ["2001"]
    assert [(e.get("type"), e.get("value")) for e in root.find("test_fields")] == [
        ("Test_Level", "Unit Test"),
        ("Framework", "pytest"),
        ("Test_Type", "Regression"),
        ("Testing_Tool_Type", "pytest-octane"),
    ]
    assert [(e.get("type"), e.get("value")) for e in root.find("environment")] == [
        ("OS", "Linux"),
        ("Browser", "Firefox 128"),
    ]
    assert dry.run("test_one").get("started") == "1700000000123"


@pytest.mark.usefixtures("one_test")
@pytest.mark.parametrize(
    ("value", "element"),
    [
        ("1005", ("release_ref", {"id": "1005"})),
        ("Release 26.1", ("release", {"name": "Release 26.1"})),
        ("_default_", ("release", {"name": "_default_"})),
    ],
)
def test_release_by_id_name_or_default(
    run_and_parse, value: str, element: tuple[str, dict[str, str]]
) -> None:
    dry = run_and_parse(f"--octane-release={value}")
    assert _header(dry) == [element, ("test_fields", {})]


@pytest.mark.usefixtures("one_test")
def test_no_header_options_give_only_the_pytest_test_fields(run_and_parse) -> None:
    """What the upload sends, the dry run shows: the tool and framework name pytest."""
    dry = run_and_parse()
    assert _header(dry) == [("test_fields", {})]
    fields = [dict(f.attrib) for f in dry.slices[0].find("test_fields")]
    assert fields == [
        {"type": "Testing_Tool_Type", "value": "pytest"},
        {"type": "Framework", "value": "pytest"},
    ]


@pytest.mark.usefixtures("one_test")
def test_header_options_from_the_ini_file(pytester: pytest.Pytester, run_and_parse) -> None:
    pytester.makeini(
        """
        [pytest]
        octane_release = _default_
        octane_milestone = 12
        octane_product_area =
            21
            22
        octane_field =
            Test_Level:Integration
        octane_tag = DB:PostgreSQL
        """
    )
    dry = run_and_parse()
    assert _header(dry) == [
        ("release", {"name": "_default_"}),
        ("milestone_ref", {"id": "12"}),
        ("product_areas", {}),
        ("test_fields", {}),
        ("environment", {}),
    ]
    root = dry.slices[0]
    assert [e.get("id") for e in root.find("product_areas")] == ["21", "22"]
    assert root.find("test_fields/test_field").attrib == {
        "type": "Test_Level",
        "value": "Integration",
    }
    assert root.find("environment/taxonomy").attrib == {"type": "DB", "value": "PostgreSQL"}


@pytest.mark.usefixtures("one_test")
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--octane-field=Priority:High"],
            [
                "--octane-field",
                "'Priority'",
                "Test_Level",
                "Test_Type",
                "Testing_Tool_Type",
                "Framework",
            ],
        ),
        (["--octane-field=Test_Level"], ["--octane-field", "TYPE:VALUE"]),
        (["--octane-tag=:Linux"], ["--octane-tag", "TYPE:VALUE"]),
        (
            ["--octane-build-server-id=jenkins", "--octane-build-id=1"],
            ["--octane-build-server-id", "--octane-build-job-id", "--octane-build-id"],
        ),
        (["--octane-external-run-id=nightly"], ["--octane-external-run-id", "--octane-suite-id"]),
        (["--octane-release=" + "r" * 256], ["--octane-release", "255"]),
        (["--octane-milestone=abc"], ["--octane-milestone", "'abc'", "1 or more"]),
        (["--octane-product-area=0"], ["--octane-product-area", "1 or more"]),
        (["--octane-started=-5"], ["--octane-started", "0 or more"]),
    ],
)
def test_bad_header_options_are_usage_errors(
    pytester: pytest.Pytester, args: list[str], expected: list[str]
) -> None:
    out = pytester.path / "out"
    result = pytester.runpytest(f"--octane-dry-run={out}", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.strip()]
    assert len(errors) == 1, result.errlines
    for text in expected:
        assert text in errors[0]
    assert "Traceback" not in result.stderr.str()
    assert not out.exists()
