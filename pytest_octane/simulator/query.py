"""The subset of Octane's query language the simulator understands.

Supported: ``EQ`` (alias ``=``), ``IN`` (comma-separated), ``;`` (AND), ``||`` (OR), ``!``,
parentheses, ``'...'`` and ``^...^`` strings, numbers, ``null``, ``true``/``false`` and cross
filters on references (``parent EQ {id EQ 5}``, ``parent EQ {null}``).  Precedence follows the
Octane docs: parentheses > ``!`` > ``;`` > ``||``.  Anything else is a :class:`QueryError`
naming the problem -- never a silently wrong answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "And",
    "Compare",
    "CrossFilter",
    "FieldInfo",
    "Not",
    "Or",
    "QueryError",
    "Ref",
    "check",
    "evaluate",
    "parse_query",
]

Scalar = str | int | float | bool | None
FieldKind = Literal["id", "str", "int", "ref", "multiref", "list_node", "datetime", "object"]


class QueryError(ValueError):
    """The query cannot be answered exactly; the message says why."""


@dataclass(frozen=True, slots=True)
class Ref:
    """A reference value: entity type and id (list nodes carry their name inline)."""

    type: str
    id: int | str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """How a field is stored and queried; ``target`` is the entity type of a reference."""

    kind: FieldKind
    target: str | None = None


@dataclass(frozen=True, slots=True)
class Compare:
    field: str
    values: tuple[Scalar, ...]  # EQ has one value, IN several


@dataclass(frozen=True, slots=True)
class CrossFilter:
    field: str
    inner: Node | None  # None is ``{null}``


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Node


Node = Compare | CrossFilter | And | Or | Not


# ---------------------------------------------------------------- tokens

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<or>\|\|)
  | (?P<cmp><=|>=|!=|<>|<|>)
  | (?P<punct>[;!(){},=\[\]])
  | (?P<number>-?\d+(?:\.\d+)?(?![A-Za-z_]))
  | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # or, cmp, punct, number, word, string, end
    text: str
    value: Scalar
    pos: int


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    out: list[str] = []
    pos = start + 1
    while pos < len(text):
        char = text[pos]
        if quote == "'" and char == "\\" and pos + 1 < len(text):
            out.append(text[pos + 1])
            pos += 2
            continue
        if char == quote:
            return "".join(out), pos + 1
        out.append(char)
        pos += 1
    raise QueryError(f"unterminated string starting at position {start}: add the closing {quote}")


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        if text[pos] in "'^":
            value, end = _read_quoted(text, pos)
            tokens.append(_Token("string", text[pos:end], value, pos))
            pos = end
            continue
        match = _TOKEN.match(text, pos)
        if match is None:
            # Reported when the parser reaches it, so earlier problems are named first.
            tokens.append(_Token("bad", text[pos], text[pos], pos))
            break
        kind = str(match.lastgroup)
        chunk = match.group()
        if kind == "number":
            number: Scalar = float(chunk) if "." in chunk else int(chunk)
            tokens.append(_Token(kind, chunk, number, pos))
        elif kind != "ws":
            tokens.append(_Token(kind, chunk, chunk, pos))
        pos = match.end()
    tokens.append(_Token("end", "", None, len(text)))
    return tokens


# ---------------------------------------------------------------- parser

_SUPPORTED = "EQ, = and IN"
_UNSUPPORTED_WORDS = {"LT", "GT", "LE", "GE", "BTW", "NE", "LIKE"}


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.index = 0

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def is_punct(self, char: str) -> bool:
        return self.current.kind == "punct" and self.current.text == char

    def expect(self, char: str) -> None:
        if not self.is_punct(char):
            raise QueryError(f"expected {char!r} at position {self.current.pos}, {self.found()}")
        self.take()

    def found(self) -> str:
        token = self.current
        if token.kind == "end":
            return "found the end of the query"
        if token.kind == "bad":
            return f"found the unexpected character {token.text!r}"
        return f"found {token.text!r}"

    def parse(self) -> Node:
        if self.current.kind == "end":
            raise QueryError("the query is empty")
        node = self.parse_or()
        token = self.current
        if token.kind == "bad":
            raise QueryError(f"unexpected character {token.text!r} at position {token.pos}")
        if token.kind != "end":
            raise QueryError(f"unexpected {token.text!r} at position {token.pos}")
        return node

    def parse_or(self) -> Node:
        items = [self.parse_and()]
        while self.current.kind == "or":
            self.take()
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def parse_and(self) -> Node:
        items = [self.parse_unary()]
        while self.is_punct(";"):
            self.take()
            items.append(self.parse_unary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def parse_unary(self) -> Node:
        if self.is_punct("!"):
            self.take()
            return Not(self.parse_unary())
        if self.is_punct("("):
            self.take()
            node = self.parse_or()
            self.expect(")")
            return node
        return self.parse_phrase()

    def parse_phrase(self) -> Node:
        token = self.current
        if token.kind != "word" or token.text in ("null", "true", "false"):
            raise QueryError(f"expected a field name at position {token.pos}, {self.found()}")
        field = self.take().text
        operator = self.current
        if operator.kind == "cmp" or (
            operator.kind == "word" and operator.text.upper() in _UNSUPPORTED_WORDS
        ):
            raise QueryError(
                f"operator {operator.text!r} (after {field!r}) is not supported by the "
                f"simulator; use {_SUPPORTED}"
            )
        if operator.kind in ("punct", "word") and operator.text in ("=", "EQ"):
            self.take()
            if self.is_punct("{"):
                return self.parse_cross(field)
            return Compare(field, (self.parse_value(),))
        if operator.kind == "word" and operator.text == "IN":
            self.take()
            values = [self.parse_value()]
            while self.is_punct(","):
                self.take()
                values.append(self.parse_value())
            return Compare(field, tuple(values))
        raise QueryError(
            f"expected an operator after {field!r} at position {operator.pos}, {self.found()}; "
            f"the simulator supports {_SUPPORTED}"
        )

    def parse_cross(self, field: str) -> Node:
        self.expect("{")
        if self.current.kind == "word" and self.current.text == "null":
            self.take()
            self.expect("}")
            return CrossFilter(field, None)
        inner = self.parse_or()
        self.expect("}")
        return CrossFilter(field, inner)

    def parse_value(self) -> Scalar:
        token = self.current
        if token.kind in ("string", "number"):
            self.take()
            return token.value
        if token.kind == "word" and token.text in ("null", "true", "false"):
            self.take()
            return {"null": None, "true": True, "false": False}[token.text]
        if token.kind == "punct" and token.text in "[{":
            raise QueryError(
                f"{token.text!r} at position {token.pos} is not supported here: values are "
                "'text', ^text^, numbers or null, and IN takes a comma-separated list"
            )
        raise QueryError(f"expected a value at position {token.pos}, {self.found()}")


def parse_query(text: str) -> Node:
    """Parse a ``query=`` value; the surrounding double quotes are optional."""
    stripped = text.strip()
    if len(stripped) >= 2 and stripped[0] == '"' and stripped[-1] == '"':
        stripped = stripped[1:-1]
    return _Parser(stripped).parse()


# ---------------------------------------------------------------- static check

SchemaFor = Callable[[str], Mapping[str, FieldInfo]]


def check(node: Node, schema: Mapping[str, FieldInfo], schema_for: SchemaFor, what: str) -> None:
    """Reject unknown fields and comparisons that do not fit the field's kind."""
    if isinstance(node, And | Or):
        for item in node.items:
            check(item, schema, schema_for, what)
        return
    if isinstance(node, Not):
        check(node.item, schema, schema_for, what)
        return
    info = schema.get(node.field)
    if info is None:
        known = ", ".join(sorted(schema))
        raise QueryError(f"unknown field {node.field!r} for {what} (known fields: {known})")
    if info.kind == "object":
        raise QueryError(f"field {node.field!r} of {what} cannot be queried in the simulator")
    is_ref = info.kind in ("ref", "multiref", "list_node")
    if isinstance(node, CrossFilter):
        if not is_ref:
            raise QueryError(
                f"field {node.field!r} of {what} is not a reference; compare it with a value, "
                f"e.g. {node.field} EQ 'x'"
            )
        if node.inner is not None:
            target = str(info.target)
            check(node.inner, schema_for(target), schema_for, target)
        return
    if is_ref and node.values != (None,):
        raise QueryError(
            f"field {node.field!r} of {what} is a reference; use a cross filter such as "
            f"{node.field} EQ {{id EQ 5}}, or {node.field} EQ null"
        )


