"""Text made fit for Octane's result XML (characters XML 1.0 can carry, long traces cut), and
the document header as data (``ResultHeader``: what a whole document says about its runs).

Shared by the plain writer (results_xml.py) and the Gherkin writer (gherkin_xml.py); free of
lxml, so that the pytest process, which only journals the header, does not import it.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple
from urllib.parse import quote

from pytest_octane.settings import Settings

__all__ = [
    "LONG_MAX",
    "BuildContext",
    "CharClass",
    "ResultHeader",
    "build_context_of",
    "clean",
    "clean_limited",
    "cut_trace",
    "fit_long",
    "header_from_settings",
    "link_problem",
    "ms_of_seconds",
    "parser_reason",
    "pytest_rule",
    "run_link",
    "with_captured",
]

#: The XSD's ``xs:long`` range: every duration and start time Octane's XML can carry.
LONG_MAX = 2**63 - 1
_QUOTE_LIMIT = 40


class CharClass:
    """A character class of ASCII characters plus those beyond ASCII that XML 1.0's ``Char``
    production leaves out (lone surrogates, U+FFFE, U+FFFF: none lies beyond the BMP).

    The ASCII part is compiled at once; the whole class only for the first text that is not
    ASCII: its surrogate range costs about 1 ms to compile, at each import (issue 28).  (A
    negated class, ``[^\\t\\n\\r\\x20-\\ud7ff...]``, costs 4.5 ms.)
    """

    def __init__(self, ascii_chars: str) -> None:
        self._ascii = re.compile(f"[{ascii_chars}]")
        self._source = f"[{ascii_chars}\ud800-\udfff\ufffe\uffff]"
        self._whole: re.Pattern[str] | None = None

    def pattern_for(self, text: str) -> re.Pattern[str]:
        """The class as a pattern that finds its characters in ``text``."""
        if text.isascii():
            return self._ascii
        if self._whole is None:
            self._whole = re.compile(self._source)
        return self._whole

    def found_in(self, text: str) -> bool:
        """Some character of the class is in ``text``."""
        if text.isascii():
            return self._ascii.search(text) is not None
        return self.pattern_for(text).search(text) is not None


#: what XML 1.0's ``Char`` production leaves out
_INVALID_XML = CharClass("\x00-\x08\x0b\x0c\x0e-\x1f")


def clean(text: str) -> str:
    """Replace characters XML 1.0 cannot carry (NUL, control characters, lone surrogates)."""
    return _INVALID_XML.pattern_for(text).sub("\ufffd", text)


def clean_limited(text: str, limit: int = 255) -> str:
    return clean(text)[:limit]


def cut_trace(trace: str, limit: int) -> str:
    """Keep the head and tail of a long trace with a visible marker between them."""
    if len(trace) <= limit:
        return trace
    head = limit * 2 // 3
    tail = limit - head
    dropped = len(trace) - head - tail
    return (
        f"{trace[:head]}\n\n[... pytest-octane cut {dropped} of {len(trace)} characters "
        f"(--octane-max-trace={limit}) ...]\n\n{trace[-tail:]}"
    )


def fit_long(value: int) -> int:
    """``value`` inside ``0 ..`` :data:`LONG_MAX` (the writer's promise: every duration and
    start time is a whole, non-negative ``xs:long``, whatever a report or reader gave)."""
    return min(max(0, value), LONG_MAX)


def ms_of_seconds(seconds: float) -> int | None:
    """Whole milliseconds of ``seconds``, or None when that is not a possible duration or
    time (infinite, NaN, negative, or beyond ``xs:long``)."""
    if not math.isfinite(seconds) or not 0 <= seconds <= LONG_MAX // 1000:
        return None
    return min(round(seconds * 1000), LONG_MAX)


def parser_reason(message: str) -> str:
    """A parser's message as one line: libxml2 quotes the start of unfinished CDATA or a
    comment on the following lines; that quote is joined and cut."""
    message = re.sub(r"(, line \d+)+(, column \d+)?$", "", message.strip())
    first, _, rest = message.partition("\n")
    first = first.strip()
    quoted = " ".join(rest.split())
    if not quoted:
        return first
    cut = quoted[:_QUOTE_LIMIT] + ("…" if len(quoted) > _QUOTE_LIMIT else "")
    return f"{first} (at {cut!r})"


#: The XSD's ``urlType``: 6 to 512 characters; we send only http(s) links.
_URL_MIN, _URL_MAX = 6, 512


def link_problem(template: str | None, build_url: str | None, url: str | None) -> str | None:
    """Why a run got no ``external_report_url`` although one was asked for (None: no problem)."""
    if url is not None or not (template or build_url):
        return None
    if template and "{build_url}" in template and not build_url:
        return (
            f"--octane-report-url {template!r} needs {{build_url}}, but no CI build URL was "
            "detected or given (--octane-build-url); the runs are sent without a link"
        )
    return (
        "a run link is not an http(s) URL of 6 to 512 characters (Octane's rule for "
        "external_report_url); runs whose link does not fit are sent without it"
    )


def run_link(template: str | None, build_url: str | None, nodeid: str, name: str) -> str | None:
    """A run's ``external_report_url``: ``template`` (default: the build's page) filled in,
    or None when there is none or it does not fit the XSD's URL rule (see link_problem)."""
    template = template or ("{build_url}" if build_url else None)
    if template is None or ("{build_url}" in template and not build_url):
        return None
    # cleaned first: a lone surrogate (a test id from bytes) cannot be encoded for quoting
    url = template.format(
        build_url=build_url or "",
        nodeid=quote(clean(nodeid), safe="/:"),
        name=quote(clean(name), safe=""),
    )
    if _URL_MIN <= len(url) <= _URL_MAX and url.lower().startswith(("http://", "https://")):
        return clean(url)
    return None


