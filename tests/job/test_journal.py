"""The journal: one line per result, read back whole, followed as it grows, versioned."""

from __future__ import annotations

import dataclasses
import errno
import json
import mmap
import os
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path

import pytest
from uploader_support import make_run, make_scenario

from pytest_octane.errors import InputError
from pytest_octane.job.journal import (
    PLAIN_RUN_FIELDS,
    VERSION,
    JournalReader,
    JournalWriter,
    decode,
    encode,
    plain_run,
    read_journal,
    reported_line,
    run_line,
    slice_ends,
    tail_cut,
)
from pytest_octane.job.spool import cut_slices
from pytest_octane.model import Attachment, RunError, RunStatus, TestRun, split_nodeid
from pytest_octane.octane.xml_text import BuildContext, ResultHeader


def test_every_field_of_a_run_travels_and_comes_back_equal() -> None:
    runs = [make_run(7), make_run(8, jira_keys=("AB-1", "AB-2"), description="d"), make_scenario(3)]
    runs.append(make_run(9, name="odd \udcff \x00 é ☃"))  # a lone surrogate, a NUL
    for run in runs:
        data = json.loads(json.dumps(encode(run)))
        # generic: every field of TestRun is written, whatever fields TestRun gains
        assert set(data) == {f.name for f in dataclasses.fields(TestRun)}
        assert decode(TestRun, data) == run


def test_a_runs_line_is_the_generic_encoding_byte_for_byte() -> None:
    """run_line writes plain fields itself (the per-test hot path): the bytes must be those of
    the generic codec for every kind of run, odd strings and nested records included."""
    generic = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
    odd = ["", "é ☃ 𝄞", "\udcff", "\x00\x1f\x7f", 'q"uo\\te', "line\nbreak\ttab", "\u2028"]
    runs = [make_run(1), make_scenario(2)]
    for index, text in enumerate(odd):
        error = RunError(type=text or "E", message=text, trace=text * 3)
        runs += [
            make_run(10 + index, name=text, description=text, jira_keys=("AB-1", text)),
            make_run(20 + index, status=RunStatus.FAILED, error=error, duration_ms=2**63 - 1),
            make_run(30 + index, jira_keys=(), attachments=(Attachment(path=text, name="a.png"),)),
        ]
    # what a pytest_octane_modify_run hook might put in a field: written as the codec does
    runs += [make_run(40, name=_Text("sub")), make_run(41, duration_ms=True)]  # type: ignore[arg-type]
    for run in runs:
        expected = (generic.encode({"run": encode(run)}) + "\n").encode("utf-8", "surrogatepass")
        assert run_line(run) == expected
        data = json.loads(run_line(run))["run"]
        if run.duration_ms is not True:
            assert decode(TestRun, data) == run
        fast = plain_run(data)  # the reader's fast path: the generic decoder's run, or None
        assert fast is None or (fast == decode(TestRun, data) and run.error is None)


class _Text(str):
    pass


def test_the_plain_line_writes_every_field_of_a_run() -> None:
    """Else every run would take the generic codec: still right, but slow per test."""
    assert tuple(f.name for f in dataclasses.fields(TestRun)) == PLAIN_RUN_FIELDS


def test_the_fast_reader_leaves_every_other_record_to_the_generic_one() -> None:
    data = json.loads(run_line(make_run(1)))["run"]
    assert plain_run(data) == make_run(1)
    changes: list[dict[str, object]] = [
        {"status": "passed"}, {"duration_ms": True}, {"started_ms": 1.5}, {"name": None},
        {"jira_keys": ["AB-1", 2]}, {"jira_keys": "AB-1"}, {"description": 3},
        {"attachments": None}, {"screenshots": []},
    ]  # fmt: skip
    for change in changes:
        assert plain_run({**data, **change}) is None, change
    del data["gherkin"]  # an older record: the generic reader fills the default
    assert plain_run(data) is None and decode(TestRun, data) == make_run(1)


def test_a_record_without_a_newer_field_gets_its_default() -> None:
    data = encode(make_run(1, description="kept"))
    del data["jira_keys"], data["gherkin"]  # written before these fields existed
    assert decode(TestRun, data) == make_run(1, description="kept")


