"""The pytest side of an upload: the job's journal and the uploader process that sends it.

At session start the plugin resolves the credentials here (the ``pytest_octane_credentials``
hook and ``credentialsCommand`` run in pytest's process), opens the job's journal and starts
``python -m pytest_octane.uploader`` with ``sys.executable`` in pytest's process group.  The
settings and credentials go through the child's stdin; its environment has no ``OCTANE_*``
variable and no secret (``job/run/pipe.py``).  Each final result is then one write to the
journal, nothing more: this module imports neither requests nor a database driver.
At session end the end mark is written and the uploader's progress is shown while it
finishes; Ctrl-C keeps its meaning (the first stops the sending, the second ends both
processes at once).  On a TTY the progress is one line rewritten in place; without one (CI
logs) only events that matter are printed, one line each (a slice finished, Octane's queue
was full, a request is retried); ``-q`` prints nothing until the summary, ``-v`` also prints
each slice as it is sent.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import tempfile
import threading
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pytest

from pytest_octane.errors import CredentialsError, OctaneError
from pytest_octane.job.events import FINISHING, UploadReport, UploadState
from pytest_octane.job.interrupt import StopFlag, ctrl_c
from pytest_octane.job.journal import (
    JOURNAL_NAME,
    JournalWriter,
    new_job_id,
)
from pytest_octane.job.run import pipe
from pytest_octane.logs import LazyLogger
from pytest_octane.octane.credentials import Credentials, resolve_credentials
from pytest_octane.octane.xml_text import header_from_settings
from pytest_octane.reported import RunStatus, SpooledRun, split_nodeid
from pytest_octane.settings import Settings, require_connection

if TYPE_CHECKING:  # imported when the job ends: with job/recorded.py, 8 ms at its start
    from pytest_octane.job.outcome import JobOutcome
    from pytest_octane.model import TestRun

__all__ = ["TerminalProgress", "UploadPlugin", "UploaderProcess"]

log = LazyLogger(__name__)

#: how long the tests wait at the end of collection for the uploader to record the job
READY_WAIT_S = 120.0
#: how often the main thread looks for Ctrl-C while it waits for the uploader
_TICK_S = 0.2


class UploaderProcess:
    """One session's journal and uploader process."""

    def __init__(
        self,
        settings: Settings,
        *,
        hook: Callable[[], Any],
        state: UploadState,
        text: Callable[[str], None],
        job_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.hook = hook
        self.state = state
        self.text = text
        self.job_id = job_id or new_job_id()
        self.journal: JournalWriter | None = None
        self.warnings: list[str] = []  # lines for the summary (a journal in a private folder)
        self.store_location = settings.task_store
        self.stop = StopFlag()
        self.finishing = False
        #: the uploader recorded the job (from then on 'resume' finds it)
        self.recorded = False
        self._process: subprocess.Popen[bytes] | None = None
        self._send: pipe.Sender | None = None
        self._ready = threading.Event()
        self._gone = threading.Event()  # the child's stdout closed: it ended
        self._report: UploadReport | None = None
        self._crash: str | None = None
        self._child_warnings: list[dict[str, Any]] = []
        self._reader: threading.Thread | None = None

    # -- start

    def start(self) -> None:
        """Open the journal, resolve the credentials and start the uploader."""
        self.journal = self._open_journal()
        credentials: Credentials | None = None
        credentials_error: CredentialsError | None = None
        _, space, _ = require_connection(self.settings)
        try:
            credentials = resolve_credentials(
                space,
                path_template=self.settings.credentials_path,
                environ=os.environ,
                hook=self.hook,
                command=self.settings.credentials_command,
            )
        except CredentialsError as exc:
            credentials_error = exc  # pickled as class name, message and fields
        log_path = self.journal.path.with_name("uploader.log")
        try:
            with open(log_path, "ab") as log_file:
                self._process = _spawn(log_file)
        except OSError as exc:  # the results are journaled all the same, for 'resume'
            self._crash = f"it could not be started: {exc.strerror or exc}"
            self._gone.set()
            return
        assert self._process.stdin is not None and self._process.stdout is not None
        self._send = pipe.Sender(self._process.stdin)
        self._send(
            "start",
            settings=self.settings,
            job_id=self.job_id,
            journal=self.journal.path,
            credentials=pipe.credentials_fields(credentials) if credentials else None,
            credentials_error=credentials_error,
        )
        self._reader = threading.Thread(
            target=self._read, args=(self._process.stdout,), name="octane-uploader", daemon=True
        )
        self._reader.start()

    def _open_journal(self) -> JournalWriter:
        folder = Path(self.settings.spool_dir) / self.job_id
        settings = self.settings

        def journal(path: Path) -> JournalWriter:
            return JournalWriter(
                path,
                self.job_id,
                header=header_from_settings(settings),
                module=settings.module,
                slice_size=settings.slice_size,
                max_trace=settings.max_trace,
                on_slice_full=self._slice_full,
            )

        try:
            return journal(folder / JOURNAL_NAME)
        except OSError as exc:
            # never lose results because the spool folder is unusable: a private one instead
            private = Path(tempfile.mkdtemp(prefix=f"pytest-octane-{self.job_id}-"))
            self.warnings.append(
                f"cannot write the spool folder {str(folder)!r} ({exc.strerror or exc}); "
                f"this job's results are kept in {private} instead"
            )
            return journal(private / JOURNAL_NAME)

    def expect(self, tests: Sequence[SpooledRun], *, items: int | None = None) -> None:
        """The end of collection: journal how many results will come (``items`` more: the
        last slice is cut in two, see ``journal.slice_ends``), hand over the tests for the
        look-ahead, and wait until the uploader recorded the job (so that ``resume`` finds
        it, whatever happens next)."""
        journal = self.journal
        if items and self.settings.stream and journal is not None and not journal.unwritten:
            try:
                journal.expect(journal.results + items)
            except OSError:
                pass  # a full disk: the slices are cut every slice_size runs, as without it
        if self._send is not None:
            self._send("collected", tests=tuple(tests))
        self.wait_ready()

    def wait_ready(self) -> None:
        deadline = READY_WAIT_S / _TICK_S
        while not self._ready.is_set() and not self._gone.is_set() and deadline > 0:
            self._ready.wait(_TICK_S)
            deadline -= 1

    def add(self, run: TestRun) -> None:
        """Journal one final result."""
        assert self.journal is not None  # opened by start(), before any test
        self.journal.add(run)

    def add_line(self, line: bytes, status: RunStatus) -> None:
        """Journal one final result given as its journal line (``job/journal.py``)."""
        assert self.journal is not None
        self.journal.add_result(line, status)

    def _slice_full(self, results: int) -> None:
        """A slice is full: the uploader cuts and sends it now, not at its next look."""
        if self._send is not None:
            self._send("journaled", runs=results)

    @property
    def counts(self) -> Counter[RunStatus]:
        """The journaled results by status."""
        return self.journal.counts if self.journal is not None else Counter()

    @property
    def unwritten(self) -> int:
        """How many results no journal write took (a full disk)."""
        return len(self.journal.unwritten) if self.journal is not None else 0

    # -- the uploader's messages (a reader thread)

    def _read(self, stream: IO[bytes]) -> None:
        try:
            while (message := pipe.receive(stream)) is not None:
                self._take(*message)
        except Exception as exc:  # a message that cannot be read: the child is out of step
            self._crash = f"unreadable message from the uploader: {type(exc).__name__}: {exc}"
        finally:
            self._gone.set()
            self._ready.set()

    def _take(self, kind: str, fields: dict[str, Any]) -> None:
        if kind == "ready":
            self.store_location = str(fields["location"])
            if fields.get("warning"):
                self.warnings.append(str(fields["warning"]))
            self.recorded = True
            self._ready.set()
        elif kind == "text":
            self.text(str(fields["line"]))
        elif kind == "state":
            self.state.mirror(fields["counters"], str(fields["event"]), bool(fields["notable"]))
        elif kind == "warning":
            self._child_warnings.append(fields)
        elif kind == "outcome":
            self._report = fields["report"]
        elif kind == "crash":
            self._crash = str(fields["error"])
            log.debug("the uploader failed:\n%s", fields.get("trace", ""))

    # -- finish

    def finish(self, exit_status: int, *, announce: bool) -> UploadReport:
        """Write the end mark, wait for the uploader (Ctrl-C stops the sending; a second
        Ctrl-C ends both processes at once) and return what the job came to."""
        self.finishing = True
        assert self.journal is not None
        with ctrl_c(self.stop, self._exit_line):  # from the end mark on: Ctrl-C stops sending
            self._end_journal(exit_status)
            if self.stop.is_set and self._send is not None:
                self._send("stop")  # told before the end: nothing is sent
            if self._send is not None:  # with pytest's lines for the job's summary
                self._send("end", warnings=self.warnings)
            if announce and not self._gone.is_set() and not self.stop.is_set:
                self.text(FINISHING)
            told = self.stop.is_set
            while not self._gone.wait(_TICK_S):
                if self.stop.is_set and not told and self._send is not None:
                    told = self._send("stop")
        self._reap()
        for fields in self._child_warnings:  # inside pytest's capture: shown in its summary
            category = type(str(fields["category"]), (UserWarning,), {})
            warnings.warn_explicit(
                str(fields["message"]), category, str(fields["filename"]), int(fields["lineno"])
            )
        if self._report is None:
            raise OctaneError(self._why_no_outcome())
        return self._report

    def _end_journal(self, exit_status: int) -> None:
        """Write what a full disk held back, then the end mark."""
        journal = self.journal
        assert journal is not None
        try:
            journal.end(exit_status)
        except OSError:
            journal.close()  # the uploader takes what the journal holds
        if journal.unwritten:
            error = journal.error
            reason = error.strerror if error is not None and error.strerror else error
            self.warnings.append(
                f"{len(journal.unwritten)} results could not be written to the journal "
                f"{journal.path} ({reason}): they are not uploaded; free some space there "
                "or set --octane-spool-dir to another disk"
            )

    def _why_no_outcome(self) -> str:
        assert self.journal is not None
        code = self._process.returncode if self._process is not None else None
        what = (
            f"the uploader failed ({self._crash})"
            if self._crash
            else (f"the uploader process ended (exit {code}) before it finished")
        )
        if not self.recorded:  # the job is in no task store: nothing can resume it
            return f"{what}; nothing was uploaded; the results are in {self.journal.path}"
        return (
            f"{what}; every result is in the journal {self.journal.path}: to upload them run "
            f"{self.resume_command()}"
        )

    def resume_command(self) -> str:
        from pytest_octane.job.outcome import JobOutcome
        from pytest_octane.records import JobRecord

        job = JobRecord(job_id=self.job_id, space_id=0, workspace_id=0, server="", created_at=0)
        return JobOutcome(job=job, store_location=self.store_location).resume_command()

    def _exit_line(self) -> str:
        self.kill()  # the second Ctrl-C ends the uploader too (its store writes are atomic)
        return (
            "pytest-octane: Ctrl-C again: stopped at once; to finish the upload later run: "
            f"{self.resume_command()}"
        )

    def kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            try:
                self._process.send_signal(signal.SIGKILL)
            except OSError:
                pass

    def abandon(self) -> None:
        """The session never reached its end (a usage or internal error): end the journal and
        let the uploader record it (it sends nothing more once told to stop)."""
        self.finishing = True
        if self.journal is not None and not self.journal.closed:
            self.journal.end(1)
        if self._send is not None:
            self._send("stop")
            self._send("end", warnings=self.warnings)
        self._gone.wait(30.0)
        self._reap()

    def _reap(self) -> None:
        if self._send is not None:
            self._send.close()
        if self._process is not None:
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
                self._process.wait()
        if self._reader is not None:
            self._reader.join(timeout=10)
        process = self._process
        if process is not None and process.stdout is not None:
            if self._reader is None or not self._reader.is_alive():
                # read to its end: closed now, not left for the garbage collector (a
                # ResourceWarning in whichever test it happened to run beside)
                process.stdout.close()


def _spawn(stderr: IO[bytes]) -> subprocess.Popen[bytes]:
    """``python -m pytest_octane.uploader`` in pytest's process group, SIGINT ignored from
    its first instruction (a terminal's Ctrl-C reaches the whole group)."""
    command = [sys.executable, "-m", pipe.MODULE]
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if in_main else None
    try:
        return subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=pipe.child_environment(os.environ),
            close_fds=True,
        )
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


