"""``--octane-dry-run`` takes an optional value, so a test path right after it is a trap."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("path", ["test_one.py", "test_one.py::test_one", "."])
def test_a_test_path_taken_as_the_folder_is_a_usage_error(
    pytester: pytest.Pytester, path: str
) -> None:
    pytester.makepyfile(test_one="def test_one():\n    pass\n")
    result = pytester.runpytest("--octane-dry-run", path)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--octane-dry-run took*write --octane-dry-run=DIR*"])
    assert not list(pytester.path.glob("**/slice-*.xml"))


def test_a_new_folder_is_fine(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_one="def test_one():\n    pass\n")
    result = pytester.runpytest("--octane-dry-run", "octane-out", "test_one.py")
    assert result.ret == pytest.ExitCode.OK
    assert (pytester.path / "octane-out" / "slice-0001.xml").is_file()
