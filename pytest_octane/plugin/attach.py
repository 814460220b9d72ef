"""Files a test attaches to its Octane run: ``pytest_octane.attach``, the ``octane_attach``
fixture and the ``pytest_octane_attachments`` hook.

A file is copied into the job's spool at once (deleting the original later loses nothing),
under the name Octane will take (``octane_name``: a safe name, inside a ``.zip`` when its
extension is not on Octane's whitelist).  The copy is noted on the report of the phase it was
attached in, as plain data that survives xdist, and the controller's collector puts it on the
run (``TestRun.attachments``).  Under xdist each worker copies its own files.
"""

from __future__ import annotations

import itertools
import os
import shutil
import zipfile
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

import pytest_octane
from pytest_octane.logs import LazyLogger
from pytest_octane.plugin.attrs import ATTACH_ATTR
from pytest_octane.reported import octane_name  # not octane.client: no HTTP client here
from pytest_octane.settings import Settings

__all__ = ["JOB_ID_KEY", "AttachSink"]

log = LazyLogger("pytest_octane")

#: Key of ``workerinput`` that tells xdist workers the job id (the controller's choice).
JOB_ID_KEY = "octane_job_id"
_MIB = 2**20


class AttachSink:
    """Registered in every process that runs tests (the controller and each xdist worker)."""

    def __init__(
        self, settings: Settings, job_id: str, config: pytest.Config | None = None
    ) -> None:
        self.job_id = job_id
        self.config = config  # where the report hook is registered at the first file
        self._spool_dir = settings.spool_dir
        self.max_file = settings.attachment_max_mb * _MIB
        self.max_job = settings.attachments_max_mb * _MIB
        self.budget = self.max_job
        self.enabled = settings.attachments
        self._nodeid: str | None = None  # the test running in this process
        self._pending: dict[str, list[dict[str, Any]]] = {}
        self._numbers = itertools.count(1)
        self._said: set[str] = set()
        self._folder: Path | None = None

    def folder(self) -> Path:
        """Where this job's files are copied, found at the first file: most sessions attach
        none, and the evidence module is not imported for them (issue 28).  A method, not a
        property: pytest before 8 reads every attribute of a registered plugin when it looks
        for fixtures."""
        if self._folder is None:
            from pytest_octane.job.evidence.files import attachments_dir

            self._folder = attachments_dir(self._spool_dir, self.job_id)
        return self._folder

    # -- the public function's target (pytest_octane.attach)

    def __call__(
        self, data: str | os.PathLike[str] | bytes, name: str | None, description: str | None
    ) -> None:
        __tracebackhide__ = True
        if not self.enabled:
            return
        nodeid = self._nodeid
        if nodeid is None:
            raise RuntimeError(
                "pytest_octane.attach() was called outside a running test; call it from the "
                "test, one of its fixtures, or a hook of its setup, call or teardown"
            )
        self.attach_to(nodeid, data, name, description)

    def attach_to(
        self,
        nodeid: str,
        data: str | os.PathLike[str] | bytes,
        name: str | None,
        description: str | None,
    ) -> None:
        __tracebackhide__ = True
        if isinstance(data, bytearray):
            data = bytes(data)
        source, given = pytest_octane.attached_file(data, name)
        size = len(data) if isinstance(data, bytes) else source.stat().st_size  # type: ignore[union-attr]
        if size > self.max_file:
            self._say(
                nodeid,
                "file",
                f"attachment {given!r} of {nodeid} ({size / _MIB:.1f} MiB) is over "
                f"--octane-attachment-max-mb={self.max_file // _MIB} and was not kept",
            )
            return
        if size > self.budget:
            self._say(
                nodeid,
                "job",
                f"attachment {given!r} of {nodeid} and later ones were not kept: this process "
                f"passed --octane-attachments-max-mb={self.max_job // _MIB}",
            )
            return
        final, wrap = octane_name(given)
        target = self.folder() / f"{next(self._numbers):05d}-{os.getpid()}" / final
        target.parent.mkdir(parents=True, exist_ok=True)
        if wrap:
            _zip(target, given, data if isinstance(data, bytes) else source)
        elif isinstance(data, bytes):
            target.write_bytes(data)
        else:
            assert source is not None
            shutil.copyfile(source, target)
        stored = target.stat().st_size
        self.budget -= stored
        record = {"path": str(target.resolve()), "name": final, "size": stored}
        if description:
            record["description"] = str(description)[:4000]
        self._keep(nodeid, record)

    def _say(self, nodeid: str, kind: str, line: str) -> None:
        """Once per kind in this process; on the report, so the session summary says it."""
        if kind not in self._said:
            self._said.add(kind)
            log.warning("pytest-octane: %s", line)
            self._keep(nodeid, {"dropped": line, "kind": kind})

    def _keep(self, nodeid: str, record: dict[str, Any]) -> None:
        """Noted for the report of the phase it came in; the hook that puts it there is
        registered now, at the first file (most sessions attach nothing: three calls a test
        saved, issue 28)."""
        self._pending.setdefault(nodeid, []).append(record)
        config = self.config
        if config is not None and not config.pluginmanager.has_plugin(_REPORT_HOOK):
            manager = config.pluginmanager
            manager.register(_OnTheReport(self), _REPORT_HOOK)
            config.add_cleanup(lambda: manager.unregister(name=_REPORT_HOOK))

    # -- hooks

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """xdist (controller): tell each worker the job id, so its files go to this job."""
        node.workerinput[JOB_ID_KEY] = self.job_id

    # one plain hook a test: pluggy's wrappers cost about as much as the rest of an upload's
    # per-test path, and each plain one about 6,000 instructions (issue 28)
    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self._nodeid = nodeid  # until the next test's start: only hooks run in between

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self) -> Generator[None, object, object]:
        """After the last test there is no running test (once a session, not once a test)."""
        try:
            return (yield)
        finally:
            self._nodeid = None

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Each conftest is loaded now: the reports go through ``pytest_octane_attachments``
        only when something implements it."""
        config = session.config
        if self.enabled and config.hook.pytest_octane_attachments.get_hookimpls():
            manager = config.pluginmanager
            if not manager.has_plugin(_HOOK_CALLER):
                manager.register(_AttachmentsHook(self), _HOOK_CALLER)
                config.add_cleanup(lambda: manager.unregister(name=_HOOK_CALLER))

    def put_on(self, report: pytest.TestReport) -> None:
        """The files attached to this report's test since its last report go on it."""
        if not self._pending:  # most reports: nothing was attached
            return
        attached = self._pending.pop(report.nodeid, None)
        if attached:
            earlier = getattr(report, ATTACH_ATTR, None) or []
            setattr(report, ATTACH_ATTR, [*earlier, *attached])