class UploadPlugin:
    """The session's upload as pytest drives it, registered as ``octane-upload``.

    It starts the uploader at session start, hands it the collected tests at the end of
    collection, journals each final result the reporter gives it (:meth:`add`), and at
    session end waits for the uploader with its progress on the terminal.  It is registered
    before the reporter, so its ``trylast`` session finish runs first and the reporter then
    reports :attr:`report` (or :attr:`error`).
    """

    def __init__(
        self, config: pytest.Config, settings: Settings, jira_keys: Mapping[str, tuple[str, ...]]
    ) -> None:
        self.config = config
        self.jira_keys = jira_keys
        state = UploadState()
        state.listen(self._on_state)
        hook = config.hook.pytest_octane_credentials
        self.process = UploaderProcess(
            settings,
            hook=lambda: hook(space_id=settings.space, settings=settings),
            state=state,
            text=self._on_text,
        )
        #: issue 23: chosen now, so that files attached during the tests go to this job
        self.job_id = self.process.job_id
        self.started = False
        #: why the upload could not start, or what stopped it at the end (the reporter says it)
        self.start_error: str | None = None
        self.error: Exception | None = None
        #: what the job came to (None until it finished)
        self.report: UploadReport | None = None
        self._outcome: JobOutcome | None = None
        self._display: TerminalProgress | None = None

    def pytest_sessionstart(self) -> None:
        try:
            self.process.start()
        except OSError as exc:  # not even a private folder for the journal: said at the end
            self.start_error = (
                f"cannot write this job's journal ({exc.strerror or exc}); "
                "set --octane-spool-dir to a writable folder"
            )
            return
        self.started = True

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        """Collection is over: the uploader signs in and looks up what the tests need."""
        if not self.started:
            return
        # pytest < 8 sets session.items only when it collects, which an xdist controller skips
        items: list[pytest.Item] = getattr(session, "items", [])
        if not items and not session.config.pluginmanager.has_plugin("dsession"):
            return  # nothing will run (an xdist controller collects nothing, yet tests run)
        # one pass over the items in the main thread: parameters share a place, so only the
        # distinct (test, keys) pairs are split (a sixth of the time on parametrized suites)
        tests = {
            (item.nodeid.partition("[")[0], self.jira_keys.get(item.nodeid, ())) for item in items
        }
        placed = {SpooledRun(*split_nodeid(test)[:2], keys) for test, keys in tests}
        self.process.expect(tuple(placed), items=len(items))

    def add(self, run: TestRun) -> None:
        """Journal one final result (nothing when the upload could not start)."""
        if self.started:
            self.process.add(run)

    def add_line(self, line: bytes, status: RunStatus) -> None:
        """Journal one final result given as its journal line (``job/journal.py``)."""
        if self.started:
            self.process.add_line(line, status)

    @property
    def line_sink(self) -> Callable[[bytes, RunStatus], None] | None:
        """Where each result's journal line goes (None when the upload could not start):
        the collector calls it with no step between (issue 28)."""
        journal = self.process.journal
        return journal.add_result if self.started and journal is not None else None

    @property
    def outcome(self) -> JobOutcome | None:
        """The job's ``JobOutcome`` (None until it finished), unpickled when first asked for:
        its records' classes are imported only then (issue 28)."""
        if self._outcome is None and self.report is not None:
            self._outcome = pickle.loads(self.report.outcome)
        return self._outcome

    @property
    def counts(self) -> Counter[RunStatus]:
        """The journaled results by status."""
        return self.process.counts

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not self.started or session.exitstatus == pytest.ExitCode.USAGE_ERROR:
            return  # the run never started: pytest_unconfigure lets the uploader go
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        display = TerminalProgress(
            write_line=terminal.write_line if terminal else lambda line: None,
            rewrite=terminal.rewrite if terminal and terminal.isatty else None,
            verbosity=self.config.option.verbose if terminal else -1,
            flush=terminal.flush if terminal else lambda: None,
        )
        self._display = display
        try:
            display(self.process.state, "", False)
            announce = bool(self.counts)
            self.report = self.process.finish(int(session.exitstatus), announce=announce)
        except Exception as exc:  # the reporter says it: the test session never crashes here
            self.error = exc
        finally:
            display.close()

    def pytest_unconfigure(self) -> None:
        if self.started and not self.process.finishing:
            self.process.abandon()  # the session never reached its end (usage/internal error)

    def _on_state(self, state: UploadState, event: str, notable: bool) -> None:
        if self._display is not None:
            self._display(state, event, notable)
        elif event and notable:
            log.info("%s", event)

    def _on_text(self, line: str) -> None:
        if self._display is not None:
            self._display.text(line)
        else:
            log.info("%s", line)


