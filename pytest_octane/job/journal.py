"""The job's journal: every final result on local disk the moment it is known.

The pytest process appends one line per finished test to ``journal.jsonl`` in the job's spool
folder, into the page cache before the test's teardown report returns (a copy into a mapping
of reserved space, or one unbuffered ``write``; no fsync: the page cache survives a killed
process), so a SIGKILL of pytest loses nothing that finished.  The uploader process follows
the file as it grows; ``pytest-octane resume`` reads it again to finish a job whose uploader
died too.  The journal, not memory, is where results live until Octane has them.

Format (version 4; version 1 had no expected count, version 2 no test record, version 3 no
zero bytes after its end), one JSON document per line:

* the header, first: ``{"journal": "pytest-octane", "version": 4, "job": JOB_ID, "pid": N,
  "host": NAME, "module": NAME, "slices": {"size": N, "max_trace": N}, "header": {...}}``:
  the writing pytest process (so ``resume`` does not cut a growing journal), the module its
  runs go to, and how its slices are written (the document header: build, release,
  fields...), so that whoever cuts them writes the same bytes;
* a plain result (no error, scenario or attachment), the pytest process's line per test:
  ``{"test": {"nodeid": ..., "status": ..., "duration_ms": N, "started_ms": N,
  "description": ..., "jira_keys": [...]}}``: what pytest reported, nothing derived; the
  reader names the run (:func:`model.split_nodeid`) and puts it in the header's module;
* any other result: ``{"run": {...}}``, a generic serialisation of :class:`model.TestRun`
  (every field, nested records included), so a field added to ``TestRun`` travels without a
  change here; a reader fills fields missing from an older record with their defaults and
  refuses a record naming a field it does not know (it was written by a newer pytest-octane);
* the expected count (version 2), once the tests are collected, when the session streams:
  ``{"expect": {"runs": N}}``; the session's last slice is then cut in two (:func:`slice_ends`);
* the end mark, last: ``{"end": {"exit": N}}`` (pytest reached the end of its session).

A line without its newline at the very end was cut by a killed writer; it is not a result.
Space is reserved ahead of the writer and given back when it closes the journal: one whose
writer died ends in zero bytes, and a reader stops at the first (no line holds one).
"""

from __future__ import annotations

import dataclasses
import enum
import errno
import json
import mmap
import operator
import os
import socket
import time
import types
import typing
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pytest_octane.errors import InputError
from pytest_octane.octane.xml_text import ResultHeader
from pytest_octane.reported import RunStatus, split_nodeid
from pytest_octane.settings.parsers import MAX_SLICE_SIZE

if TYPE_CHECKING:
    from pytest_octane.model import TestRun

__all__ = [
    "JOURNAL_NAME",
    "PLAIN_RUN_FIELDS",
    "VERSION",
    "Journal",
    "JournalReader",
    "JournalWriter",
    "decode",
    "encode",
    "new_job_id",
    "plain_run",
    "plain_run_line",
    "read_journal",
    "reported_line",
    "reported_run",
    "run_line",
    "slice_ends",
    "tail_cut",
]

JOURNAL_NAME = "journal.jsonl"
VERSION = 4
_MAGIC = "pytest-octane"

#: the session's last slice is cut in two when it would hold at least this many runs: all but
#: its last eighth is sent while the last tests still run, so the wait at the end of the
#: session is for the Octane task of an eighth of a slice (issue 28)
TAIL_SPLIT_MIN = 200
TAIL_PART = 8


def tail_cut(size: int, expected: int | None) -> int | None:
    """Where the expected last slice is cut in two (a run count), or None."""
    if not expected or expected <= 0:
        return None
    last = expected - (expected - 1) // size * size  # runs of the expected last slice
    if last < TAIL_SPLIT_MIN:
        return None
    return expected - last // TAIL_PART