_REPORT_HOOK = "octane-attachments-report"


class _OnTheReport:
    """Puts attached files on each report (registered at the first one: ``AttachSink._keep``)."""

    def __init__(self, sink: AttachSink) -> None:
        self.sink = sink

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.sink.put_on(report)


_HOOK_CALLER = "octane-attachments-hook"


class _AttachmentsHook:
    """Gives each phase's report to ``pytest_octane_attachments`` (registered only when
    something implements that hook) and attaches the files it names."""

    def __init__(self, sink: AttachSink) -> None:
        self.sink = sink

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        answers = item.config.hook.pytest_octane_attachments(item=item, report=report)
        for files in answers:
            for entry in files or ():
                data, name, description = (
                    (*entry, None, None)[:3] if isinstance(entry, tuple) else (entry, None, None)
                )
                self.sink.attach_to(item.nodeid, data, name, description)
        return report


def _zip(target: Path, inner: str, data: bytes | Path | None) -> None:
    """``target`` as a zip holding one member ``inner`` (deflated)."""
    tmp = target.with_name(target.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        member = os.path.basename(inner) or "attachment"
        if isinstance(data, bytes):
            archive.writestr(member, data)
        else:
            assert data is not None
            archive.write(data, member)
    tmp.replace(target)


def octane_attach_fixture(request: pytest.FixtureRequest, sink: AttachSink | None) -> Any:
    """The fixture's value: ``attach(path_or_bytes, name=None, description=None)`` bound to
    the requesting test (a no-op when pytest-octane is off: no ``sink``)."""
    nodeid = request.node.nodeid

    def attach(
        data: str | os.PathLike[str] | bytes,
        name: str | None = None,
        description: str | None = None,
    ) -> None:
        __tracebackhide__ = True
        if sink is not None and sink.enabled:
            sink.attach_to(nodeid, data, name, description)
        else:
            pytest_octane.attached_file(data, name)  # misuse fails alike without an upload

    return attach
