"""``@pytest.mark.jira`` at function, class and module level; malformed keys stop the run."""

from __future__ import annotations

import json

import pytest
from lxml import etree

from pytest_octane.plugin.reporter import jira_keys_json


def test_keys_from_every_level_are_kept_per_test(pytester: pytest.Pytester, run_and_parse) -> None:
    pytester.makepyfile(
        test_linked="""
        import pytest

        pytestmark = [pytest.mark.jira("MOD-1")]

        @pytest.mark.jira("ABC-123", "ABC-7")
        def test_function():
            pass

        def test_module_only():
            pass

        @pytest.mark.jira("CLS_X2-9")
        class TestStory:
            def test_inherits(self):
                pass

            @pytest.mark.jira("ABC-123")
            @pytest.mark.parametrize("v", [1, 2])
            def test_param(self, v):
                pass
        """,
        test_unlinked="def test_plain():\n    pass\n",
    )
    dry = run_and_parse()
    assert dry.jira_keys == {
        "test_linked.py::test_function": ["ABC-123", "ABC-7", "MOD-1"],
        "test_linked.py::test_module_only": ["MOD-1"],
        "test_linked.py::TestStory::test_inherits": ["CLS_X2-9", "MOD-1"],
        "test_linked.py::TestStory::test_param[1]": ["ABC-123", "CLS_X2-9", "MOD-1"],
        "test_linked.py::TestStory::test_param[2]": ["ABC-123", "CLS_X2-9", "MOD-1"],
    }
    assert "JIRA keys of 5 runs in jira-keys.json" in dry.result.stdout.str()
    # the XML itself holds only Octane ids: no JIRA key leaks into it
    for root in dry.slices:
        assert b"ABC-123" not in etree.tostring(root)


def test_jira_keys_json_is_what_json_dumps_with_an_indent_writes(
    pytester: pytest.Pytester, run_and_parse
) -> None:
    pytester.makeini(
        """
        [pytest]
        disable_test_id_escaping_and_forfeit_all_rights_to_community_support = true
        """
    )
    pytester.makepyfile(
        test_odd="""
        import pytest

        @pytest.mark.jira("ABC-1", "ABC-2")
        @pytest.mark.parametrize(
            "v", [1, 2], ids=['say "hi" \\\\ back', "\u00e9t\u00e9 \U0001f600"]
        )
        def test_ids(v):
            pass
        """,
    )
    dry = run_and_parse()
    expected = {
        'test_odd.py::test_ids[say "hi" \\ back]': ["ABC-1", "ABC-2"],
        "test_odd.py::test_ids[\u00e9t\u00e9 \U0001f600]": ["ABC-1", "ABC-2"],
    }
    assert dry.jira_keys == expected
    written = (dry.folder / "jira-keys.json").read_bytes()
    assert written == (json.dumps(expected, indent=2) + "\n").encode()


@pytest.mark.parametrize(
    "keys",
    [
        {},
        {"a": []},
        {
            'q"uote\\slash': ["K-1"],
            "\u00e9\U0001f600\ud800\x00\t\n": ["K-2", "</script>", "\u2028"],
        },
    ],
    ids=["empty", "no keys", "hostile"],
)
def test_jira_keys_json_matches_json_dumps(keys: dict[str, list[str]]) -> None:
    assert jira_keys_json(keys) == json.dumps(keys, indent=2)


def test_keys_are_those_pytest_gives_each_test_in_its_order(
    pytester: pytest.Pytester, run_and_parse
) -> None:
    """Parents' keys are read once per parent (issue 28): every test still gets exactly what
    ``item.iter_markers("jira")`` gives it, including markers on a parameter, on nested classes,
    on a conftest's directory and those added at collection by another plugin."""
    pytester.makeconftest(
        """
        import json, pytest

        def pytest_collection_modifyitems(items):
            for item in items:
                if item.name.endswith("[b]"):
                    item.add_marker(pytest.mark.jira("DYN-1"))

        @pytest.hookimpl(trylast=True)
        def pytest_collection_finish(session):
            seen = {}
            for item in session.items:
                keys = [k for m in item.iter_markers("jira") for k in m.args]
                seen[item.nodeid] = list(dict.fromkeys(keys))
            with open("expected.json", "w") as fh:
                json.dump(seen, fh)
        """
    )
    pytester.makepyfile(
        test_deep="""
        import pytest

        pytestmark = [pytest.mark.jira("MOD-1"), pytest.mark.jira("MOD-2", "MOD-1")]

        @pytest.mark.jira("OUT-1")
        class TestOuter:
            @pytest.mark.jira("MOD-2")
            class TestInner:
                @pytest.mark.parametrize(
                    "v", ["a", pytest.param("b", marks=pytest.mark.jira("PAR-1"))]
                )
                def test_p(self, v):
                    pass

            def test_o(self):
                pass

        def test_m():
            pass
        """,
        test_other="import pytest\n\n@pytest.mark.jira('OTH-1')\ndef test_x():\n    pass\n",
    )
    dry = run_and_parse()
    expected = json.loads((pytester.path / "expected.json").read_text())
    assert len(expected) == 5 and expected["test_deep.py::TestOuter::TestInner::test_p[b]"] == [
        "PAR-1", "DYN-1", "MOD-2", "OUT-1", "MOD-1"
    ]  # fmt: skip
    assert dry.jira_keys == expected