def slice_ends(count: int, size: int, expected: int | None = None) -> list[int]:
    """The ends (run counts) of the full slices that ``count`` journaled runs fill, in order:
    every ``size`` runs and, when the session said how many results it expects, where its
    last slice is cut in two (:func:`tail_cut`).  Only the journal decides them, so whoever
    cuts a journal (the uploader as it grows, ``resume`` after a kill) cuts the same slices."""
    ends = list(range(size, count + 1, size))
    cut = tail_cut(size, expected)
    if cut is not None and cut <= count and cut % size:
        ends.append(cut)
        ends.sort()
    return ends


def new_job_id() -> str:
    """The local time and 8 random hex digits (what ``uuid4().hex[:8]`` gave, without
    importing uuid and platform into pytest's process)."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + os.urandom(4).hex()


# ---------------------------------------------------------------- the generic record codec


def encode(value: Any) -> Any:
    """A frozen record as JSON-ready data: dataclasses and named tuples by field name, enums
    by value, tuples as lists, everything else as it is (str, int, float, bool, None)."""
    kind = type(value)
    if kind in _PLAIN:  # most fields: the hot path of one journal line per test
        return value
    record = _RECORDS.get(kind)
    if record is not None:
        return record(value)
    if kind is tuple or kind is list:
        return [item if type(item) in _PLAIN else encode(item) for item in value]
    if isinstance(value, enum.Enum):
        return value.value
    if (dataclasses.is_dataclass(value) and not isinstance(value, type)) or _is_named_tuple(kind):
        return _record_encoder(kind)(value)
    if isinstance(value, tuple | list):
        return [encode(item) for item in value]
    return value


def _record_encoder(kind: type) -> Callable[[Any], dict[str, Any]]:
    """One dataclass's encoder, made once: its fields read by one ``attrgetter`` call, a
    plain value taken as it is (a journal line per test goes through here)."""
    names = _field_names(kind)
    values = operator.attrgetter(*names) if len(names) > 1 else (lambda v: (getattr(v, names[0]),))

    def encode_record(value: Any) -> dict[str, Any]:
        return {
            name: item if type(item) in _PLAIN else encode(item)
            for name, item in zip(names, values(value), strict=True)
        }

    _RECORDS[kind] = encode_record
    return encode_record


#: types :func:`encode` returns as they are (exact types: an enum deriving from str is not one)
_PLAIN = frozenset({str, int, float, bool, type(None)})


def decode(kind: Any, data: Any) -> Any:
    """The inverse of :func:`encode` for the type ``kind`` (a record class or a type hint)."""
    if type(data) is kind and kind in _PLAIN:  # most fields of a record: as they are
        return data
    if data is None and kind in _NULLABLE:
        return None
    origin = typing.get_origin(kind)
    if kind is Any:
        return data
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if type(None) in options:
            _NULLABLE.add(kind)  # the next None for this hint takes the fast path
            if data is None:
                return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return decode(option, data)
            except (TypeError, ValueError, KeyError) as exc:
                errors.append(str(exc))
        raise ValueError(f"{data!r} fits none of {kind}: {'; '.join(errors)}")
    if origin is tuple:
        args = typing.get_args(kind)
        _expect(data, list, kind)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(decode(args[0], item) for item in data)
        return tuple(decode(arg, item) for arg, item in zip(args, data, strict=True))
    if isinstance(kind, type) and (dataclasses.is_dataclass(kind) or _is_named_tuple(kind)):
        _expect(data, dict, kind)
        hints = _hints(kind)
        unknown = set(data) - set(hints)
        if unknown:
            raise KeyError(
                f"{kind.__name__} has no field {', '.join(sorted(unknown))} (written by a "
                "newer pytest-octane: finish this job with that version)"
            )
        return kind(**{name: decode(hints[name], value) for name, value in data.items()})
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind(data)
    if kind is float:
        _expect(data, int | float, kind)
        return float(data)
    if kind in (str, int, bool):
        _expect(data, kind, kind)
        return data
    raise TypeError(f"cannot read a {kind!r} from a journal")


def _expect(data: Any, kind: Any, what: Any) -> None:
    if not isinstance(data, kind) or (kind is int and isinstance(data, bool)):
        raise TypeError(f"expected {getattr(what, '__name__', what)}, got {data!r}")


#: type hints that admit None (``X | None``), learnt by :func:`decode`
_NULLABLE: set[Any] = set()
_FIELDS: dict[type, tuple[str, ...]] = {}
_RECORDS: dict[type, Callable[[Any], dict[str, Any]]] = {}
_HINTS: dict[type, dict[str, Any]] = {}


def _is_named_tuple(kind: type) -> bool:
    return issubclass(kind, tuple) and hasattr(kind, "_fields")


def _field_names(kind: type) -> tuple[str, ...]:
    names = _FIELDS.get(kind)
    if names is None:
        if _is_named_tuple(kind):
            names = tuple(kind._fields)  # type: ignore[attr-defined]  # a NamedTuple's
        else:
            names = tuple(f.name for f in dataclasses.fields(kind))
        _FIELDS[kind] = names
    return names


def _run_class() -> type[TestRun]:
    """``model.TestRun``, imported by the first reader of a run: pytest's process writes the
    journal without building the records' classes (issue 28)."""
    from pytest_octane.model import TestRun

    return TestRun


