"""The query language subset: what it answers, and the 400s for everything else."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from pytest_octane.simulator.query import (
    And,
    Compare,
    CrossFilter,
    FieldInfo,
    Not,
    Or,
    QueryError,
    Ref,
    check,
    evaluate,
    parse_query,
)

SCHEMA = {
    "id": FieldInfo("id"),
    "name": FieldInfo("str"),
    "size": FieldInfo("int"),
    "parent": FieldInfo("ref", "thing"),
    "links": FieldInfo("multiref", "thing"),
    "blob": FieldInfo("object"),
}
THINGS: dict[int, dict[str, Any]] = {
    1: {"id": 1, "name": "root", "size": 10, "parent": None, "links": ()},
    2: {"id": 2, "name": "child's", "size": 3, "parent": Ref("thing", 1), "links": ()},
    3: {
        "id": 3,
        "name": "leaf",
        "size": 3,
        "parent": Ref("thing", 2),
        "links": (Ref("thing", 1), Ref("thing", 2)),
    },
}


def _ids(query: str) -> list[int]:
    node = parse_query(query)
    check(node, SCHEMA, lambda _t: SCHEMA, "things")
    return [
        i
        for i, thing in THINGS.items()
        if evaluate(node, thing, lambda ref: THINGS.get(int(ref.id)))
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('"id EQ 2"', [2]),
        ("id EQ '2'", [2]),
        ("id = 2", [2]),
        ("id IN 1,3", [1, 3]),
        ("id IN '1', '3'", [1, 3]),
        ("name EQ 'leaf'", [3]),
        ("name EQ ^child's^", [2]),
        ("name EQ 'child\\'s'", [2]),
        ("name EQ 'l*'", [3]),
        ("name IN 'root','leaf'", [1, 3]),
        ("size EQ 3", [2, 3]),
        ("size EQ 3;name EQ 'leaf'", [3]),
        ("size EQ 10||name EQ 'leaf'", [1, 3]),
        ("!(size EQ 3)", [1]),
        ("!size EQ 3", [1]),
        ("size EQ 3;!(name EQ 'leaf')", [2]),
        ("name EQ 'root'||size EQ 3;name EQ 'leaf'", [1, 3]),  # ; binds tighter than ||
        ("(name EQ 'root'||size EQ 3);name EQ 'leaf'", [3]),
        ("parent EQ null", [1]),
        ("parent EQ {null}", [1]),
        ("!(parent EQ {null})", [2, 3]),
        ("parent EQ {id EQ 1}", [2]),
        ("parent EQ {parent EQ {id EQ 1}}", [3]),
        ("parent EQ {name EQ 'child*'}", [3]),
        ("links EQ {id EQ 2}", [3]),
        ("links EQ {null}", [1, 2]),
        ("links EQ {(id EQ 1);(name EQ 'root')}", [3]),
        ("((links EQ {(id EQ 1)});((!(name EQ 'x'))))", [3]),
        ("name EQ null", []),
    ],
)
def test_queries_answer_exactly(query: str, expected: list[int]) -> None:
    assert _ids(query) == expected


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("", "empty"),
        ("size LT 3", "operator 'LT'"),
        ("size < 3", "operator '<'"),
        ("size != 3", "operator '!='"),
        ("size BTW 1...3", "operator 'BTW'"),
        ("colour EQ 'red'", "unknown field 'colour'"),
        ("parent EQ {colour EQ 1}", "unknown field 'colour'"),
        ("name EQ 'open", "unterminated string"),
        ("name EQ", "expected a value"),
        ("name 'x'", "expected an operator"),
        ("(name EQ 'x'", "expected ')'"),
        ("name EQ 'x')", "unexpected ')'"),
        ("name EQ 'x';", "expected a field name"),
        ("name EQ 'x' | size EQ 1", "unexpected character '|'"),
        ("id IN [1,2]", "'[' at position"),
        ("parent EQ 5", "is a reference"),
        ("name EQ {id EQ 1}", "is not a reference"),
        ("blob EQ 1", "cannot be queried"),
        ("name eq 'x'", "expected an operator"),
        ("name EQ 'a' name EQ 'b'", "unexpected 'name'"),
    ],
)
def test_unsupported_queries_are_errors_naming_the_problem(query: str, fragment: str) -> None:
    with pytest.raises(QueryError) as info:
        _ids(query)
    assert fragment in str(info.value)


def test_the_tree_follows_the_documented_precedence() -> None:
    node = parse_query("!a EQ 1;b IN 2,3||c EQ {d EQ 'x'}")
    assert node == Or(
        (
            And((Not(Compare("a", (1,))), Compare("b", (2, 3)))),
            CrossFilter("c", Compare("d", ("x",))),
        )
    )


def test_queries_over_http(sim: Any, api: requests.Session) -> None:
    def ids(path: str, query: str) -> list[str]:
        answer = api.get(f"{sim.api_url}/{path}", params={"query": query}, timeout=10)
        assert answer.status_code == 200, answer.text
        return [e["id"] for e in answer.json()["data"]]

    assert ids("stories", "\"jira_key_udf IN 'QZ-1','QZ-2'\"") == ["2001", "2002"]
    assert ids("work_items", "\"subtype EQ 'story';jira_key_udf EQ ^QZ-2^\"") == ["2002"]
    assert ids("stories", '"id IN 2001,2002;!(id EQ 2001)"') == ["2002"]
    assert ids("stories", '""') == ["2001", "2002"]


@pytest.mark.parametrize(
    "query",
    ["\"subtype GT 'a'\"", '"nonsense"', '"owner EQ {id EQ 1}"', '"parent EQ {id EQ 1}"'],
)
def test_bad_queries_over_http_are_400(sim: Any, api: requests.Session, query: str) -> None:
    answer = api.get(f"{sim.api_url}/stories", params={"query": query}, timeout=10)
    assert answer.status_code == 400
    body = answer.json()
    assert body["error_code"] == "platform.query_error"
    assert query in body["description"]


def test_cross_filters_over_http(
    sim: Any,
    api: requests.Session,
    make_xml: Callable[..., bytes],
    post_results: Callable[..., requests.Response],
) -> None:
    root = sim.add_application_module("Root")
    team = sim.add_application_module("Team", root)
    post_results(api, sim, make_xml([{"name": "a", "backlog": [2001]}, {"name": "b"}]))
    sim.wait_for_tasks()

    def names(path: str, query: str) -> list[str]:
        answer = api.get(f"{sim.api_url}/{path}", params={"query": query}, timeout=10)
        assert answer.status_code == 200, answer.text
        return [e["name"] for e in answer.json()["data"]]

    assert names("application_modules", f'"parent EQ {{id EQ {root}}}"') == ["Team"]
    assert names("application_modules", '"parent EQ {null}"') == ["Application Modules", "Root"]
    assert names("application_modules", f"\"id EQ {team};parent EQ {{name EQ 'Root'}}\"") == [
        "Team"
    ]
    assert names("tests", '"covered_content EQ {id EQ 2001}"') == ["a"]
    assert names("automated_runs", "\"native_status EQ {name EQ 'Passed'}\"") == ["a", "b"]
    assert names("tests", "\"!(subtype EQ 'test_suite');covered_content EQ {null}\"") == ["b"]
