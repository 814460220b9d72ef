"""Characters XML 1.0 forbids are replaced, never a crash; huge tracebacks are cut visibly."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_octane.octane.xml_text import clean, cut_trace

REPLACEMENT = "\ufffd"
RTL = "\u202e\u05e9\u05dc\u05d5\u05dd"  # right-to-left override, then Hebrew


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("nul\x00end", f"nul{REPLACEMENT}end"),
        ("esc\x1b[31m", f"esc{REPLACEMENT}[31m"),
        ("lone\ud800x\udfff", f"lone{REPLACEMENT}x{REPLACEMENT}"),
        ("nonchar\ufffe\uffff", f"nonchar{REPLACEMENT}{REPLACEMENT}"),
        ("keep\t\n\r", "keep\t\n\r"),
        (f"rtl{RTL} 😀", f"rtl{RTL} 😀"),
    ],
)
def test_clean(raw: str, expected: str) -> None:
    assert clean(raw) == expected


def test_clean_replaces_exactly_what_xml_1_0_chars_leave_out() -> None:
    """Every code point, against the XML 1.0 ``Char`` production itself."""

    def is_xml_char(c: int) -> bool:
        return (
            c in (0x9, 0xA, 0xD)
            or 0x20 <= c <= 0xD7FF
            or 0xE000 <= c <= 0xFFFD
            or 0x10000 <= c <= 0x10FFFF
        )

    every = "".join(map(chr, range(0x110000)))
    expected = "".join(ch if is_xml_char(ord(ch)) else "\ufffd" for ch in every)
    assert clean(every) == expected


def test_cut_trace_keeps_head_and_tail_with_a_marker() -> None:
    trace = "HEAD" + "x" * 10_000 + "TAIL"
    cut = cut_trace(trace, 600)
    assert cut.startswith("HEAD") and cut.endswith("TAIL")
    assert "pytest-octane cut" in cut and "--octane-max-trace=600" in cut
    assert len(cut) < 600 + 200
    assert cut_trace("short", 600) == "short"


UNICODE_SUITE = """
    import pytest

    @pytest.mark.parametrize(
        "v",
        [1, 2, 3, 4],
        ids=["nul\\x00x", "esc\\x1b[31m", "rtl\\u202e\\u05e9\\u05dc\\u05d5\\u05dd", "emoji😀"],
    )
    def test_ids(v):
        pass

    def test_message():
        raise ValueError("bad \\x00 \\x1b \\ud800 \\uffff \\u202e\\u05e9\\u05dc\\u05d5\\u05dd 😀")

    @pytest.mark.skip(reason="skip \\x07 bell \\udc80")
    def test_skip_reason():
        pass

    class Test\u00c9t\u00e9:
        def test_accent(self):
            pass
"""


def raw_test_ids(pytester: pytest.Pytester) -> None:
    """Let test ids hold any character (pytest escapes them otherwise)."""
    pytester.makeini(
        """
        [pytest]
        disable_test_id_escaping_and_forfeit_all_rights_to_community_support = true
        """
    )


def run_lone_surrogate(pytester: pytest.Pytester, run_and_parse: Any, mark: str) -> Any:
    """A dry run of one test whose id holds a lone surrogate (``mark`` above it); pytest
    itself cannot cache such an id (INTERNALERROR), hence no:cacheprovider."""
    pytester.makepyfile(
        test_surrogate=f"""
        import pytest

        {mark}
        @pytest.mark.parametrize("v", [1], ids=["lone\\ud800"])
        def test_id(v):
            pass
        """
    )
    dry = run_and_parse("-p", "no:cacheprovider", check_count=False)
    assert "INTERNALERROR" not in dry.result.stdout.str()
    return dry


def test_invalid_characters_become_valid_xml(pytester: pytest.Pytester, run_and_parse) -> None:
    raw_test_ids(pytester)
    pytester.makepyfile(test_chars=UNICODE_SUITE)
    dry = run_and_parse()
    assert "INTERNALERROR" not in dry.result.stdout.str()
    assert sorted(dry.names()) == sorted(
        [
            f"test_ids[nul{REPLACEMENT}x]",
            f"test_ids[esc{REPLACEMENT}[31m]",
            f"test_ids[rtl{RTL}]",
            "test_ids[emoji😀]",
            "test_message",
            "test_skip_reason",
            "test_accent",
        ]
    )
    message = dry.run("test_message").find("error").get("message")
    assert message == " ".join(
        ["bad", REPLACEMENT, REPLACEMENT, REPLACEMENT, REPLACEMENT, RTL, "😀"]
    )
    assert dry.run("test_skip_reason").findtext("description") == (
        f"skip {REPLACEMENT} bell {REPLACEMENT}"
    )
    assert dry.run("test_accent").get("class") == "TestÉté"


def test_lone_surrogate_in_a_test_id_gives_one_valid_run(
    pytester: pytest.Pytester, run_and_parse
) -> None:
    # pytest itself cannot put such a node id into PYTEST_CURRENT_TEST (errors in setup and
    # teardown) nor into its cache (INTERNALERROR, hence no:cacheprovider); the plugin must
    # still write one valid run for the item
    raw_test_ids(pytester)
    dry = run_lone_surrogate(pytester, run_and_parse, "")
    assert dry.statuses() == {f"test_id[lone{REPLACEMENT}]": "Failed"}


HUGE = """
    def test_huge():
        raise ValueError("START" + "x" * 1_000_000 + "END")
"""


@pytest.mark.parametrize(("option", "limit"), [((), 20_000), (("--octane-max-trace=5000",), 5000)])
def test_huge_traceback_is_cut_with_a_visible_marker(
    pytester: pytest.Pytester, run_and_parse, option: tuple[str, ...], limit: int
) -> None:
    pytester.makepyfile(test_huge=HUGE)
    dry = run_and_parse("--tb=short", *option)
    error = dry.run("test_huge").find("error")
    assert error.get("type") == "ValueError"
    assert error.get("message").startswith("START")
    assert len(error.get("message")) <= 4000
    assert f"--octane-max-trace={limit}" in error.text
    assert "pytest-octane cut" in error.text
    assert limit <= len(error.text) <= limit + 200
    assert error.text.rstrip().endswith("END")  # the tail (the crash line) is kept


def test_max_trace_below_the_minimum_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_one():\n    pass\n")
    result = pytester.runpytest(f"--octane-dry-run={pytester.path / 'o'}", "--octane-max-trace=5")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--octane-max-trace*200 or more*"])


def test_lone_surrogate_in_a_linked_test_id_does_not_crash(
    pytester: pytest.Pytester, run_and_parse
) -> None:
    raw_test_ids(pytester)
    dry = run_lone_surrogate(pytester, run_and_parse, '@pytest.mark.jira("ABC-1")')
    assert list(dry.jira_keys.values()) == [["ABC-1"]]
