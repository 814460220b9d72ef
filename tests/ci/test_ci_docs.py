"""The documentation cannot drift from the code: generated parts are compared, quoted
messages are looked up in the source, and links must lead somewhere."""

from __future__ import annotations

import ast
import functools
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_octane.cli import build_parser
from pytest_octane.cli.docgen import (
    GROUPS,
    REGENERATE,
    render_configuration_reference,
    tool_commands,
)
from pytest_octane.settings import OPTIONS

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PACKAGE = ROOT / "pytest_octane"
OUR_DOCS = ["configuration.md", "ci-recipes.md", "getting-started.md", "troubleshooting.md"]

#: Stable parts of the messages docs/troubleshooting.md quotes; each must still be printed
#: by the code (in one string literal) and still be quoted in the page.
QUOTED_MESSAGES = [
    "is not registered in Octane: the runs are sent without the build context (each run "
    "still links to its build); for pipeline linking pass --octane-register-ci-server",
    "the slices are sent again without it (each run keeps its link to the build)",
    "(the runs are uploaded)",
    "'pytest-octane resume' sends them",
    "Octane refused the sign-in at ",
    "check the credentials path and that the account or API key is valid and has access to "
    "this shared space",
    "with 401 even after a fresh sign-in with the credentials from ",
    "check the credentials path and that the account may use shared space ",
    "lacks a permission for this",
    "no Octane credentials for shared space ",
    "or point credentials_path (credentialsPath) at the right file",
    "Octane's test-result queue is full; retrying ",
    "Octane's test-result queue for this shared space is full",
    "of it waiting for the full queue",
    "gave up after",
    "JIRA keys with no Octane story (",
    " matches several stories: ",
    "duplicate application modules named ",
    "— clean up the others in Octane",
    "is not Octane's JSON (HTTP ",
    "the server URL is probably wrong; expected the Octane root such as https://octane.example.com",
    "the server URL is probably wrong (http instead of https, or a login page in the way)",
    "cookie, so it is not Octane's",
    "has an unexpected path ",
    "optionally followed by /shared_spaces/<space id>/workspaces/<workspace id> "
    "(with or without /api), or the UI address https://octane.example.com/ui/?p=<space "
    "id>/<workspace id>",
    "set verifySSL (verify_ssl) to the path of the CA bundle (PEM) that signed it, or to "
    "false only for a test server",
    "is neither true/false nor an existing CA bundle file; give the path of a PEM file with "
    "your CA certificates",
    "TLS certificate verification is off for Octane at ",
    "the TLS handshake for ",
    "could not reach Octane for ",
    "check the server URL, the network and the proxy settings, or raise the timeouts",
    "to finish the upload later run: ",
    "(the connect timeout plus twice the read timeout): it arrived too slowly",
    "the most pytest-octane reads from one Octane answer",
    "only that much was read)",
    "pytest-octane: Ctrl-C: sending no more slices; waiting for the requests in flight ",
    "press Ctrl-C again to stop at once",
    "pytest-octane: Ctrl-C again: stopped at once; to finish the upload later run: ",
    "interrupted (Ctrl-C): ",
    "to re-upload the failed slices run: ",
    "to re-upload the failed slices after the fix run: ",
    "--octane-strict changed the exit code from 0 to 1:",
    "provide the credentials, then upload the spooled results",
    "retry with the right --space/--workspace (or --url)",
    "instead of the job's recorded ",
    "exited with status ",
    "(its output is not shown, it may hold secrets); run the command yourself to see its message",
    "was not found; install it or give its full path in credentials_command",
    "pytest-octane resume ",
    "pytest-octane retry ",
    ": Octane warned: ",
    "the build context needs all three of --octane-build-server-id, --octane-build-job-id "
    "and --octane-build-id",
    # issue 24
    "(HTTP 404 on its status; Octane forgets the tasks it had queued when it restarts); "
    "the slice is sent again",
    "is not a possible duration (a finite number of seconds from 0 to ",
    "); fix or remove that attribute",
    "is the file complete (was the run that wrote it interrupted)?",
    "the XML ends before its elements are closed",
    "interrupted (Ctrl-C) while spooling: every slice is spooled, none was sent",
    "pytest-octane: Ctrl-C again: stopped at once while spooling; nothing was recorded or sent",
    "repair or delete that line",
]


