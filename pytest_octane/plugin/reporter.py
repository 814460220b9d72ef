"""The session's reporter: collects runs, writes them (dry run) or gives each final one to the
upload (``plugin/uploading.py``, which runs the upload), and reports what became of them.

It is the plugin's error boundary: an upload problem becomes a terminal warning and a
re-upload command, never a crash, and it changes the exit code only with ``--octane-strict``.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import IO, TYPE_CHECKING

import pytest

from pytest_octane.errors import OctaneError
from pytest_octane.logs import LazyLogger
from pytest_octane.octane.xml_text import header_from_settings, link_problem, run_link
from pytest_octane.plugin.collect import ResultCollector
from pytest_octane.settings import Settings
from pytest_octane.settings.ci import write_github_step_summary

__all__ = ["OctaneReporter", "jira_keys_json"]

log = LazyLogger(__name__)

if TYPE_CHECKING:
    from pytest_octane.job.events import UploadReport
    from pytest_octane.job.outcome import JobOutcome
    from pytest_octane.model import TestRun
    from pytest_octane.plugin.uploading import UploadPlugin


class OctaneReporter:
    """Registered once per session on the controller (never on xdist workers), with its
    collector as a plugin of its own (the collector takes the tests' reports)."""

    def __init__(
        self,
        config: pytest.Config,
        settings: Settings,
        *,
        dry_run: str | None,
        jira_keys: Mapping[str, tuple[str, ...]],
        upload: UploadPlugin | None,
    ) -> None:
        self.config = config
        self.settings = settings
        self.dry_run = dry_run
        #: the session's upload (None for a dry run): each final run goes to it
        self.upload = upload
        self.collector = ResultCollector(
            module=settings.module,
            jira_keys=jira_keys,
            # issue 23: captured output after the trace; the job's budget for attachments
            capture=settings.capture,
            capture_passed=settings.capture_passed,
            max_trace=settings.max_trace,
            attachments_max_bytes=settings.attachments_max_mb * 2**20,
            on_waiting=self._journal if upload is not None else None,
        )
        self.summary_lines: list[str] = []
        self.failed = False
        self.printed_xml: str | None = None
        #: why the upload counts as failed, for the line --octane-strict prints
        self.reasons: list[str] = []
        self.strict_line: str | None = None
        self._link_said = False

    @property
    def outcome(self) -> JobOutcome | None:
        """What the upload did (None for a dry run, or an upload that never finished)."""
        return self.upload.outcome if self.upload is not None else None

    @property
    def report(self) -> UploadReport | None:
        """What the upload came to, as printed (None as for :attr:`outcome`)."""
        return self.upload.report if self.upload is not None else None

    # -- collecting

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self.collector.add_collect_report(report)
        if self.upload is not None and self.collector.has_runs:
            self._journal()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self) -> None:
        """The tests start (every conftest is loaded): see how their results are journaled."""
        self._journal_plain()

    def _journal_plain(self) -> None:
        """Unless a hook changes runs or their links are checked, each plain result goes to
        the journal as the line of what its reports said, straight from the collector (issue
        28: the per-test path of an upload); every other result goes through :meth:`_journal`."""
        sink = self.upload.line_sink if self.upload is not None else None
        if sink is not None and not self._runs_changed():
            self.collector.journal_plain(sink, started_ms=self.settings.started)

    def _runs_changed(self) -> bool:
        """A hook changes runs, or their links are checked (until one is found wanting)."""
        settings = self.settings
        return bool(
            ((settings.report_url or settings.build_url) and not self._link_said)
            or self.config.hook.pytest_octane_modify_run.get_hookimpls()
        )

    def _journal(self) -> None:
        """Give each final result the collector holds to the upload: one write per test,
        nothing kept."""
        upload = self.upload
        assert upload is not None
        if self._runs_changed():
            for run in self.final_runs(self.collector.take_runs()):
                upload.add(run)
            if self._link_said:  # said once: the links are not checked any more
                self._journal_plain()
            return
        for status, line in self.collector.take_lines(self.settings.started):
            upload.add_line(line, status)

    # -- finishing

    def final_runs(self, runs: list[TestRun]) -> list[TestRun]:
        hook = self.config.hook.pytest_octane_modify_run
        if hook.get_hookimpls():
            runs = [hook(run=run) or run for run in runs]
        if self.settings.started is not None:
            runs = [replace(run, started_ms=self.settings.started) for run in runs]
        self._check_links(runs)  # issue 23
        return runs

    def _check_links(self, runs: list[TestRun]) -> None:
        """Say once when a run cannot get its external_report_url (the writer leaves it out)."""
        template, build_url = self.settings.report_url, self.settings.build_url
        if self._link_said or not (template or build_url):
            return
        for run in runs:
            if run.gherkin is None:
                url = run_link(template, build_url, run.nodeid, run.name)
                problem = link_problem(template, build_url, url)
                if problem:
                    self._link_said = True
                    self.collector.notes.append(problem)
                    log.warning("%s", problem)
                    return

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if session.exitstatus == pytest.ExitCode.USAGE_ERROR:
            return  # the run never started: there is nothing to write or send
        try:
            if self.dry_run is not None:
                self._dry_run()
            elif self.upload is not None:
                self._report_upload(self.upload)
        except OctaneError as exc:
            self.failed = True
            self.reasons.append("the upload failed")
            self.summary_lines.append(f"upload failed: {exc}")
        except Exception as exc:  # the plugin's error boundary: never crash the test session
            self.failed = True
            self.reasons.append("pytest-octane failed unexpectedly")
            log.exception("pytest-octane failed unexpectedly")
            self.summary_lines.append(
                f"pytest-octane failed unexpectedly: {type(exc).__name__}: {exc} "
                "(the spooled slices, if any, are kept; please report this)"
            )
        if self.failed and self.settings.strict and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
            self.strict_line = "--octane-strict changed the exit code from 0 to 1: " + "; ".join(
                self.reasons or ["the upload failed"]
            )
        if self.report is not None and self.report.interrupted:
            session.exitstatus = pytest.ExitCode.INTERRUPTED  # Ctrl-C, as pytest reports it

    def _dry_run(self) -> None:
        if not self.collector.has_runs:
            self.summary_lines.append("dry run: 0 test runs, nothing would be uploaded")
            return
        # the XML writer (and lxml) only here, when a dry run writes (issue 28)
        from pytest_octane.octane.results_xml import (
            SliceFile,
            write_document,
            write_slices,
            write_text_slices,
            write_texts,
        )

        settings = self.settings
        header = header_from_settings(settings)
        size, max_trace = settings.slice_size, settings.max_trace
        as_reported = self._as_reported()
        if as_reported is not None:  # the runs' elements, written straight from the reports
            texts, keys = as_reported
            count, n_slices = len(texts), -(-len(texts) // size)

            def write_first(fh: IO[bytes]) -> None:
                write_texts(fh, header, texts[:size])

            def write_all(folder: Path) -> list[SliceFile]:
                return write_text_slices(folder, header, texts, slice_size=size)

        else:
            from pytest_octane.octane.gherkin_xml import plan_slices

            runs = self.final_runs(self.collector.runs)
            slices = plan_slices(runs, size)
            count, n_slices = len(runs), len(slices)
            # tuples, not new lists: 5,000 containers kept alive can set off a full garbage
            # collection (~80 ms in a session of 5,000 tests)
            keys = {run.nodeid: run.jira_keys for run in runs if run.jira_keys}

            def write_first(fh: IO[bytes]) -> None:
                write_document(fh, header, slices[0], max_trace=max_trace)

            def write_all(folder: Path) -> list[SliceFile]:
                return write_slices(folder, header, runs, slice_size=size, max_trace=max_trace)

        if self.dry_run == "-":
            buffer = io.BytesIO()
            write_first(buffer)
            self.printed_xml = buffer.getvalue().decode("utf-8")
            self.summary_lines.append(
                f"dry run: {count} test runs in {n_slices} slice(s); printed slice 1 of "
                f"{n_slices} (use --octane-dry-run=DIR to write them all)"
            )
            return
        folder = Path(self.dry_run or ".")
        try:
            files = write_all(folder)
            (folder / "jira-keys.json").write_text(jira_keys_json(keys) + "\n", encoding="utf-8")
        except OSError as exc:
            self.failed = True
            self.reasons.append("the dry run could not write its files")
            self.summary_lines.append(
                f"dry run: cannot write to {str(folder)!r}: {exc.strerror}; "
                "pick a writable --octane-dry-run=DIR"
            )
            return
        self.summary_lines.append(
            f"dry run: {count} test runs in {len(files)} slice(s) written to {folder}"
            + (f" (JIRA keys of {len(keys)} runs in jira-keys.json)" if keys else "")
        )
        self.summary_lines.extend(self.collector.notes)  # issue 23

    def _as_reported(self) -> tuple[list[str], dict[str, tuple[str, ...]]] | None:
        """The dry run's ``<test_run>`` elements and JIRA keys, a plain result's written from
        its fields without making its run (issue 28: 5,000 runs took ~45 ms to make); None
        when a hook changes runs, links are checked or a scenario is written as Gherkin."""
        from pytest_octane.octane.results_xml import reported_run_xml, run_xml

        settings = self.settings
        if (
            settings.report_url
            or settings.build_url
            or self.config.hook.pytest_octane_modify_run.get_hookimpls()
            or self.collector.has_scenarios
        ):
            return None
        max_trace, module = settings.max_trace, settings.module or ""
        texts: list[str] = []
        keys: dict[str, tuple[str, ...]] = {}
        for result in self.collector.take_results(settings.started):
            if isinstance(result, tuple):  # a plain result, as reported
                texts.append(reported_run_xml(module, result, max_trace))
                nodeid, jira_keys = result[0], result[5]
            else:
                texts.append(run_xml(result, None, max_trace))
                nodeid, jira_keys = result.nodeid, result.jira_keys
            if jira_keys:
                keys[nodeid] = jira_keys
        return texts, keys

    def _report_upload(self, upload: UploadPlugin) -> None:
        """What the upload did (it finished in its own ``pytest_sessionfinish``, just before)."""
        if upload.start_error is not None:
            self.failed = True
            self.reasons.append("the upload could not start")
            self.summary_lines.append(f"upload failed: {upload.start_error}")
            return
        if upload.error is not None:
            raise upload.error  # the error boundary of pytest_sessionfinish says it
        report = upload.report
        if report is None:
            return  # it did not finish (the session ended in a usage error)
        self.reasons.extend(report.failures)
        if upload.process.unwritten:
            self.reasons.append(f"{upload.process.unwritten} results were not journaled")
        self.failed = bool(self.reasons)
        counts = sorted((status.value, n) for status, n in upload.counts.items())
        self.summary_lines.append(
            "runs: " + (", ".join(f"{n} {status}" for status, n in counts) or "none")
        )
        self.summary_lines.extend(self.collector.notes)  # issue 23: attachments not kept
        self.summary_lines.extend(report.summary)
        write_github_step_summary(os.environ, report.summary, "Octane upload")
        hook = self.config.hook.pytest_octane_upload_finished
        if hook.get_hookimpls() and upload.outcome is not None:  # its records: only then
            hook(job=upload.outcome.job)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.config.option.verbose < 0 and self.report is not None:
            # -q: one line, and the command to fix it when something failed
            terminalreporter.write_line(f"octane: {self.report.one_line}", red=self.failed)
            if self.report.moved:
                terminalreporter.write_line(f"octane: {self.report.moved}", red=True)
            if self.strict_line:
                terminalreporter.write_line(f"octane: {self.strict_line}", red=True)
            return
        if self.printed_xml is not None:
            terminalreporter.write_sep("-", "octane dry run: slice 1")
            terminalreporter.write(self.printed_xml + "\n")
        if not self.summary_lines:
            return
        terminalreporter.write_sep("-", "octane", red=self.failed, green=not self.failed)
        for line in self.summary_lines:
            terminalreporter.write_line(line)
        if self.strict_line:
            terminalreporter.write_line(self.strict_line, red=True)


def jira_keys_json(keys: Mapping[str, Sequence[str]]) -> str:
    """``json.dumps(keys, indent=2)``, character for character, in a fraction of its time
    (issue 28): an indent makes ``json`` use its pure-Python encoder, while each string alone
    goes through the C one, and the tests of a module share one list of keys, written once."""
    if not keys:
        return "{}"
    quote = json.encoder.encode_basestring_ascii  # json.dumps's escaper for a str
    written: dict[int, tuple[Sequence[str], str]] = {}  # by id, the list kept alive with it
    entries = []
    for nodeid, values in keys.items():
        known = written.get(id(values))
        if known is None:
            inner = ",\n    ".join(map(quote, values))
            known = written[id(values)] = (values, f"[\n    {inner}\n  ]" if values else "[]")
        entries.append(f"  {quote(nodeid)}: {known[1]}")
    return "{\n" + ",\n".join(entries) + "\n}"