def test_jira_marker_is_registered_without_the_plugin_enabled(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.jira("ABC-1")
        def test_marked():
            pass
        """
    )
    result = pytester.runpytest("--strict-markers")
    result.assert_outcomes(passed=1)
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.jira(*keys): JIRA keys*"])


@pytest.mark.parametrize(
    ("marker", "shown"),
    [
        ('"abc-1"', "'abc-1'"),
        ('"ABC"', "'ABC'"),
        ("42", "42"),
        ('"ABC-1", "AB C-2"', "'AB C-2'"),
        ('"ABC-1x"', "'ABC-1x'"),
    ],
)
def test_malformed_key_is_a_usage_error_naming_test_and_key(
    pytester: pytest.Pytester, marker: str, shown: str
) -> None:
    pytester.makepyfile(
        test_bad=f"""
        import pytest

        def test_fine():
            pass

        @pytest.mark.jira({marker})
        def test_wrong():
            pass
        """
    )
    out = pytester.path / "out"
    result = pytester.runpytest(f"--octane-dry-run={out}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.strip()]
    assert len(errors) == 1, result.errlines
    assert "test_bad.py::test_wrong" in errors[0]
    assert shown in errors[0]
    assert "ABC-123" in errors[0]  # says what a key looks like
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
    assert not list(out.glob("slice-*.xml"))


def test_malformed_key_on_a_class_names_each_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_cls="""
        import pytest

        @pytest.mark.jira("lower-1")
        class TestX:
            def test_one(self):
                pass
        """
    )
    result = pytester.runpytest(f"--octane-dry-run={pytester.path / 'out'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_cls.py::TestX::test_one*'lower-1'*"])


@pytest.mark.parametrize(
    ("marker", "shown"),
    [
        ("", "@pytest.mark.jira() names no JIRA key"),
        ('key="QZ-1"', "@pytest.mark.jira(key='QZ-1') takes no keyword arguments"),
        ('keys=["QZ-1"]', "@pytest.mark.jira(keys=['QZ-1']) takes no keyword arguments"),
        ('"QZ-1", key="QZ-2"', "@pytest.mark.jira(key='QZ-2') takes no keyword arguments"),
    ],
)
@pytest.mark.parametrize("mode", ["dry-run", "upload"])
def test_empty_or_keyword_marker_is_a_usage_error_not_a_dropped_link(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    marker: str,
    shown: str,
    mode: str,
) -> None:
    pytester.makepyfile(
        test_forms=f"""
        import pytest

        @pytest.mark.jira({marker})
        def test_linked():
            pass
        """
    )
    out = pytester.path / "out"
    if mode == "dry-run":
        args = [f"--octane-dry-run={out}"]
    else:  # refused at collection, before any request: the server is never reached
        args = [
            "--octane-url=http://127.0.0.1:9",
            "--octane-space=1001",
            "--octane-workspace=1002",
            f"--octane-task-store={out}",
            f"--octane-spool-dir={out}",
        ]
        monkeypatch.setenv("OCTANE_CLIENT_ID", "id")
        monkeypatch.setenv("OCTANE_CLIENT_SECRET", "secret")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.strip()]
    assert len(errors) == 1, result.errlines
    assert "test_forms.py::test_linked" in errors[0] and shown in errors[0]
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
    assert not out.exists() or not list(out.rglob("slice-*.xml"))


def test_empty_module_marker_names_each_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_module="""
        import pytest

        pytestmark = pytest.mark.jira()

        def test_one():
            pass
        """
    )
    result = pytester.runpytest(f"--octane-dry-run={pytester.path / 'out'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_module.py::test_one*jira() names no JIRA key*"])