def _hints(kind: type) -> dict[str, Any]:
    hints = _HINTS.get(kind)
    if hints is None:
        every = typing.get_type_hints(kind)
        hints = _HINTS[kind] = {name: every[name] for name in _field_names(kind)}
    return hints


def run_line(run: TestRun) -> bytes:
    """One result as the journal's line (with its newline): the bytes of
    ``{"run": encode(run)}`` in compact JSON.

    This is the pytest process's hot path (one line per test, issue 28): a plain run (no
    error, scenario or attachment; every field of its exact type) is written by
    :func:`plain_run_line`, in a fifth of the generic codec's time; any other run goes
    through :func:`encode`.  Both give the same bytes.
    """
    if run.error is None and run.gherkin is None and not run.attachments:
        try:
            return plain_run_line(run)
        except (TypeError, AttributeError):  # a field of another type (a hook's doing)
            pass
    text = _LINE_ENCODER.encode({"run": encode(run)})
    return (text + "\n").encode("utf-8", "surrogatepass")


def plain_run_line(run: TestRun) -> bytes:
    """The journal line of a plain run (no error, scenario or attachment), written by one
    format with the C string escaper that ``json`` itself uses: what :func:`run_line`
    writes for it through the generic codec.  A field of another type raises TypeError."""
    nodeid, module, package, klass, name = run.nodeid, run.module, run.package, run.klass, run.name
    status, duration_ms, started_ms = run.status, run.duration_ms, run.started_ms
    text, keys = run.description, run.jira_keys
    quoted = _quoted
    if type(duration_ms) is not int or type(started_ms) is not int or type(status) is not RunStatus:
        raise TypeError("not a plain run")
    about = "null" if text is None else quoted(text)
    return (
        f'{{"run":{{"nodeid":{quoted(nodeid)},"module":{quoted(module)},'
        f'"package":{quoted(package)},"klass":{quoted(klass)},'
        f'"name":{quoted(name)},"status":{_STATUS_TEXT[status]},'
        f'"duration_ms":{int.__repr__(duration_ms)},"started_ms":{int.__repr__(started_ms)},'
        f'"error":null,"description":{about},'
        f'"jira_keys":[{",".join(map(quoted, keys))}],'
        '"gherkin":null,"attachments":[]}}\n'
    ).encode("utf-8", "surrogatepass")