def test_a_field_this_version_does_not_know_is_refused_not_dropped(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    JournalWriter(path, "job-1").close()
    data = encode(make_run(1))
    data["screenshots"] = ["a.png"]
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"run": data}) + "\n")
    with pytest.raises(InputError, match=r"line 2 .*no field screenshots .*newer pytest-octane"):
        read_journal(path)


def test_a_newer_format_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    header = {"journal": "pytest-octane", "version": VERSION + 1, "job": "j"}
    path.write_text(json.dumps(header) + "\n")
    with pytest.raises(InputError, match=f"format version {VERSION + 1}"):
        read_journal(path)


def test_a_reported_result_is_read_as_its_named_run_in_the_journals_module(
    tmp_path: Path,
) -> None:
    """The pytest process writes what pytest reported; the reader names the run and puts it
    in the module the header names (odd characters and keys included)."""
    path = tmp_path / "journal.jsonl"
    writer = JournalWriter(path, "job-1", module="Checkout")
    odd = 'tests/unit/test_x.py::TestA::test_b[\udcff\x00"\\é]'
    writer.add_line(reported_line(odd, RunStatus.SKIPPED, 7, 1_700_000_000_123, "why", ()))
    writer.add_line(reported_line("t.py::t", RunStatus.PASSED, 0, 5, None, ("AB-1", "AB-2")))
    writer.end(0)
    first, second = read_journal(path).runs
    package, klass, name = split_nodeid(odd)
    assert first == TestRun(
        nodeid=odd, module="Checkout", package=package, klass=klass, name=name,
        status=RunStatus.SKIPPED, duration_ms=7, started_ms=1_700_000_000_123,
        description="why",
    )  # fmt: skip
    assert (second.package, second.klass, second.name) == ("", "t", "t")
    assert second.jira_keys == ("AB-1", "AB-2") and second.description is None


def test_a_reported_line_with_a_key_that_is_no_str_raises_type_error() -> None:
    with pytest.raises(TypeError):
        reported_line("t.py::t", RunStatus.PASSED, 0, 5, None, (7,))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("record", "error"),
    [
        ('{"test": {"nodeid": "t.py::t"}}', "lacks description, duration_ms"),
        ('{"test": []}', "expected a record"),
        ('{"test": {"nodeid": 1, "status": "Passed", "duration_ms": 0, "started_ms": 0, '
         '"description": null, "jira_keys": []}}', "wrong type"),
        ('{"test": {"nodeid": "t", "status": "Passed", "duration_ms": 0, "started_ms": 0, '
         '"description": null, "jira_keys": [1]}}', "wrong type"),
        ('{"test": {"nodeid": "t", "status": "Green", "duration_ms": 0, "started_ms": 0, '
         '"description": null, "jira_keys": []}}', "'Green' is not a run status"),
        ('{"test": {"nodeid": "t", "status": "Passed", "duration_ms": 0, "started_ms": 0, '
         '"description": null, "jira_keys": [], "video": "v.mp4"}}', "no field video .*newer"),
    ],
)  # fmt: skip
def test_a_damaged_reported_result_is_refused(tmp_path: Path, record: str, error: str) -> None:
    path = tmp_path / "journal.jsonl"
    JournalWriter(path, "job-1").close()
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(record + "\n")
    with pytest.raises(InputError, match=f"line 2 holds no valid result: .*{error}"):
        read_journal(path)


