"""Slices of ``--octane-slice-size`` runs, each a complete document; the print-only dry run."""

from __future__ import annotations

import pytest


def _tests(count: int) -> str:
    return "".join(f"def test_{i:03d}():\n    pass\n\n" for i in range(count))


@pytest.mark.parametrize(
    ("count", "per_slice"),
    [(1, [1]), (3, [3]), (4, [3, 1]), (7, [3, 3, 1])],
)
def test_slice_boundaries(
    pytester: pytest.Pytester, run_and_parse, count: int, per_slice: list[int]
) -> None:
    pytester.makepyfile(test_sliced=_tests(count))
    dry = run_and_parse("--octane-slice-size=3")
    assert [len(root.findall("test_runs/test_run")) for root in dry.slices] == per_slice
    # slices keep the run order and split nothing twice
    assert dry.names() == [f"test_{i:03d}" for i in range(count)]
    assert f"dry run: {count} test runs in {len(per_slice)} slice(s)" in dry.result.stdout.str()


def test_every_slice_repeats_the_header(pytester: pytest.Pytester, run_and_parse) -> None:
    pytester.makepyfile(test_sliced=_tests(3))
    dry = run_and_parse("--octane-slice-size=2", "--octane-release=17", "--octane-tag=OS:Linux")
    assert len(dry.slices) == 2
    for root in dry.slices:
        assert [child.tag for child in root] == [
            "release_ref",
            "test_fields",
            "environment",
            "test_runs",
        ]


def test_zero_runs_write_no_slice(pytester: pytest.Pytester, run_and_parse) -> None:
    pytester.makepyfile(test_empty="X = 1\n")
    dry = run_and_parse("--octane-slice-size=3")
    assert dry.result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    assert dry.slices == []
    assert not list(dry.folder.glob("slice-*"))
    assert "dry run: 0 test runs" in dry.result.stdout.str()


def test_zero_runs_printed_say_nothing_to_upload(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_empty="X = 1\n")
    result = pytester.runpytest("--octane-dry-run")
    result.stdout.fnmatch_lines(["*0 test runs, nothing would be uploaded*"])
    assert "<test_result" not in result.stdout.str()


def _printed_document(stdout: str) -> bytes:
    start = stdout.index("<?xml")
    end = stdout.index("</test_result>") + len("</test_result>")
    return stdout[start:end].encode("utf-8")


@pytest.mark.parametrize("placement", ["last", "first"])
def test_dry_run_without_folder_prints_the_first_slice(
    pytester: pytest.Pytester, validate_xml, placement: str
) -> None:
    pytester.makepyfile(test_printed=_tests(5))
    options = ["--octane-slice-size=2", "test_printed.py"]
    args = (
        [*options, "--octane-dry-run"] if placement == "last" else ["--octane-dry-run=-", *options]
    )
    before = {p.name for p in pytester.path.iterdir()}
    result = pytester.runpytest(*args)
    result.assert_outcomes(passed=5)
    stdout = result.stdout.str()
    assert "octane dry run: slice 1" in stdout
    root = validate_xml(_printed_document(stdout))
    assert [run.get("name") for run in root.iter("test_run")] == ["test_000", "test_001"]
    result.stdout.fnmatch_lines(["*5 test runs in 3 slice(s); printed slice 1 of 3*"])
    assert stdout.count("<test_result") == 1
    # pytest's own files are not the dry run's (pytest 7.4 caches the test module's bytecode)
    written = {p.name for p in pytester.path.iterdir()} - before - {".pytest_cache", "__pycache__"}
    assert written == set()