def reported_line(
    nodeid: str,
    status: RunStatus,
    duration_ms: int,
    started_ms: int,
    description: str | None,
    jira_keys: tuple[str, ...],
) -> bytes:
    """The journal line of a plain result (no error, scenario or attachment) as pytest
    reported it: the pytest process's one line per test (issue 28), with nothing derived
    that the reader can derive (names, module).  A key or text that is no str raises
    TypeError (the caller journals that run through :func:`run_line`)."""
    quoted = _quoted
    return (
        f'{{"test":{{"nodeid":{quoted(nodeid)},"status":{_STATUS_TEXT[status]},'
        f'"duration_ms":{int.__repr__(duration_ms)},"started_ms":{int.__repr__(started_ms)},'
        f'"description":{"null" if description is None else quoted(description)},'
        f'"jira_keys":[{",".join(map(quoted, jira_keys))}]}}}}\n'
    ).encode("utf-8", "surrogatepass")


def reported_run(data: Any, module: str) -> TestRun:
    """The run of a ``test`` record (:func:`reported_line`) in ``module``; TypeError, KeyError or
    ValueError for a damaged one, KeyError for a field this version does not know."""
    if type(data) is not dict:
        raise TypeError(f"expected a record, got {data!r}")
    if data.keys() != _TEST_KEYS:
        unknown = data.keys() - _TEST_KEYS
        if unknown:
            raise KeyError(
                f"a test record has no field {', '.join(sorted(unknown))} (written by a newer "
                "pytest-octane: finish this job with that version)"
            )
        raise KeyError(f"a test record lacks {', '.join(sorted(_TEST_KEYS - data.keys()))}")
    nodeid, duration, started = data["nodeid"], data["duration_ms"], data["started_ms"]
    description, keys = data["description"], data["jira_keys"]
    if (
        type(nodeid) is not str
        or type(duration) is not int
        or type(started) is not int
        or not (description is None or type(description) is str)
        or type(keys) is not list
        or any(type(key) is not str for key in keys)
    ):
        raise TypeError(f"a test record with a field of the wrong type: {data!r}")
    status = _STATUSES.get(data["status"])
    if status is None:
        raise ValueError(f"{data['status']!r} is not a run status")
    package, klass, name = split_nodeid(nodeid)
    return _run_class()(
        nodeid=nodeid, module=module, package=package, klass=klass, name=name, status=status,
        duration_ms=duration, started_ms=started, description=description,
        jira_keys=tuple(keys),
    )  # fmt: skip


def plain_run(data: Any) -> TestRun | None:
    """``decode(TestRun, data)`` for the record of a plain run (what :func:`plain_run_line`
    writes), in a sixth of the generic decoder's time (the uploader reads a record per
    test); None for any other record, which the generic decoder then reads or refuses."""
    if type(data) is not dict or data.keys() != _PLAIN_RUN_KEYS:
        return None
    if data["error"] is not None or data["gherkin"] is not None or data["attachments"] != []:
        return None
    texts = (data["nodeid"], data["module"], data["package"], data["klass"], data["name"])
    duration, started, keys = data["duration_ms"], data["started_ms"], data["jira_keys"]
    description = data["description"]
    if (
        any(type(text) is not str for text in texts)
        or type(duration) is not int
        or type(started) is not int
        or not (description is None or type(description) is str)
        or type(keys) is not list
        or any(type(key) is not str for key in keys)
    ):
        return None
    status = _STATUSES.get(data["status"])
    if status is None:
        return None
    nodeid, module, package, klass, name = texts
    return _run_class()(
        nodeid=nodeid, module=module, package=package, klass=klass, name=name, status=status,
        duration_ms=duration, started_ms=started, description=description,
        jira_keys=tuple(keys),
    )  # fmt: skip