#: pytest's section headings are ``-`` rules of this width around the title (terminal.py).
_RULE_WIDTH = 80
_CUT_NOTE = "\n[... pytest-octane cut {} of {} characters of captured output ...]\n"


def pytest_rule(title: str) -> str:
    """A heading as pytest prints it: ``------ Captured stdout call ------``."""
    side = max((_RULE_WIDTH - len(title) - 2) // 2, 1)
    line = f"{'-' * side} {title} {'-' * side}"
    return line + "-" if len(line) + 1 <= _RULE_WIDTH else line


def with_captured(trace: str, sections: list[tuple[str, str]], limit: int) -> str:
    """``trace`` followed by the captured ``sections`` under pytest's headings, within
    ``limit`` characters: the trace stays whole (the writer cuts a trace over the limit as
    before), the captured part is trimmed first (its head is kept)."""
    if not sections:
        return trace
    captured = "".join(f"\n{pytest_rule(title)}\n{text.rstrip()}\n" for title, text in sections)
    room = limit - len(trace)
    if len(captured) <= room:
        return trace + captured
    note = _CUT_NOTE.format(len(captured), len(captured))
    keep = room - len(note) - 8  # the numbers in the note may be a few digits longer
    if keep < len(pytest_rule(sections[0][0])) + 40:
        return trace  # no room worth using: the trace is what matters
    return trace + captured[:keep] + _CUT_NOTE.format(len(captured) - keep, len(captured))


class BuildContext(NamedTuple):
    """CI build that produced the runs (XSD ``<build>``): all three ids or none.

    The document's records are named tuples, not frozen dataclasses: this module is imported
    at every session's start, and defining a frozen dataclass costs about 1 ms on Python 3.11
    (issue 28)."""

    server_id: str
    job_id: str
    build_id: str
    job_name: str | None = None
    build_name: str | None = None

    def as_dict(self) -> dict[str, str]:
        """The attributes that are set, in the XSD's order."""
        return {name: value for name, value in self._asdict().items() if value is not None}


class ResultHeader(NamedTuple):
    """What a whole document says about its runs (the XSD's global elements)."""

    build: BuildContext | None = None
    suite_id: int | None = None
    external_run_id: str | None = None
    program_id: int | None = None
    release: int | str | None = None
    milestone_id: int | None = None
    backlog_item_ids: tuple[int, ...] = ()
    product_area_ids: tuple[int, ...] = ()
    test_fields: tuple[tuple[str, str], ...] = ()
    taxonomies: tuple[tuple[str, str], ...] = ()
    #: each run's ``external_report_url``: a template ({build_url}, {nodeid}, {name}) and the
    #: CI build's page; with no template the build's page itself (see xml_text.run_link)
    report_url: str | None = None
    build_url: str | None = None


def build_context_of(settings: Settings) -> BuildContext | None:
    if not (settings.build_server_id and settings.build_job_id and settings.build_id):
        return None
    return BuildContext(
        server_id=settings.build_server_id,
        job_id=settings.build_job_id,
        build_id=settings.build_id,
        job_name=settings.build_job_name,
        build_name=settings.build_name,
    )


def header_from_settings(settings: Settings, *, suite_id: int | None = None) -> ResultHeader:
    """The document-level elements the user configured."""
    return ResultHeader(
        build=build_context_of(settings),
        suite_id=suite_id if suite_id is not None else settings.suite_id,
        external_run_id=settings.external_run_id,
        program_id=settings.program,
        release=settings.release,
        milestone_id=settings.milestone,
        backlog_item_ids=settings.backlog_item,
        product_area_ids=settings.product_area,
        test_fields=settings.effective_test_fields,
        taxonomies=settings.tag,
        report_url=settings.report_url,
        build_url=settings.build_url,
    )