def _squash(text: str) -> str:
    return " ".join(text.split())


@functools.cache
def _source_messages() -> tuple[str, ...]:
    """Every string literal of the package (not the simulator), f-string holes as NUL."""

    def render(node: ast.AST) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.JoinedStr):
            return "".join(
                str(v.value) if isinstance(v, ast.Constant) else "\0" for v in node.values
            )
        return None

    texts = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "simulator" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            text = render(node)
            if text:
                texts.append(_squash(text))
    return tuple(texts)


def test_configuration_reference_is_up_to_date() -> None:
    committed = (DOCS / "configuration.md").read_text(encoding="utf-8")
    assert committed == render_configuration_reference(), (
        f"docs/configuration.md is out of date with the options; regenerate it with: {REGENERATE}"
    )


def test_the_regenerate_command_prints_the_reference() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest_octane.cli.docgen"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    assert result.stdout == render_configuration_reference()


def test_every_setting_has_a_row_with_all_its_names() -> None:
    text = render_configuration_reference()
    rows = {line.split(" | ")[0].removeprefix("| "): line for line in text.splitlines()}
    for spec in OPTIONS:
        row = rows[spec.name]
        for name in (spec.flag, spec.env, spec.ini, spec.spaces_key):
            if name:
                assert f"`{name}" in row, (spec.name, name)
        assert spec.help.split()[0].replace("_", "\\_") in row


def test_every_option_group_has_a_title() -> None:
    assert {spec.group for spec in OPTIONS} <= set(GROUPS)


def test_the_cli_column_counts_only_options_that_set_the_same_setting() -> None:
    accepted = tool_commands(build_parser())
    assert "simulator" not in accepted["octane_jira_field"]  # its --jira-field is its own
    assert "upload" in accepted["octane_jira_field"]
    row = next(
        line
        for line in render_configuration_reference().splitlines()
        if line.startswith("| jira_field ")
    )
    assert "`--jira-field` (upload, retry, resume) |" in row


def test_every_pytest_option_of_the_plugin_is_in_the_reference(
    pytester: pytest.Pytester,
) -> None:
    result = pytester.runpytest("--help")
    flags = set(re.findall(r"--octane-[a-z-]+", result.stdout.str()))
    assert "--octane-space" in flags and "--octane-dry-run" in flags
    reference = (DOCS / "configuration.md").read_text(encoding="utf-8")
    assert sorted(f for f in flags if f"`{f}" not in reference) == []


@pytest.mark.parametrize("fragment", QUOTED_MESSAGES, ids=lambda f: f.split()[0].strip(":("))
def test_troubleshooting_quotes_what_the_code_prints(fragment: str) -> None:
    page = _squash((DOCS / "troubleshooting.md").read_text(encoding="utf-8"))
    assert fragment in page, f"docs/troubleshooting.md no longer quotes {fragment!r}"
    assert any(fragment in text for text in _source_messages()), (
        f"the code no longer prints {fragment!r}; update docs/troubleshooting.md and "
        "QUOTED_MESSAGES"
    )


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    anchors = set()
    for heading in re.findall(r"^#+ (.+)$", markdown, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


@pytest.mark.parametrize("page", OUR_DOCS)
def test_links_between_pages_lead_somewhere(page: str) -> None:
    text = (DOCS / page).read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)  # no links in code blocks
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    assert links or page == "configuration.md"
    for link in links:
        if re.match(r"[a-z]+://", link):
            continue
        target, _, anchor = link.partition("#")
        file = (DOCS / target) if target else DOCS / page
        assert file.is_file(), f"{page}: link {link!r} leads to no file"
        if anchor and file.suffix == ".md":
            assert anchor in _anchors(file.read_text(encoding="utf-8")), (
                f"{page}: link {link!r} leads to no heading"
            )