#: one encoder for every line (``json.dumps`` with options builds a new one per call)
_LINE_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
#: the JSON string of a str, as ``_LINE_ENCODER`` writes it (non-ASCII kept, C-escaped;
#: a str subclass or anything else raises TypeError)
_quoted: Callable[[str], str] = json.encoder.encode_basestring
#: the fields :func:`plain_run_line` writes, in ``TestRun``'s order (tests/job/test_journal.py
#: fails when ``TestRun`` gains a field the plain line does not write)
PLAIN_RUN_FIELDS = (
    "nodeid", "module", "package", "klass", "name", "status", "duration_ms", "started_ms",
    "error", "description", "jira_keys", "gherkin", "attachments",
)  # fmt: skip
_PLAIN_RUN_KEYS = frozenset(PLAIN_RUN_FIELDS)
_STATUSES: dict[Any, RunStatus] = {status.value: status for status in RunStatus}
#: each status as the JSON string a line holds
_STATUS_TEXT = {status: json.dumps(status.value) for status in RunStatus}
_TEST_KEYS = frozenset(
    ("nodeid", "status", "duration_ms", "started_ms", "description", "jira_keys")
)


# ---------------------------------------------------------------- writing (the pytest process)


class JournalWriter:
    """Appends to one job's journal; a line is in the page cache when its call returns.

    Where the filesystem reserves space (``posix_fallocate``), lines are copied into a shared
    mapping of reserved space: a store into the page cache, no system call a test (issue 28:
    between pytest's own work a ``write`` costs about 5 µs, a copy about 1 µs).  The space is
    reserved before it is mapped, so a full disk is an ``OSError`` here, never a SIGBUS in the
    middle of a test; a killed process's stores stay in the page cache like its writes.  The
    file is cut to its written end when closed: a journal whose writer died ends in zero
    bytes, which readers stop at.  Elsewhere (or once reserving fails) each line is one
    unbuffered write.

    It also keeps the count of results by status, tells ``on_slice_full`` when a slice is full
    (the uploader cuts it at once), and keeps a result no write took (a full disk) to store it
    before the next one.
    """

    def __init__(
        self,
        path: Path,
        job_id: str,
        *,
        header: ResultHeader | None = None,
        module: str | None = None,
        slice_size: int = MAX_SLICE_SIZE,
        max_trace: int = 20000,
        on_slice_full: Callable[[int], object] | None = None,
        mapped: bool = True,
    ) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        #: where the next line goes, and where the descriptor's position is (-1: unknown)
        self._end = self._written_to = os.lseek(self._fd, 0, os.SEEK_END)
        self._mapped = mapped and _CAN_RESERVE
        #: the mapping (an empty bytearray when none: nothing fits in it, ``_room`` is 0)
        self._map: mmap.mmap | bytearray = bytearray()
        self._map_at = 0  # the file offset of the mapping's first byte
        self._room = 0  # the file offset where the mapping ends
        #: the results journaled, and the results given by status (a full disk's included)
        self.results = 0
        self.counts: Counter[RunStatus] = Counter()
        #: result lines no write took yet (a full disk), and why
        self.unwritten: list[bytes] = []
        self.error: OSError | None = None
        self._slice_size = slice_size
        self._tail_cut: int | None = None
        self._next_notice = slice_size
        self._on_slice_full = on_slice_full
        first = {
            "journal": _MAGIC,
            "version": VERSION,
            "job": job_id,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "module": module or "",
            "slices": {"size": slice_size, "max_trace": max_trace},
            "header": encode(header or ResultHeader()),
        }
        self.add_line((json.dumps(first) + "\n").encode("utf-8"))

    def add(self, run: TestRun) -> None:
        """Journal one final result."""
        self.add_result(run_line(run), run.status)

    def add_result(self, line: bytes, status: RunStatus) -> None:
        """Journal one final result given as its line (:func:`reported_line`,
        :func:`run_line`): the pytest process's per-test path.  A line that no write takes
        (a full disk) is kept and stored before the next one, and by :meth:`end`."""
        self.counts[status] += 1
        if self.unwritten:
            self.unwritten.append(line)
            self._store_unwritten()
            return
        end = self._end
        stop = end + len(line)
        if stop <= self._room:  # the common case, written out: a copy into the mapping
            self._map[end - self._map_at : stop - self._map_at] = line
            self._end = stop
        else:
            try:
                self.add_line(line)
            except OSError as exc:
                self.unwritten.append(line)
                self.error = exc
                return
        self.results += 1
        if self.results == self._next_notice:
            self._slice_full()

    def add_line(self, line: bytes) -> None:
        """Store one line at the journal's end (OSError when no space is left for it)."""
        if self._fd is None:
            raise InputError(f"the journal {self.path} is closed")
        end = self._end
        stop = end + len(line)
        if stop > self._room and self._mapped:
            self._map_through(stop)
        if stop <= self._room:
            self._map[end - self._map_at : stop - self._map_at] = line
        else:
            if self._written_to != end:  # a mapping, or a failed write, moved the end
                os.lseek(self._fd, end, os.SEEK_SET)
            self._written_to = -1  # until the line is whole: a failed write seeks again
            view = memoryview(line)
            while view:  # a regular file takes it all at once; a short write goes on
                view = view[os.write(self._fd, view) :]
            self._written_to = stop
        self._end = stop

    def _map_through(self, stop: int) -> None:
        """Reserve and map the file from the page of the journal's end past ``stop``; when
        the filesystem cannot, every later line is written instead."""
        assert self._fd is not None
        start = self._end - self._end % mmap.ALLOCATIONGRANULARITY
        length = max(MAP_SPAN, -(-(stop - start) // MAP_SPAN) * MAP_SPAN)
        self._unmap()
        try:
            os.posix_fallocate(self._fd, start, length)
        except OSError as exc:
            # a full disk: this line is written if it still fits, the next one maps again;
            # any other error: this filesystem reserves nothing, every line is written
            self._mapped = exc.errno == errno.ENOSPC
            return
        try:
            self._map = mmap.mmap(self._fd, length, offset=start)
        except (OSError, ValueError):
            self._mapped = False
            return
        self._map_at, self._room = start, start + length

    def _unmap(self) -> None:
        if isinstance(self._map, mmap.mmap):
            self._map.close()
        self._map, self._room = bytearray(), 0

    def _store_unwritten(self) -> None:
        while self.unwritten:
            try:
                self.add_line(self.unwritten[0])
            except OSError as exc:
                self.error = exc
                return
            self.unwritten.pop(0)
            self.results += 1
            if self.results == self._next_notice:
                self._slice_full()

    def _slice_full(self) -> None:
        """A slice is full: the uploader cuts and sends it now, not at its next look."""
        results = self.results
        self._next_notice = self._notice_after(results)
        if self._on_slice_full is not None:
            self._on_slice_full(results)

    def _notice_after(self, results: int) -> int:
        """The next journaled count that fills a slice: a multiple of the slice size, or
        where the last slice is cut in two (:func:`tail_cut`)."""
        size = self._slice_size
        following = (results // size + 1) * size
        cut = self._tail_cut
        return cut if cut is not None and results < cut < following else following

    def expect(self, runs: int) -> None:
        """How many results the session expects (its collected tests): its last slice is
        cut in two (:func:`slice_ends`), and the uploader is told when that part is full."""
        self.add_line((json.dumps({"expect": {"runs": int(runs)}}) + "\n").encode("utf-8"))
        self._tail_cut = tail_cut(self._slice_size, runs)
        self._next_notice = self._notice_after(self.results)

    def end(self, exit_status: int) -> None:
        """What a full disk held back, then the end mark: pytest reached the end of its
        session; nothing follows."""
        self._store_unwritten()  # what stays unwritten is said by the caller (``unwritten``)
        self.add_line((json.dumps({"end": {"exit": int(exit_status)}}) + "\n").encode("utf-8"))
        self.close()

    @property
    def closed(self) -> bool:
        return self._fd is None

    def close(self) -> None:
        """Unmap and cut the file to its written end (the reserved rest is given back)."""
        if self._fd is None:
            return
        self._unmap()
        try:
            os.ftruncate(self._fd, self._end)
        except OSError:  # zeros at the end read as a writer that died: nothing is lost
            pass
        os.close(self._fd)
        self._fd = None


#: how much of the file is reserved and mapped at a time (a 5,000-test session's lines fit)
MAP_SPAN = 1 << 20
#: whether this platform reserves file space (Linux does; macOS and Windows write each line)
_CAN_RESERVE = hasattr(os, "posix_fallocate")


# ---------------------------------------------------------------- reading (uploader, resume)


@dataclass(slots=True)
class Journal:
    """What a journal holds so far."""

    job_id: str
    runs: list[TestRun] = field(default_factory=list)
    #: the session's exit status once the end mark is read, else None
    exit_status: int | None = None
    #: a last line cut short by a killed writer (left out)
    torn: bool = False
    #: the writing pytest process, on host ``host``
    pid: int | None = None
    host: str | None = None
    #: how its slices are written: the session's document header, slice size and trace limit
    header: ResultHeader = field(default_factory=ResultHeader)
    #: the Octane module of its runs (the session's ``--octane-module``; "" for none)
    module: str = ""
    slice_size: int = MAX_SLICE_SIZE
    max_trace: int = 20000
    #: how many results the session expects (its collected tests), when it said so
    expected: int | None = None

    @property
    def ended(self) -> bool:
        return self.exit_status is not None

    def slice_ends(self) -> list[int]:
        """The ends of the full slices its runs fill so far (:func:`slice_ends`)."""
        return slice_ends(len(self.runs), self.slice_size, self.expected)


class JournalReader:
    """Follows a journal as it grows: :meth:`read` returns what was added since the last call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.journal: Journal | None = None
        self._offset = 0
        self._line = 1
        self._rest = b""

    def read(self) -> list[TestRun]:
        """The results added since the last call (complete lines only)."""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                data = _written(handle)
        except FileNotFoundError:
            if self.journal is None:
                return []
            raise InputError(f"the journal {self.path} was removed while it was read") from None
        except OSError as exc:
            raise InputError(f"the journal {self.path} cannot be read ({exc.strerror})") from None
        self._offset += len(data)
        data = self._rest + data
        complete = data.rfind(b"\n") + 1
        lines, self._rest = data[:complete], data[complete:]
        added: list[TestRun] = []
        decoded = _decode_lines(lines)
        # None: a line that is no JSON value; read them one by one to name it
        records = map(self._decode, lines.split(b"\n")[:-1]) if decoded is None else decoded
        for record in records:
            self._take(record, added)
            self._line += 1
        return added

    def finish(self) -> Journal:
        """Read to the end of a journal whose writer is gone: a cut last line is left out."""
        self.read()
        journal = self.journal or Journal(job_id="")
        if self._rest:
            journal.torn = True
            self._rest = b""
        if self.journal is None:
            raise InputError(f"the journal {self.path} is empty (no header line)")
        return journal

    @property
    def _where(self) -> str:
        return f"{self.path} line {self._line}"

    def _decode(self, line: bytes) -> Any:
        try:
            return json.loads(line)
        except ValueError as exc:
            raise InputError(f"the journal {self._where} is not JSON ({exc})") from None

    def _error(self, what: str) -> InputError:
        """The error naming the line being read (its place is worked out only for a line
        that is wrong, not for each result: issue 28)."""
        return InputError(f"the journal {self._where} {what}")

    def _take(self, record: Any, added: list[TestRun]) -> None:
        if not isinstance(record, dict):
            raise self._error("is not a record")
        if self.journal is None:
            if record.get("journal") != _MAGIC or not isinstance(record.get("version"), int):
                raise InputError(f"{self.path} is not a pytest-octane journal (no header)")
            if record["version"] > VERSION:
                raise InputError(
                    f"the journal {self.path} has format version {record['version']}; this "
                    f"pytest-octane reads up to {VERSION}: finish the job with a newer one"
                )
            pid = record.get("pid")
            module = record.get("module") or ""
            slices = record.get("slices") or {}
            try:
                header = decode(ResultHeader, record.get("header") or {})
                size, max_trace = int(slices["size"]), int(slices["max_trace"])
            except (TypeError, ValueError, KeyError) as exc:
                raise self._error(f"is a damaged header: {exc}") from None
            if not isinstance(module, str):
                raise self._error(f"is a damaged header: module {module!r}")
            self.journal = Journal(
                job_id=str(record.get("job") or ""),
                pid=pid if isinstance(pid, int) else None,
                host=str(record.get("host") or "") or None,
                header=header,
                module=module,
                slice_size=size,
                max_trace=max_trace,
            )
            return
        if self.journal.ended:
            raise self._error("follows the end mark")
        if "test" in record:
            try:
                run = reported_run(record["test"], self.journal.module)
            except (TypeError, ValueError, KeyError) as exc:
                raise self._error(f"holds no valid result: {exc}") from None
            self.journal.runs.append(run)
            added.append(run)
        elif "run" in record:
            try:
                data = record["run"]
                run = plain_run(data) or decode(_run_class(), data)
            except (TypeError, ValueError, KeyError) as exc:
                raise self._error(f"holds no valid result: {exc}") from None
            self.journal.runs.append(run)
            added.append(run)
        elif "end" in record:
            self.journal.exit_status = int(record["end"].get("exit", 0))
        elif "expect" in record:
            try:
                expected = int(record["expect"]["runs"])
            except (TypeError, ValueError, KeyError) as exc:
                raise self._error(f"is a damaged expectation: {exc}") from None
            journal = self.journal
            cut = tail_cut(journal.slice_size, expected)
            # one that comes after its cut (more results than that before it) changes nothing:
            # the slices cut before it was read stay what they were
            if journal.expected is None and cut is not None and len(journal.runs) < cut:
                journal.expected = expected
        else:
            raise self._error("is neither a result, an expectation nor the end mark")


def _written(handle: IO[bytes]) -> bytes:
    """The file from where it is to its first zero byte: a mapping's writer stores into space
    reserved (zeros) ahead of it, and every byte of a line is written once, so any zero byte is
    a byte not yet written (JSON text holds none).  Read in pieces: not the reserved rest."""
    pieces: list[bytes] = []
    while True:
        piece = handle.read(_READ_PIECE)
        zero = piece.find(0)
        if zero >= 0:
            pieces.append(piece[:zero])
            break
        pieces.append(piece)
        if len(piece) < _READ_PIECE:
            break
    return b"".join(pieces)


_READ_PIECE = 1 << 16
_RAW_DECODE = json.JSONDecoder().raw_decode


def _decode_lines(lines: bytes) -> list[Any] | None:
    """The JSON value of each newline-ended line, or None when a line holds anything else (read
    them one by one then, to name it).  One decoder walk over the text instead of a
    ``json.loads`` a line: the uploader reads a line per test, and this takes 60 % of the
    time (issue 28).  Each value must end where its line ends: a string cannot hold a raw newline,
    so values and lines cannot fall out of step."""
    try:
        text = lines.decode("utf-8", "surrogatepass")  # as json.loads decodes bytes
        values: list[Any] = []
        position, end = 0, len(text)
        while position < end:
            value, stop = _RAW_DECODE(text, position)
            if text[stop] != "\n":  # no IndexError: the text ends with a newline
                return None
            values.append(value)
            position = stop + 1
    except ValueError:  # UnicodeDecodeError too
        return None
    return values


def read_journal(path: Path) -> Journal:
    """The whole journal of a job whose writer is gone."""
    return JournalReader(path).finish()
