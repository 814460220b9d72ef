"""The small rules behind issue 23: safe attachment names, captured output, run links."""

from __future__ import annotations

import pytest

from pytest_octane.errors import ConfigError
from pytest_octane.model import octane_name
from pytest_octane.octane.xml_text import link_problem, pytest_rule, run_link, with_captured
from pytest_octane.settings.ci import ci_defaults, detect_ci
from pytest_octane.settings.parsers import parse_capture, parse_report_url


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("shot.png", ("shot.png", False)),
        ("Shot.PNG", ("Shot.PNG", False)),
        ("trace.har", ("trace.har.zip", True)),
        ("page.html", ("page.html.zip", True)),
        ("video.webm", ("video.webm.zip", True)),
        ("dir/a:b*c?.txt", ("dir_a_b_c_.txt", False)),
        (".env", ("_.env.zip", True)),
        ("  out.log  ", ("out.log", False)),
        ("noext", ("noext.zip", True)),
    ],
)
def test_names_are_made_safe_and_non_whitelisted_files_are_zipped(
    given: str, expected: tuple[str, bool]
) -> None:
    assert octane_name(given) == expected


def test_a_long_name_keeps_its_extension_within_255_characters() -> None:
    name, wrap = octane_name("x" * 400 + ".png")
    assert len(name) == 255 and name.endswith(".png") and not wrap


def test_pytest_rules_look_like_pytests_own() -> None:
    assert pytest_rule("Captured stdout call") == "-" * 29 + " Captured stdout call " + "-" * 29
    assert len(pytest_rule("Captured log call")) == 80


def test_captured_sections_follow_the_trace_and_are_cut_first() -> None:
    sections = [("Captured stdout call", "out\n"), ("Captured log call", "log")]
    text = with_captured("TRACE", sections, 1000)
    assert text.startswith("TRACE\n") and text.index("out") < text.index("log")
    long = with_captured("T" * 500, [("Captured stdout call", "x" * 5000)], 1000)
    assert long.startswith("T" * 500) and len(long) <= 1000
    assert "pytest-octane cut" in long
    assert with_captured("T" * 990, sections, 1000) == "T" * 990  # no room: trace only


def test_run_links_fill_the_template_and_refuse_what_the_xsd_refuses() -> None:
    build = "https://ci.example/build/7"
    assert run_link(None, build, "t.py::t[a b]", "t[a b]") == build
    assert run_link("{build_url}#{nodeid}", build, "t.py::t[1]", "t[1]") == (
        build + "#t.py::t%5B1%5D"
    )
    assert run_link(None, None, "t.py::t", "t") is None
    assert run_link("{build_url}/x", None, "t.py::t", "t") is None
    assert run_link("https://x/" + "y" * 600, None, "n", "n") is None
    assert "needs {build_url}" in str(link_problem("{build_url}/x", None, None))
    assert "512" in str(link_problem("https://x/" + "y" * 600, None, None))
    assert link_problem(None, None, None) is None
    assert link_problem(None, build, build) is None


def test_a_run_link_of_a_test_id_with_a_lone_surrogate_is_a_url_not_a_crash() -> None:
    link = run_link("https://ci.example/t/{nodeid}?n={name}", None, "t.py::t[\udc80]", "t[\udc80]")
    assert link == "https://ci.example/t/t.py::t%5B%EF%BF%BD%5D?n=t%5B%EF%BF%BD%5D"


def test_capture_and_report_url_values_are_checked() -> None:
    assert parse_capture("Out-Err", "option --octane-capture") == "out-err"
    with pytest.raises(ConfigError, match="--octane-capture: 'both' is not allowed"):
        parse_capture("both", "option --octane-capture")
    with pytest.raises(ConfigError, match="placeholders are"):
        parse_report_url("https://x/{oops}", "option --octane-report-url")
    with pytest.raises(ConfigError, match="http"):
        parse_report_url("file:///{name}", "option --octane-report-url")


def test_ci_detection_gives_the_build_url_and_the_server_type() -> None:
    info = detect_ci(
        {
            "GITHUB_ACTIONS": "true",
            "GITHUB_REPOSITORY": "org/repo",
            "GITHUB_WORKFLOW": "ci",
            "GITHUB_RUN_ID": "5",
        }
    )
    assert info is not None
    values = ci_defaults(info)
    assert values["build_url"] == "https://github.com/org/repo/actions/runs/5"
    assert values["ci_server_type"] == "github_actions"
