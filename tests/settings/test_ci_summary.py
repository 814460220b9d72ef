"""GitHub step summary: appended as Markdown, and never able to break the run."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from pytest_octane.settings.ci import write_github_step_summary

LINES = [
    "job 20240501-100000-ab12cd34: 8 runs in 2 slice(s) to shared space 1001, workspace 1002",
    "slices: 1 ok, 1 failed, 0 unfinished",
    "slice 2 failed: Octane refused POST https://octane.example.com/api/x: 401 <hidden>",
    "to re-upload the failed slices run: pytest-octane retry 20240501-100000-ab12cd34 "
    "--task-store octane_task_logs",
]


def test_summary_is_appended_after_what_earlier_steps_wrote(tmp_path: Path) -> None:
    summary = tmp_path / "step_summary.md"
    summary.write_text("## Tests\n\nall green\n\n", encoding="utf-8")
    written = write_github_step_summary(
        {"GITHUB_STEP_SUMMARY": str(summary)}, LINES, "Octane upload"
    )
    assert written == summary
    assert summary.read_text(encoding="utf-8") == (
        "## Tests\n\nall green\n\n"
        "### Octane upload\n\n"
        "- job 20240501-100000-ab12cd34: 8 runs in 2 slice(s) to shared space 1001, "
        "workspace 1002\n"
        "- slices: 1 ok, 1 failed, 0 unfinished\n"
        "- slice 2 failed: Octane refused POST <https://octane.example.com/api/x>: "
        "401 &lt;hidden&gt;\n"
        "- to re-upload the failed slices run: pytest-octane retry 20240501-100000-ab12cd34 "
        "--task-store octane\\_task\\_logs\n\n"
    )


def test_two_summaries_in_one_step_are_both_kept(tmp_path: Path) -> None:
    environ = {"GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
    write_github_step_summary(environ, ["first"], "one")
    write_github_step_summary(environ, ["second"], "two")
    text = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert text == "### one\n\n- first\n\n### two\n\n- second\n\n"


def test_markdown_in_the_text_cannot_change_the_layout(tmp_path: Path) -> None:
    environ = {"GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
    lines = ["# not a heading", "- not a nested list", "1. not a numbered list", "*x* [a](b) |"]
    write_github_step_summary(environ, lines, "T_1")
    assert (tmp_path / "summary.md").read_text(encoding="utf-8").splitlines() == [
        "### T\\_1",
        "",
        "- \\# not a heading",
        "- \\- not a nested list",
        "- 1\\. not a numbered list",
        "- \\*x\\* \\[a\\](b) \\|",
        "",
    ]


def test_a_very_long_summary_is_capped(tmp_path: Path) -> None:
    environ = {"GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
    lines = [f"slice {i} failed: " + "e" * 5000 for i in range(500)]
    write_github_step_summary(environ, lines, "T")
    text = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert len(text) < 250_000
    assert "and 300 more lines in the job log" in text


def test_without_github_step_summary_nothing_is_written(tmp_path: Path) -> None:
    assert write_github_step_summary({}, LINES, "Octane upload") is None
    assert write_github_step_summary({"GITHUB_STEP_SUMMARY": ""}, LINES, "Octane") is None
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["missing-folder", "a-folder"])
def test_an_unwritable_summary_file_is_a_warning_not_an_error(
    tmp_path: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    target = tmp_path / "no" / "such" / "file.md" if kind == "missing-folder" else tmp_path
    with caplog.at_level(logging.WARNING, logger="pytest_octane.settings.ci"):
        result = write_github_step_summary({"GITHUB_STEP_SUMMARY": str(target)}, LINES, "T")
    assert result is None
    assert len(caplog.records) == 1
    assert caplog.records[0].levelno == logging.WARNING
    assert f"GITHUB_STEP_SUMMARY file {target}" in caplog.messages[0]