def test_a_version_2_journal_without_a_module_is_read(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    header = {"journal": "pytest-octane", "version": 2, "job": "j",
              "slices": {"size": 1000, "max_trace": 100}, "header": {}}  # fmt: skip
    path.write_text(json.dumps(header) + "\n" + run_line(make_run(1)).decode())
    journal = read_journal(path)
    assert journal.module == "" and journal.runs == [make_run(1)]


def test_the_document_header_travels_and_comes_back_equal(tmp_path: Path) -> None:
    """The header's records (named tuples) are written by field name and read back as
    themselves, the build nested in it included."""
    header = ResultHeader(
        build=BuildContext(server_id="ci", job_id="nightly", build_id="7", build_name="seven"),
        release="2026.12",
        backlog_item_ids=(11, 12),
        test_fields=(("Framework", "pytest"),),
    )
    path = tmp_path / "journal.jsonl"
    JournalWriter(path, "job-1", header=header).close()
    written = json.loads(path.read_text().splitlines()[0])["header"]
    assert written["build"] == {"server_id": "ci", "job_id": "nightly", "build_id": "7",
                                "job_name": None, "build_name": "seven"}  # fmt: skip
    journal = read_journal(path)
    assert journal.header == header and type(journal.header.build) is BuildContext


def test_writer_and_reader_one_line_per_result_then_the_end_mark(tmp_path: Path) -> None:
    path = tmp_path / "job" / "journal.jsonl"
    writer = JournalWriter(path, "job-1")
    reader = JournalReader(path)
    assert reader.read() == []
    writer.add(make_run(1))
    writer.add(make_run(2))
    assert reader.read() == [make_run(1), make_run(2)]  # written, not buffered
    assert reader.read() == []
    writer.add(make_run(3))
    writer.end(5)
    assert reader.read() == [make_run(3)]
    journal = reader.finish()
    assert journal.job_id == "job-1" and journal.ended and journal.exit_status == 5
    assert not journal.torn
    assert len(path.read_text().splitlines()) == 5  # header, three runs, end mark
    assert writer.closed


def test_a_line_cut_by_a_kill_is_not_a_result(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    writer = JournalWriter(path, "job-1")
    writer.add(make_run(1))
    line = (json.dumps({"run": encode(make_run(2))}) + "\n").encode()
    writer.add_line(line[:40])  # the writer died in the middle of its write
    reader = JournalReader(path)
    assert reader.read() == [make_run(1)]  # following: the rest may still come
    writer.add_line(line[40:])
    assert reader.read() == [make_run(2)]
    writer.add_line(line[:10])
    journal = reader.finish()  # the writer is gone: the cut line is left out, and said
    assert journal.runs == [make_run(1), make_run(2)] and journal.torn and not journal.ended


def test_a_damaged_line_in_the_middle_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    writer = JournalWriter(path, "job-1")
    writer.add(make_run(1))
    writer.add_line(b"{not json\n")
    writer.add(make_run(2))
    with pytest.raises(InputError, match=r"journal\.jsonl line 3 is not JSON"):
        read_journal(path)


@pytest.mark.parametrize(
    ("damage", "line"),
    [
        ("{}{}\n", 3),  # two values on one line
        ('{"a": 1}, {"b": 2}\n', 3),
        ('{"a": "x\n', 3),  # a value cut by a newline, as if it went on on the next line
        ("\n", 3),  # an empty line
    ],
)
def test_lines_that_are_not_one_value_each_are_named(
    tmp_path: Path, damage: str, line: int
) -> None:
    """The reader decodes many lines in one walk; a line that is not exactly one value
    still gets its own line number, whatever surrounds it."""
    path = tmp_path / "journal.jsonl"
    writer = JournalWriter(path, "job-1")
    writer.add(make_run(1))
    writer.add_line(damage.encode())
    writer.add(make_run(2))
    with pytest.raises(InputError, match=rf"journal\.jsonl line {line} is not JSON"):
        read_journal(path)


def test_a_line_with_blanks_around_its_value_is_read_as_before(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    writer = JournalWriter(path, "job-1")
    writer.add(make_run(1))
    writer.add_line(("  " + json.dumps({"run": encode(make_run(2))}) + " \r\n").encode())
    writer.add(make_run(3))
    writer.end(0)
    assert read_journal(path).runs == [make_run(1), make_run(2), make_run(3)]


def test_not_a_journal(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_text('{"hello": 1}\n')
    with pytest.raises(InputError, match="not a pytest-octane journal"):
        read_journal(path)


# ---------------------------------------------------------------- slices cut from the journal


def _names(slices: list) -> list[list[str]]:  # type: ignore[type-arg]
    return [[run.name for run in chunk] for chunk in slices]


def test_slices_of_a_growing_journal_never_change_once_cut() -> None:
    runs = [make_run(i) for i in range(47)]
    whole = _names(cut_slices(runs, 10, ended=True))
    assert [len(chunk) for chunk in whole] == [10, 10, 10, 10, 7]
    for n in range(len(runs) + 1):
        growing = _names(cut_slices(runs[:n], 10, ended=False))
        assert len(growing) == n // 10  # only full slices before the end
        assert growing == whole[: len(growing)]
        assert _names(cut_slices(runs[:n], 10, ended=True))[: len(growing)] == growing


def test_pytest_bdd_runs_are_held_to_the_end_with_their_feature() -> None:
    runs = [make_run(i) for i in range(12)] + [make_scenario(i) for i in range(12, 15)]
    runs += [make_run(i) for i in range(15, 40)]
    assert _names(cut_slices(runs, 10, ended=False)) == [[f"test_{i}" for i in range(10)]]
    slices = cut_slices(runs, 10, ended=True)
    gherkin = [chunk for chunk in slices if any(run.gherkin for run in chunk)]
    assert len(gherkin) == 1 and all(run.gherkin for run in gherkin[0])  # one feature, whole
    assert sum(len(chunk) for chunk in slices) == 40


def test_skipping_the_slices_cut_before_gives_the_same_later_slices() -> None:
    runs = [make_run(i) for i in range(35)] + [make_scenario(i) for i in range(35, 38)]
    whole = _names(cut_slices(runs, 10, ended=True))
    for skip in range(4):
        again = _names(cut_slices(runs, 10, ended=True, skip=skip))
        assert again[skip:] == whole[skip:]


def test_the_expected_last_slice_is_cut_where_its_last_eighth_begins() -> None:
    """Issue 28: all but the last eighth of the session's last slice is sent while the last
    tests run; the slices before it, and a last slice too small to be worth two, are as
    without the expectation."""
    assert tail_cut(1000, 5000) == 4875 and tail_cut(1000, 5300) == 5300 - 300 // 8
    assert tail_cut(1000, 5199) is None  # a last slice of 199 runs stays whole
    assert tail_cut(1000, None) is None and tail_cut(1000, 0) is None
    assert slice_ends(5000, 1000, 5000) == [1000, 2000, 3000, 4000, 4875, 5000]
    assert slice_ends(4874, 1000, 5000) == [1000, 2000, 3000, 4000]
    assert slice_ends(7000, 1000, 5000) == [1000, 2000, 3000, 4000, 4875, 5000, 6000, 7000]
    assert slice_ends(5000, 1000) == [1000, 2000, 3000, 4000, 5000]
    runs = [make_run(i) for i in range(260)]
    # more results than expected (a collection error): the cut is where it was
    for expected, sizes in [(250, [219, 41]), (260, [228, 32]), (None, [100, 100, 60])]:
        size = 100 if expected is None else 1000
        whole = _names(cut_slices(runs, size, ended=True, expected=expected))
        assert [len(chunk) for chunk in whole] == sizes
        for n in range(len(runs) + 1):  # a growing journal: the same slices, cut as they fill
            growing = _names(cut_slices(runs[:n], size, ended=False, expected=expected))
            assert growing == whole[: len(growing)]
            assert len(growing) == len(slice_ends(n, size, expected))
            for skip in range(len(growing) + 1):
                again = cut_slices(runs[:n], size, ended=True, skip=skip, expected=expected)
                assert (
                    _names(again)[skip:]
                    == _names(cut_slices(runs[:n], size, ended=True, expected=expected))[skip:]
                )


def test_the_expectation_is_journaled_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    writer = JournalWriter(path, "job-1", slice_size=1000)
    reader = JournalReader(path)
    writer.add(make_run(0))
    writer.expect(400)
    for i in range(1, 400):
        writer.add(make_run(i))
    assert len(reader.read()) == 400 and reader.journal is not None
    assert reader.journal.expected == 400
    assert [len(chunk) for chunk in cut_slices(reader.journal.runs, 1000, ended=False,
                                               expected=400)] == [350]  # fmt: skip
    writer.end(0)
    journal = read_journal(path)
    assert journal.expected == 400 and journal.slice_ends() == [350]
    ended = cut_slices(journal.runs, 1000, ended=True, expected=journal.expected)
    assert [len(chunk) for chunk in ended] == [350, 50]


def test_an_expectation_after_its_cut_changes_nothing(tmp_path: Path) -> None:
    """Slices cut before the expectation was read stay what they were: one that comes after
    more results than its cut point is ignored, by every reader alike."""
    path = tmp_path / "journal.jsonl"
    writer = JournalWriter(path, "job-1", slice_size=1000)
    for i in range(1000):
        writer.add(make_run(i))
    writer.expect(1000)  # its cut (875) is behind: the first slice is 1000 runs long
    writer.end(0)
    journal = read_journal(path)
    assert journal.expected is None and journal.slice_ends() == [1000]


@pytest.mark.parametrize("record", ['{"expect": {}}', '{"expect": {"runs": "many"}}'])
def test_a_damaged_expectation_is_refused(tmp_path: Path, record: str) -> None:
    path = tmp_path / "journal.jsonl"
    JournalWriter(path, "job-1").close()
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(record + "\n")
    with pytest.raises(InputError, match="line 2 is a damaged expectation"):
        read_journal(path)


@pytest.mark.parametrize("mapped", [True, False], ids=["mapped", "written"])
def test_a_full_disk_keeps_results_until_the_journal_takes_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mapped: bool
) -> None:
    """Results go on into the space reserved ahead (mapped); a result that finds no space is
    kept, in order, and stored before the next one once space is back."""
    from pytest_octane.job import journal as journal_module
    from pytest_octane.job.events import UploadState
    from pytest_octane.plugin.uploading import UploaderProcess
    from pytest_octane.settings import resolve_settings

    monkeypatch.setattr(journal_module, "MAP_SPAN", mmap.ALLOCATIONGRANULARITY)
    monkeypatch.setattr(journal_module, "_CAN_RESERVE", mapped and journal_module._CAN_RESERVE)
    full = False

    def no_space(real: Callable[..., int | None]) -> Callable[..., int | None]:
        def call(*args: object) -> int | None:
            if full:
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(*args)

        return call

    disk = types.SimpleNamespace(**vars(os))  # the journal's os, with a disk that fills up
    disk.write = no_space(os.write)
    if hasattr(os, "posix_fallocate"):
        disk.posix_fallocate = no_space(os.posix_fallocate)
    monkeypatch.setattr(journal_module, "os", disk)
    cli = {"space": "1001", "url": "http://127.0.0.1:9", "workspace": "1002"}
    cli |= {"spool_dir": str(tmp_path), "slice_size": "2"}
    settings = resolve_settings(cli=cli, environ={}, ini={})
    uploader = UploaderProcess(settings, hook=lambda: None, state=UploadState(), text=print)
    uploader.journal = journal = uploader._open_journal()
    told: list[tuple[str, dict[str, object]]] = []
    uploader._send = lambda kind, **fields: told.append((kind, fields)) or True  # type: ignore[assignment]
    full = True
    added = 0
    while not uploader.unwritten:  # the reserved space takes results until it is full
        uploader.add(make_run(added))
        added += 1
        assert added < 100
    assert (added > 1) == (mapped and journal_module._CAN_RESERVE)
    uploader.add(make_run(added))
    added += 1
    assert uploader.unwritten == 2  # kept, in order
    full = False
    for _ in range(3):
        uploader.add(make_run(added))
        added += 1
    assert uploader.unwritten == 0 and journal.results == added
    # each full slice is told to the uploader (issue 28), those a full disk held back too
    assert told == [("journaled", {"runs": n}) for n in range(2, added + 1, 2)]
    journal.end(0)
    assert read_journal(journal.path).runs == [make_run(i) for i in range(added)]
    assert not journal.path.read_bytes().count(0)  # the reserved rest was given back


def test_the_reader_stops_at_the_first_byte_not_yet_written(tmp_path: Path) -> None:
    """A mapping's stores may become visible out of order: a line with a byte still zero is
    not read, nor anything after it, until the byte is there."""
    path = tmp_path / "journal.jsonl"
    writer = JournalWriter(path, "job-1")
    writer.add(make_run(1))
    writer.close()
    second, third = (run_line(make_run(i)) for i in (2, 3))
    hole = len(path.read_bytes()) + 5
    with open(path, "ab") as fh:
        fh.write(second[:5] + b"\0" + second[6:] + third + bytes(100))
    reader = JournalReader(path)
    assert reader.read() == [make_run(1)]
    with open(path, "r+b") as fh:
        fh.seek(hole)
        fh.write(second[5:6])
    assert reader.read() == [make_run(2), make_run(3)]
    journal = reader.finish()
    assert not journal.torn and not journal.ended


def test_a_filesystem_that_reserves_nothing_gets_each_line_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unsupported(*args: object) -> None:
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")

    monkeypatch.setattr(os, "posix_fallocate", unsupported, raising=False)
    path = tmp_path / "journal.jsonl"
    writer = JournalWriter(path, "job-1")
    for i in range(3):
        writer.add(make_run(i))
    assert not writer._mapped and writer.results == 3
    assert read_journal(path).runs == [make_run(i) for i in range(3)]  # written, not buffered
    writer.end(0)
    assert read_journal(path).ended


def test_a_write_cut_short_by_a_full_disk_is_written_again_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_octane.job import journal as journal_module

    monkeypatch.setattr(journal_module, "_CAN_RESERVE", False)
    path = tmp_path / "journal.jsonl"
    writer = JournalWriter(path, "job-1")
    writes = iter(["short", "full"])

    def filling(fd: int, data: bytes) -> int:
        step = next(writes, None)
        if step == "full":
            raise OSError(errno.ENOSPC, "No space left on device")
        return os.write(fd, bytes(data)[:10] if step == "short" else data)

    disk = types.SimpleNamespace(**vars(os))
    disk.write = filling
    monkeypatch.setattr(journal_module, "os", disk)
    writer.add(make_run(1))  # ten bytes, then a full disk
    assert len(writer.unwritten) == 1 and writer.results == 0
    writer.add(make_run(2))
    writer.end(0)
    journal = read_journal(path)
    assert journal.runs == [make_run(1), make_run(2)] and journal.ended


def test_a_killed_writer_leaves_every_result_it_stored(tmp_path: Path) -> None:
    """A writer that dies without closing (``os._exit``, as a SIGKILL would) leaves the reserved
    space after its last line: the reader stops there, every stored result is read."""
    path = tmp_path / "journal.jsonl"
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from pytest_octane.job.journal import JournalWriter\n"
        "from uploader_support import make_run\n"
        "writer = JournalWriter(Path(sys.argv[1]), 'job-1')\n"
        "for i in range(3):\n"
        "    writer.add(make_run(i))\n"
        'writer.add_line(b\'{"run": {"nodeid\')\n'  # cut in the middle of a line
        "os._exit(0)\n"
    )
    support = Path(__file__).parents[1]  # uploader_support
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(support), *sys.path])}
    subprocess.run([sys.executable, "-c", script, str(path)], env=env, check=True, timeout=60)
    probe = JournalWriter(tmp_path / "probe.jsonl", "p")
    if probe._mapped:
        assert path.read_bytes().endswith(b"\0")  # reserved, never given back
    probe.close()
    journal = read_journal(path)
    assert journal.runs == [make_run(i) for i in range(3)]
    assert journal.torn and not journal.ended