# ---------------------------------------------------------------- evaluation

Resolver = Callable[[Ref], Mapping[str, Any] | None]


def _literal_text(value: Scalar) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _matches(actual: Any, wanted: Scalar) -> bool:
    if wanted is None:
        return actual is None or actual == "" or actual == ()
    if actual is None:
        return False
    if isinstance(actual, bool) or isinstance(wanted, bool):
        return _literal_text(actual) == _literal_text(wanted)
    if isinstance(actual, int | float) and not isinstance(wanted, str):
        return float(actual) == float(wanted)
    text = _literal_text(wanted)
    assert text is not None
    if isinstance(actual, str) and "*" in text:
        pattern = ".*".join(re.escape(part) for part in text.split("*"))
        return re.fullmatch(pattern, actual, re.DOTALL) is not None
    return str(actual) == text


def _refs(value: Any) -> Sequence[Ref]:
    if value is None:
        return ()
    if isinstance(value, Ref):
        return (value,)
    return tuple(value)


def evaluate(node: Node, record: Mapping[str, Any], resolve: Resolver) -> bool:
    """True when ``record`` (field name -> stored value) satisfies an already checked query."""
    if isinstance(node, And):
        return all(evaluate(item, record, resolve) for item in node.items)
    if isinstance(node, Or):
        return any(evaluate(item, record, resolve) for item in node.items)
    if isinstance(node, Not):
        return not evaluate(node.item, record, resolve)
    value = record.get(node.field)
    if isinstance(node, CrossFilter):
        refs = _refs(value)
        if node.inner is None:
            return not refs
        inner = node.inner
        for ref in refs:
            target = resolve(ref)
            if target is not None and evaluate(inner, target, resolve):
                return True
        return False
    if isinstance(value, Ref | list | tuple):  # reference compared with null
        return not _refs(value)
    return any(_matches(value, wanted) for wanted in node.values)