class TerminalProgress:
    """Renders an ``UploadState`` on pytest's terminal according to TTY and verbosity."""

    def __init__(
        self,
        *,
        write_line: Callable[[str], None],
        rewrite: Callable[[str], None] | None,
        verbosity: int,
        flush: Callable[[], None] = lambda: None,
    ) -> None:
        self._write_line = write_line
        self._flush = flush  # a CI log shows each line as it happens, not at exit
        self._rewrite = rewrite  # None when the terminal is not a TTY
        self._verbosity = verbosity
        self._lock = threading.Lock()
        self._dirty = False

    def __call__(self, state: UploadState, event: str, notable: bool) -> None:
        if self._verbosity < 0:
            return
        with self._lock:
            if self._rewrite is not None:
                if event and (notable and self._verbosity > 0):
                    self._rewrite("")
                    self._write_line(f"octane: {event}")
                self._rewrite(state.line())
                self._dirty = True
            elif event and (notable or self._verbosity > 0):
                # the count belongs to slice events; a retry line says its own attempt
                count = f" ({state.done + state.failed}/{state.total})"
                self._write_line(f"octane: {event}" + (count if event.startswith("slice") else ""))
                self._flush()

    def text(self, line: str) -> None:
        """A free-form line from the uploader (mapping, suites, coverage)."""
        if self._verbosity < 0:
            return
        with self._lock:
            if self._rewrite is not None and self._dirty:
                self._rewrite("")
            self._write_line(f"octane: {line}")
            self._flush()

    def close(self) -> None:
        with self._lock:
            if self._rewrite is not None and self._dirty:
                self._rewrite("")
                self._dirty = False
