"""Turn pytest's reports into one ``TestRun`` per test item.

Setup, call and teardown reports of one item are merged when its teardown report arrives;
under pytest-xdist reports of different items interleave, so state is keyed by
``(nodeid, worker)``.  An attempt that pytest-rerunfailures marks ``rerun`` is dropped, so
only the final attempt counts.  Per report the work is O(1) and touches no files.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest

from pytest_octane.octane.xml_text import LONG_MAX, ms_of_seconds, with_captured
from pytest_octane.plugin.attrs import ATTACH_ATTR, BDD_ATTR, JIRA_ATTR
from pytest_octane.reported import Reported, RunStatus, cut_name, split_nodeid

if TYPE_CHECKING:
    from pytest_octane.model import Attachment, RunError, TestRun

__all__ = ["ResultCollector", "captured_sections", "exception_type"]

#: Which of pytest's "Captured ..." sections each ``--octane-capture`` mode sends.
_CAPTURED = {
    "no": (),
    "log": ("Captured log",),
    "system-out": ("Captured stdout",),
    "system-err": ("Captured stderr",),
    "out-err": ("Captured stdout", "Captured stderr"),
    "all": ("Captured stdout", "Captured stderr", "Captured log"),
}


def captured_sections(sections: list[tuple[str, str]], mode: str) -> list[tuple[str, str]]:
    """The report's captured sections ``mode`` asks for, in pytest's order, non-empty only."""
    kinds = _CAPTURED[mode]
    if not kinds:
        return []
    return [(t, text) for t, text in sections if text.strip() and t.startswith(kinds)]


def _longrepr_text(report: pytest.TestReport | pytest.CollectReport) -> str:
    text = getattr(report, "longreprtext", None)
    if text is None:
        text = str(report.longrepr or "")
    return str(text)


def _crash_message(report: pytest.TestReport | pytest.CollectReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message)
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        return str(report.longrepr[2])
    text = _longrepr_text(report).strip().splitlines()
    return text[-1] if text else ""


def _skip_reason(report: pytest.TestReport) -> str:
    if hasattr(report, "wasxfail"):
        # pytest < 8 writes "reason: " before the reason of pytest.xfail(); junitxml drops it
        reason = str(report.wasxfail).removeprefix("reason: ")
        return f"xfail: {reason}" if reason else "xfail"
    message = _crash_message(report)
    return message.removeprefix("Skipped: ")


def exception_type(report: pytest.TestReport | pytest.CollectReport) -> str | None:
    """The exception's type name as pytest printed it (``file.py:12: KeyError``).

    Read from the report itself, so it also works for reports that came from xdist workers
    and needs no per-test hook.
    """
    traceback = getattr(report.longrepr, "reprtraceback", None)
    entries = getattr(traceback, "reprentries", None)
    if entries:
        location = getattr(entries[-1], "reprfileloc", None)
        message = str(getattr(location, "message", "") or "")
        if re.fullmatch(_TYPE_NAME, message):
            return message
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        match = re.match(_TYPE_PREFIX, str(crash.message))
        if match:
            return match.group(1)
    return None


# patterns for failures only: compiled (and cached by ``re``) at the first one, not at each start
_TYPE_NAME = r"[A-Za-z_][\w.]*"
_TYPE_PREFIX = r"([A-Za-z_][\w.]*): "


def _error_of(report: pytest.TestReport | pytest.CollectReport, default_type: str) -> RunError:
    message = _crash_message(report)
    exc_type = exception_type(report) or default_type
    first = message.splitlines()[0] if message else ""
    prefix = f"{exc_type}: "
    if first.startswith(prefix):
        message = message[len(prefix) :]
    from pytest_octane.model import RunError  # the records: only for a result that needs one

    return RunError(type=str(exc_type), message=message, trace=_longrepr_text(report))


_EXC_LINE = r"(?:E\s+)?([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)):\s?(.*)"


def _collect_error_of(report: pytest.CollectReport) -> RunError:
    """A collection error's longrepr is often plain text (``E   ModuleNotFoundError: ...``):
    take the exception type and message from its crash line."""
    error = _error_of(report, "CollectionError")
    match = re.fullmatch(_EXC_LINE, error.message.strip())
    if match and error.type == "CollectionError":
        return replace(error, type=match.group(1), message=match.group(2))
    return error


_LineWriter = Callable[[str, RunStatus, int, int, str | None, tuple[str, ...]], bytes]


def _journal_writers() -> tuple[_LineWriter, Callable[[TestRun], bytes]]:
    """``journal.reported_line`` and ``journal.run_line``, imported when the first result is
    journaled: a dry run never is."""
    from pytest_octane.job.journal import reported_line, run_line

    return reported_line, run_line


def _drop(item: Attachment) -> None:
    with contextlib.suppress(OSError):
        os.remove(item.path)


class _Pending:
    """What is known of one item while its reports arrive (and, finished, until its run or
    line is made).  A plain class, not a dataclass: one is made per test, and defining a
    dataclass takes about 1 ms at import on Python 3.11 (issue 28)."""

    __slots__ = (
        "attachments",
        "bdd",
        "description",
        "duration",
        "error",
        "ident",
        "jira_keys",
        "nodeid",
        "rerun",
        "sections",
        "started",
        "status",
    )

    def __init__(self, nodeid: str, started: float = 0.0) -> None:
        self.nodeid = nodeid
        self.started = started
        self.duration = 0.0
        self.status = _PASSED
        self.error: RunError | None = None
        self.description: str | None = None
        self.jira_keys: tuple[str, ...] = ()
        self.rerun = False
        self.bdd: dict[str, Any] | None = None  # a pytest-bdd scenario's data (see bdd.py)
        self.sections: list[tuple[str, str]] | None = None  # the last report's captured output
        self.attachments: list[dict[str, Any]] | None = None
        #: the id object its reports share (``add_report``); None under xdist
        self.ident: object = None


class ResultCollector:
    """Collects ``TestRun`` objects in the order their items finish."""

    def __init__(
        self,
        *,
        module: str | None = None,
        jira_keys: Mapping[str, tuple[str, ...]] | None = None,
        capture: str = "no",
        capture_passed: bool = False,
        max_trace: int = 20000,
        attachments_max_bytes: int | None = None,
        on_waiting: Callable[[], None] | None = None,
    ) -> None:
        #: finished items in the order they finished: a run, or what makes one (made on
        #: demand: a dry run makes all 5,000 at the session's end, in one tight loop)
        self._done: list[TestRun | _Pending] = []
        self._capture = capture
        self._keep_sections = capture != "no"  # read for every report
        self._capture_passed = capture_passed
        self._max_trace = max_trace
        self._attach_budget = attachments_max_bytes
        #: one line per kind of trouble (said once), for the session summary
        self.notes: list[str] = []
        self._noted: set[str] = set()
        self._pending: dict[str | tuple[str, Any], _Pending] = {}
        self._last: _Pending | None = None  # the item of the last setup, until its teardown
        self._module = module or ""
        # keys read at collection in this process; xdist workers' keys come on the reports
        self._jira_keys: Mapping[str, tuple[str, ...]] = {} if jira_keys is None else jira_keys
        self._feature_texts: dict[str, str] = {}  # one copy of each feature file's text
        #: where a plain result's journal line goes as soon as it is known (journal_plain)
        self._sink: Callable[[bytes, RunStatus], None] | None = None
        self._sink_started: int | None = None
        #: journal.reported_line, imported by the first caller that journals (a dry run
        #: journals nothing and does not import the journal: issue 28)
        self._line_of: _LineWriter | None = None
        #: called when a finished item's run waits in :attr:`runs` (the upload takes it)
        self._on_waiting = on_waiting

    @property
    def runs(self) -> list[TestRun]:
        """Every finished item's run so far, in the order they finished."""
        done = self._done
        for index, item in enumerate(done):
            if type(item) is _Pending:
                done[index] = self._finish(item)
        return done  # type: ignore[return-value]  # every item is a TestRun now

    @property
    def has_runs(self) -> bool:
        return bool(self._done)

    def take_runs(self) -> list[TestRun]:
        """The finished items' runs, handed over: the collector keeps none of them."""
        runs = self.runs
        self._done = []
        return runs

    def journal_plain(
        self, sink: Callable[[bytes, RunStatus], None] | None, *, started_ms: int | None = None
    ) -> None:
        """From now on a plain result is not kept: its journal line (:meth:`_reported_line`)
        and status go to ``sink`` the moment its teardown is reported, the upload's per-test
        path (issue 28); any other result waits for :meth:`take_lines` as before.  None
        stops it (a hook that changes runs sees every run)."""
        self._line_of = self._line_of or _journal_writers()[0]
        self._sink, self._sink_started = sink, started_ms

    def take_lines(self, started_ms: int | None = None) -> list[tuple[RunStatus, bytes]]:
        """The finished items' runs as journal lines (with their status), handed over like
        :meth:`take_runs`: a plain result as what its reports said (:meth:`_reported_line`),
        without making its run; ``started_ms`` replaces each run's start
        (``--octane-started``).  Read back, each line is the run :meth:`take_runs` makes."""
        self._line_of, run_line = _journal_writers()
        done, self._done = self._done, []
        lines: list[tuple[RunStatus, bytes]] = []
        for item in done:
            if isinstance(item, _Pending):
                line = self._reported_line(item, started_ms)
                if line is not None:
                    lines.append((item.status, line))
                    continue
                run = self._finish(item)
            else:  # a module's collection error or skip
                run = item
            if started_ms is not None:
                run = replace(run, started_ms=started_ms)
            lines.append((run.status, run_line(run)))
        return lines

    def _reported_line(self, pending: _Pending, started_ms: int | None) -> bytes | None:
        """The journal line of a plain result (``journal.reported_line``), or None for any
        other (an error, a scenario, attachments or captured output to add)."""
        reported = self._reported(pending, started_ms)
        if reported is None or self._line_of is None:
            return None
        try:
            return self._line_of(*reported)
        except TypeError:  # a key that is no str: the generic codec says what it is
            return None

    def take_results(self, started_ms: int | None = None) -> list[TestRun | Reported]:
        """The finished items handed over like :meth:`take_runs`, a plain result as what its
        reports said (:meth:`_reported`): a dry run writes those without making their runs."""
        done, self._done = self._done, []
        results: list[TestRun | Reported] = []
        for item in done:
            if isinstance(item, _Pending):
                reported = self._reported(item, started_ms)
                if reported is not None:
                    results.append(reported)
                    continue
                run = self._finish(item)
            else:
                run = item
            results.append(run if started_ms is None else replace(run, started_ms=started_ms))
        return results

    @property
    def has_scenarios(self) -> bool:
        """Some finished item is a pytest-bdd scenario (its run is written as Gherkin)."""
        return any(
            item.bdd is not None if isinstance(item, _Pending) else item.gherkin is not None
            for item in self._done
        )

    def _reported(self, pending: _Pending, started_ms: int | None) -> Reported | None:
        """A plain result (no error, scenario or attachment, and no captured output to add)
        as its reports said it: the fields its journal line and its dry run's element are
        written from, the names left to the writer; None for any other."""
        if (
            pending.error is not None
            or pending.bdd is not None
            or pending.attachments
            or (pending.sections and self._capture_passed)
        ):
            return None
        # _ms's first case written out, here and for the duration: two calls a test less
        if started_ms is None:
            started = pending.started
            if type(started) is float and 0.0 <= started <= _MAX_SECONDS:
                started_ms = round(started * 1000)
            else:
                started_ms = _ms(started)
        nodeid, duration = pending.nodeid, pending.duration
        return (
            nodeid,
            pending.status,
            round(duration * 1000)
            if type(duration) is float and 0.0 <= duration <= _MAX_SECONDS
            else _ms(duration),
            started_ms,
            pending.description,
            pending.jira_keys or self._jira_keys.get(nodeid, ()),
        )

    def add_report(self, report: pytest.TestReport) -> bool:
        """Take one phase's report; True when it finished an item whose run now waits in
        :attr:`runs` (a plain one given to the :meth:`journal_plain` sink does not wait)."""
        waiting = len(self._done)
        self.pytest_runtest_logreport(report)
        return len(self._done) > waiting

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """:meth:`add_report` as pytest's hook: the collector is registered as a plugin of its
        own, so that each of a test's three reports costs one call (issue 28)."""
        # the report's attributes as a dict: what plugins put on it is read without an
        # AttributeError for an absent one (three reports a test: this is the hot path)
        fields = vars(report)
        when: str = fields["when"]
        # the item's id: one object in each of its reports (pytest 9 keeps a NodeId, earlier
        # versions the node id string), so the reports after a setup find their item without
        # making its node id again (a property of pytest 9's reports)
        ident = fields.get("_id") or fields.get("nodeid")
        pending = self._last
        # (a pending item of xdist, or of a report with neither id, has no ident: never found)
        if pending is None or pending.ident is not ident or when == "setup" or "node" in fields:
            nodeid = report.nodeid
            node = fields.get("node")  # xdist's worker node, on the controller
            key = nodeid if node is None else (nodeid, node)
            # every attempt of an item starts with its setup: pytest-rerunfailures before
            # 16.7 logs no teardown for an attempt it reruns (its "rerun" report is that
            # attempt's last)
            pending = None if when == "setup" else self._pending.get(key)
            if pending is None:
                pending = self._pending[key] = _Pending(nodeid, fields["start"])
                if node is None and ident is not None:
                    pending.ident = ident
            self._last = pending
        else:
            key = pending.nodeid
        outcome: str = fields["outcome"]  # pytest-rerunfailures adds "rerun"
        if outcome == "rerun":
            pending.rerun = True
        else:
            if not pending.started:  # its first report had no start
                pending.started = fields["start"]
            pending.duration += fields["duration"]
            if JIRA_ATTR in fields or BDD_ATTR in fields or ATTACH_ATTR in fields:
                self._extra(pending, fields)
            if self._keep_sections:
                pending.sections = report.sections  # each report has every section so far
            if outcome != "passed" and pending.status is not _FAILED:
                # the first failure (setup or call) tells the story; teardown adds nothing
                self._not_passed(pending, report, when, outcome)
        if when != "teardown":
            return
        del self._pending[key]
        self._last = None
        if pending.rerun:
            return
        if pending.error is None and not self._capture_passed:
            pending.sections = None  # its run will not carry them: not kept until then
        sink = self._sink
        if sink is not None:  # _reported_line written out (issue 28)
            reported = self._reported(pending, self._sink_started)
            if reported is not None and self._line_of is not None:
                try:
                    line = self._line_of(*reported)
                except TypeError:  # a key that is no str: the generic codec says what it is
                    pass
                else:
                    sink(line, pending.status)
                    return
        self._done.append(pending)
        if self._on_waiting is not None:
            self._on_waiting()

    def add_collect_report(self, report: pytest.CollectReport) -> None:
        """A module that failed to import or collect becomes one failed run; a module skipped
        as a whole (``pytest.importorskip`` or ``pytest.skip(allow_module_level=True)``) one
        skipped run -- the same testcases pytest's ``--junitxml`` writes."""
        if report.passed:
            return
        path = report.nodeid or "<session>"
        package, klass, _ = split_nodeid(path + "::x")
        if report.failed:
            status = RunStatus.FAILED
            failure = _collect_error_of(report)
            sections = captured_sections(report.sections, self._capture)
            if sections:  # what the module printed or logged while it was imported
                trace = with_captured(failure.trace, sections, self._max_trace)
                failure = replace(failure, trace=trace)
            error: RunError | None = failure
            description = "collection error"
        else:
            status = RunStatus.SKIPPED
            error = None
            description = _crash_message(report).removeprefix("Skipped: ")
        # A CollectReport carries no start time or duration (pytest only times test phases).
        started = getattr(report, "start", None) or time.time()
        from pytest_octane.model import TestRun  # the records: only for a result that needs one

        self._done.append(
            TestRun(
                nodeid=path,
                module=self._module,
                package=package,
                klass=klass,
                name=cut_name(os.path.basename(path.split("::")[0]) or path),
                status=status,
                duration_ms=_ms(getattr(report, "duration", 0.0)),
                started_ms=_ms(started),
                error=error,
                description=description,
            )
        )

    @staticmethod
    def _extra(pending: _Pending, fields: dict[str, Any]) -> None:
        """What pytest-octane's own hooks put on the report (keys, a scenario, files)."""
        keys = fields.get(JIRA_ATTR)
        if keys:
            pending.jira_keys = tuple(keys)
        bdd = fields.get(BDD_ATTR)
        if bdd:
            pending.bdd = bdd
        attached = fields.get(ATTACH_ATTR)
        if attached:
            pending.attachments = [*(pending.attachments or ()), *attached]

    @staticmethod
    def _not_passed(pending: _Pending, report: pytest.TestReport, when: str, outcome: str) -> None:
        if outcome == "failed":
            pending.status = RunStatus.FAILED
            default = "TeardownError" if when == "teardown" else "Failed"
            pending.error = _error_of(report, default)
            if when != "call":
                pending.description = f"error in {when}"
        elif outcome == "skipped":
            pending.status = RunStatus.SKIPPED
            pending.description = _skip_reason(report)

    def _finish(self, pending: _Pending) -> TestRun:
        from pytest_octane.model import TestRun  # the records: only for a result that needs one

        nodeid = pending.nodeid
        package, klass, name = split_nodeid(nodeid)
        keys = pending.jira_keys or self._jira_keys.get(nodeid, ())
        gherkin = None
        if pending.bdd is not None:
            from pytest_octane.plugin.bdd import scenario_of  # only with pytest-bdd

            gherkin = scenario_of(pending.bdd, self._feature_texts)
            tag_keys = [str(k) for k in pending.bdd.get("jira_keys", ())]
            keys = tuple(dict.fromkeys([*keys, *tag_keys]))
        error, description = pending.error, pending.description
        if pending.sections and (error is not None or self._capture_passed):
            error, description = self._with_captured(pending, error, description)
        return TestRun(
            nodeid=nodeid,
            module=self._module,
            package=package,
            klass=klass,
            name=name,
            status=pending.status,
            duration_ms=_ms(pending.duration),
            started_ms=_ms(pending.started),
            error=error,
            description=description,
            jira_keys=keys,
            gherkin=gherkin,
            attachments=self._kept(pending.attachments) if pending.attachments else (),
        )

    def _with_captured(
        self, pending: _Pending, error: RunError | None, description: str | None
    ) -> tuple[RunError | None, str | None]:
        """Captured output after the trace of a failed run (or as a passed run's description
        with ``--octane-capture-passed``), under pytest's own headings."""
        sections = captured_sections(pending.sections or [], self._capture)
        if not sections:
            return error, description
        if error is not None:
            trace = with_captured(error.trace, sections, self._max_trace)
            return replace(error, trace=trace), description
        if pending.status is RunStatus.PASSED and self._capture_passed:
            return error, with_captured("", sections, self._max_trace).lstrip("\n") or None
        return error, description

    def _note(self, kind: str, line: str) -> None:
        if kind not in self._noted:
            self._noted.add(kind)
            self.notes.append(line)

    def _kept(self, attached: list[dict[str, Any]]) -> tuple[Attachment, ...]:
        """The run's attachments within the job's budget; a file over it is dropped (and its
        spooled copy deleted), said once."""
        from pytest_octane.model import Attachment

        kept: list[Attachment] = []
        for data in attached:
            if "dropped" in data:  # a file over a cap, said by the process that ran the test
                self._note(str(data.get("kind")), str(data["dropped"]))
                continue
            item = Attachment(
                path=str(data["path"]),
                name=str(data["name"]),
                description=data.get("description"),
                size=int(data.get("size", 0)),
            )
            if self._attach_budget is not None:
                if item.size > self._attach_budget:
                    _drop(item)
                    self._note(
                        "job",
                        f"attachment {item.name!r} and later ones were not kept: the job's "
                        "attachments passed --octane-attachments-max-mb",
                    )
                    continue
                self._attach_budget -= item.size
            kept.append(item)
        return tuple(kept)


# module names: an enum's member is slower to read (3.11)
_PASSED = RunStatus.PASSED
_FAILED = RunStatus.FAILED

#: up to this many seconds ``round(seconds * 1000)`` is far inside ``xs:long`` (the fast path
#: of :func:`_ms`; NaN and infinities fail the comparison and take the checked one)
_MAX_SECONDS = 1e15
assert _MAX_SECONDS * 1000 < LONG_MAX


def _ms(seconds: float) -> int:
    """A report's time in whole milliseconds; 0 for one no clock gives (infinite, NaN,
    negative or past ``xs:long``: a plugin may set anything), never an OverflowError."""
    if type(seconds) is float and 0.0 <= seconds <= _MAX_SECONDS:  # every real report
        return round(seconds * 1000)
    try:
        return ms_of_seconds(float(seconds)) or 0
    except (TypeError, ValueError):
        return 0