def test_the_uploader_is_told_of_each_full_slice_and_of_the_last_slices_cut(
    tmp_path: Path,
) -> None:
    """What ``slice_ends`` cuts is what pytest's process tells the uploader, as it happens."""
    from pytest_octane.job.events import UploadState
    from pytest_octane.plugin.uploading import UploaderProcess
    from pytest_octane.settings import resolve_settings

    cli = {"space": "1001", "url": "http://127.0.0.1:9", "workspace": "1002"}
    cli |= {"spool_dir": str(tmp_path), "slice_size": "250"}
    settings = resolve_settings(cli=cli, environ={}, ini={})
    uploader = UploaderProcess(settings, hook=lambda: None, state=UploadState(), text=print)
    uploader.journal = uploader._open_journal()
    told: list[int] = []
    uploader._send = lambda kind, **fields: (
        (  # type: ignore[assignment]
            told.append(int(fields["runs"])) if kind == "journaled" else None
        )
        or True
    )
    uploader._ready.set()  # the job is recorded: expect() waits for nothing
    for i in range(10):
        uploader.add(make_run(i))
    uploader.expect([], items=490)  # 500 in all: the last slice (250 runs) is cut in two
    for i in range(10, 500):
        uploader.add(make_run(i))
    assert told == slice_ends(500, 250, 500) and len(told) == 3
    assert told[1] not in (250, 500)
