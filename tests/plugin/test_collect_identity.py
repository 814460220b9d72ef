"""Run identity: package / class / name from the node id, stable, at most 255 characters."""

from __future__ import annotations

import re

import pytest

from pytest_octane.model import MAX_NAME, cut_name, split_nodeid


@pytest.mark.parametrize(
    ("nodeid", "expected"),
    [
        ("test_x.py::test_b", ("", "test_x", "test_b")),
        ("tests/test_x.py::test_b", ("tests", "test_x", "test_b")),
        ("tests/unit/test_x.py::TestA::test_b[1]", ("tests.unit.test_x", "TestA", "test_b[1]")),
        ("test_x.py::TestA::TestB::test_c", ("test_x.TestA", "TestB", "test_c")),
        ("a/b/test_x.py::test_p[x::y/z.w]", ("a.b", "test_x", "test_p[x::y/z.w]")),
        ("test_x.py::test_p[a[b]", ("", "test_x", "test_p[a[b]")),
    ],
)
def test_split_nodeid(nodeid: str, expected: tuple[str, str, str]) -> None:
    assert split_nodeid(nodeid) == expected


def test_cut_name_keeps_short_names() -> None:
    assert cut_name("x" * MAX_NAME) == "x" * MAX_NAME


def test_cut_name_is_deterministic_bounded_and_collision_free() -> None:
    first = "t" * 300 + "[case-1]"
    second = "t" * 300 + "[case-2]"
    assert len(cut_name(first)) == len(cut_name(second)) == MAX_NAME
    assert cut_name(first) != cut_name(second)
    assert cut_name(first) == cut_name("t" * 300 + "[case-1]")
    assert re.fullmatch(r"t+~~[0-9a-f]{10}", cut_name(first))
    assert cut_name("\ud800" * 300) != cut_name("\udfff" * 300)  # lone surrogates hash too


def test_names_derived_end_to_end(pytester: pytest.Pytester, run_and_parse) -> None:
    pytester.makepyfile(
        test_top="""
        import pytest

        def test_function():
            pass

        class TestOuter:
            def test_method(self):
                pass

            class TestInner:
                def test_nested(self):
                    pass

        @pytest.mark.parametrize("v", ["a", "b.c", "d/e"], ids=["one", "two.dots", "three/slash"])
        def test_param(v):
            pass
        """
    )
    pytester.mkdir("pkg")
    pytester.mkdir("pkg/deeper")
    pytester.path.joinpath("pkg", "deeper", "test_sub.py").write_text(
        "class TestSub:\n    def test_in_sub(self):\n        pass\n\n"
        "def test_sub_function():\n    pass\n",
        encoding="utf-8",
    )
    dry = run_and_parse()
    got = {
        (run.get("package"), run.get("class"), run.get("name"), run.get("module"))
        for run in dry.runs
    }
    assert got == {
        (None, "test_top", "test_function", None),
        ("test_top", "TestOuter", "test_method", None),
        ("test_top.TestOuter", "TestInner", "test_nested", None),
        (None, "test_top", "test_param[one]", None),
        (None, "test_top", "test_param[two.dots]", None),
        (None, "test_top", "test_param[three/slash]", None),
        ("pkg.deeper.test_sub", "TestSub", "test_in_sub", None),
        ("pkg.deeper", "test_sub", "test_sub_function", None),
    }


def test_module_option_fills_the_module_attribute(pytester: pytest.Pytester, run_and_parse) -> None:
    pytester.makepyfile("def test_one():\n    pass\n")
    dry = run_and_parse("--octane-module=Payments")
    assert dry.run("test_one").get("module") == "Payments"


LONG = """
    import pytest

    LONG = "p" * 400

    @pytest.mark.parametrize("v", [1, 2], ids=[LONG + "-first", LONG + "-second"])
    def test_long(v):
        pass

    class Test{klass}:
        def test_{method}(self):
            pass
"""


def test_long_names_are_cut_stably_without_collisions(
    pytester: pytest.Pytester, run_and_parse
) -> None:
    pytester.makepyfile(test_long=LONG.format(klass="K" * 300, method="m" * 300))
    first = run_and_parse()
    second = run_and_parse()
    names = first.names()
    assert len(names) == 3
    assert len(set(names)) == 3
    assert all(len(name) <= 255 for name in names)
    long_params = [n for n in names if n.startswith("test_long[")]
    assert len(long_params) == 2
    assert all(len(n) == 255 and re.search(r"~~[0-9a-f]{10}$", n) for n in long_params)
    assert second.names() == names
    assert second.identities() == first.identities()
    method = first.run(cut_name("test_" + "m" * 300))
    assert len(method.get("class")) == 255
    assert method.get("class").startswith("TestKKK")
