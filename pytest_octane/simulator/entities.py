"""Octane's entity collections: field schemas, JSON rendering, listing and reading one.

Writes are in ``entity_writes``.

Every function here expects the caller to hold ``state.lock``.  Failures raise
:class:`ApiError` before anything is changed, so a bad bulk request changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_octane.simulator.protocol import ApiError
from pytest_octane.simulator.query import (
    FieldInfo,
    QueryError,
    Ref,
    check,
    evaluate,
    parse_query,
)
from pytest_octane.simulator.state import Entity, SimState

__all__ = [
    "COLLECTIONS",
    "Collection",
    "get_entity",
    "list_entities",
    "render",
    "schema_for",
]

_TEXT = FieldInfo("str")
_WORK_ITEMS = FieldInfo("multiref", "work_item")
_MODULES = FieldInfo("multiref", "application_module")

#: The one parentless module every workspace has (API-FACTS 1d, VERIFIED).
ROOT_LOGICAL_NAME = "product_area.root"
ROOT_NAME = "Application Modules"
_LIST_NODE = FieldInfo("list_node", "list_node")

_SCHEMAS: dict[str, dict[str, FieldInfo]] = {
    "work_item": {
        "id": FieldInfo("id"),
        "subtype": _TEXT,
        "name": _TEXT,
        "description": _TEXT,
    },
    "application_module": {
        "id": FieldInfo("id"),
        "name": _TEXT,
        "description": _TEXT,
        "logical_name": _TEXT,
        "parent": FieldInfo("ref", "application_module"),
    },
    "release": {"id": FieldInfo("id"), "name": _TEXT},
    "test": {
        "id": FieldInfo("id"),
        "subtype": _TEXT,
        "name": _TEXT,
        "description": _TEXT,
        "package": _TEXT,
        "class_name": _TEXT,
        "covered_content": _WORK_ITEMS,
        "product_areas": _MODULES,
        "framework": _LIST_NODE,
        "test_level": _LIST_NODE,
        "test_type": _LIST_NODE,
        "testing_tool_type": _LIST_NODE,
    },
    "run": {
        "id": FieldInfo("id"),
        "subtype": _TEXT,
        "name": _TEXT,
        "description": _TEXT,
        "status": _LIST_NODE,
        "native_status": _LIST_NODE,
        "started": FieldInfo("datetime"),
        "duration": FieldInfo("int"),
        "external_run_id": _TEXT,
        "test": FieldInfo("ref", "test"),
        "parent_suite": FieldInfo("ref", "run"),
        "release": FieldInfo("ref", "release"),
        "covered_content": _WORK_ITEMS,
        "product_areas": _MODULES,
        "build_context": FieldInfo("object"),
        "taxonomies": FieldInfo("object"),
        "external_report_url": _TEXT,
    },
    "list_node": {"id": _TEXT, "name": _TEXT},
    "ci_server": {
        "id": FieldInfo("id"),
        "name": _TEXT,
        "instance_id": _TEXT,
        "server_type": _TEXT,
        "url": _TEXT,
    },
    "attachment": {
        "id": FieldInfo("id"),
        "name": _TEXT,
        "description": _TEXT,
        "size": FieldInfo("int"),
        "owner_run": FieldInfo("ref", "run"),
    },
}

#: Fields a client may set with POST (create) or PUT (update), per entity type.
_WRITABLE: dict[str, set[str]] = {
    "work_item": {"name", "description"},
    "application_module": {"name", "description", "parent"},
    "release": {"name"},
    "test": {
        "name",
        "description",
        "package",
        "class_name",
        "covered_content",
        "product_areas",
    },
    "run": {"name", "description", "covered_content", "product_areas"},
    "ci_server": {"name", "instance_id", "server_type", "url"},
    "attachment": set(),
}

#: Type names a reference to an entity type may use in a request body: the real entity
#: types only (``application_module`` is a collection name and UI alias, API-FACTS 1d).
REF_TYPES: dict[str, set[str]] = {
    "work_item": {"work_item", "story"},
    "application_module": {"product_area"},
    "release": {"release"},
    "test": {"test"},
    "run": {"run"},
}

_REF_LABELS = {"work_item": "work_item", "application_module": "product_area"}


@dataclass(frozen=True, slots=True)
class Collection:
    """One REST collection over an entity type (optionally only some subtypes)."""

    name: str
    entity_type: str
    label: str  # the "type" its entities show
    subtypes: frozenset[str] | None = None
    creatable: frozenset[str] = frozenset()  # subtypes POST may create; empty = no subtype
    default_subtype: str | None = None
    can_create: bool = True
    can_delete: bool = False

    def holds(self, entity: Entity) -> bool:
        return self.subtypes is None or entity.fields.get("subtype") in self.subtypes


COLLECTIONS: dict[str, Collection] = {
    c.name: c
    for c in (
        Collection(
            "stories", "work_item", "story", frozenset({"story"}), frozenset({"story"}), "story"
        ),
        Collection("work_items", "work_item", "work_item", None, frozenset({"story"}), "story"),
        Collection("application_modules", "application_module", "product_area", can_delete=True),
        Collection("releases", "release", "release"),
        Collection(
            "tests",
            "test",
            "test",
            None,
            frozenset({"test_suite", "test_automated"}),
            can_delete=True,
        ),
        Collection("runs", "run", "run", can_create=False),
        Collection("automated_runs", "run", "run", frozenset({"run_automated"}), can_create=False),
        Collection("ci_servers", "ci_server", "ci_server"),
        # created only by the attachments route (multipart or octet-stream, attachments.py)
        Collection("attachments", "attachment", "attachment", can_create=False),
    )
}


def schema_for(state: SimState, entity_type: str) -> dict[str, FieldInfo]:
    schema = dict(_SCHEMAS[entity_type])
    if entity_type == "work_item":
        schema[state.config.jira_field] = _TEXT
    return schema


def writable_fields(state: SimState, entity_type: str) -> set[str]:
    fields = set(_WRITABLE[entity_type])
    if entity_type == "work_item":
        fields.add(state.config.jira_field)
    return fields


# ---------------------------------------------------------------- rendering


def _render_ref(state: SimState, ref: Ref) -> dict[str, Any]:
    if ref.type == "list_node":
        return {"type": "list_node", "id": str(ref.id), "name": ref.name}
    data: dict[str, Any] = {"type": _REF_LABELS.get(ref.type, ref.type), "id": str(ref.id)}
    target = state.resolve(ref)
    if target is not None:
        if "subtype" in target:
            data["subtype"] = target["subtype"]
        if target.get("name") is not None:
            data["name"] = target["name"]
    return data


def _render_value(state: SimState, info: FieldInfo, value: Any) -> Any:
    if info.kind == "id":
        return str(value)
    if info.kind in ("ref", "list_node"):
        return None if value is None else _render_ref(state, value)
    if info.kind == "multiref":
        refs = [_render_ref(state, ref) for ref in value or ()]
        return {"total_count": len(refs), "data": refs}
    return value


def render(
    state: SimState, entity: Entity, label: str, fields: Sequence[str] | None = None
) -> dict[str, Any]:
    """Entity as Octane JSON: ids as strings, references as {type, id}, multi as {data}."""
    schema = schema_for(state, entity.type)
    names = list(schema) if fields is None else [f for f in fields if f in schema]
    data: dict[str, Any] = {"type": label, "id": str(entity.id)}
    for name in names:
        if name == "id":
            continue
        data[name] = _render_value(state, schema[name], entity.fields.get(name))
    return data


# ---------------------------------------------------------------- reading


def _parse_int(raw: str | None, name: str, default: int) -> int:
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(
            400, "platform.invalid_parameter", f"{name}={raw!r} is not a number"
        ) from None


def _fields_param(state: SimState, coll: Collection, raw: str | None) -> list[str] | None:
    if raw is None or not raw.strip():
        return None
    schema = schema_for(state, coll.entity_type)
    wanted = [f.strip() for f in raw.split(",") if f.strip()]
    unknown = [f for f in wanted if f not in schema]
    if unknown:
        raise ApiError(
            400,
            "platform.unknown_field",
            f"fields={raw!r}: unknown field(s) {', '.join(unknown)} for {coll.name} "
            f"(known: {', '.join(sorted(schema))})",
        )
    return wanted


def _sort_key(info: FieldInfo, value: Any) -> tuple[int, Any]:
    if value is None:
        return (1, "")
    if info.kind in ("id", "int"):
        return (0, int(value))
    return (0, str(value))


def _sorter(name: str, info: FieldInfo) -> Callable[[Entity], tuple[int, Any]]:
    return lambda entity: _sort_key(info, entity.fields.get(name))


def _order(state: SimState, coll: Collection, raw: str | None, items: list[Entity]) -> None:
    if raw is None or not raw.strip():
        items.sort(key=lambda e: e.id)
        return
    schema = schema_for(state, coll.entity_type)
    keys = [k.strip() for k in raw.strip().strip("{}").split(",") if k.strip()]
    for key in reversed(keys):  # stable sorts, last key first
        descending = key.startswith("-")
        name = key.lstrip("-")
        info = schema.get(name)
        if info is None or info.kind not in ("id", "int", "str", "datetime"):
            raise ApiError(
                400,
                "platform.invalid_order_by",
                f"order_by={raw!r}: cannot sort {coll.name} by {name!r}; "
                "use id, name or another plain field, with '-' for descending",
            )
        items.sort(key=_sorter(name, info), reverse=descending)


def list_entities(state: SimState, coll: Collection, params: Mapping[str, str]) -> dict[str, Any]:
    """GET on a collection: query, fields, order_by, limit, offset."""
    limit = _parse_int(params.get("limit"), "limit", state.config.default_limit)
    offset = _parse_int(params.get("offset"), "offset", 0)
    cap = state.config.max_page_size
    if not 1 <= limit <= cap:
        raise ApiError(
            400,
            "platform.invalid_page_size",
            f"limit={limit} is out of range: it must be between 1 and {cap} (the maximum page "
            "size); page with offset",
        )
    if offset < 0:
        raise ApiError(400, "platform.invalid_parameter", f"offset={offset} must be 0 or more")
    fields = _fields_param(state, coll, params.get("fields"))
    items = [e for e in state.entities[coll.entity_type].values() if coll.holds(e)]
    raw_query = params.get("query")
    if raw_query is not None and raw_query.strip() not in ("", '""'):
        try:
            node = parse_query(raw_query)
            check(
                node,
                schema_for(state, coll.entity_type),
                lambda t: schema_for(state, t),
                coll.name,
            )
        except QueryError as exc:
            raise ApiError(400, "platform.query_error", f"query={raw_query}: {exc}") from None
        items = [e for e in items if evaluate(node, e.fields, state.resolve)]
    _order(state, coll, params.get("order_by"), items)
    page = items[offset : offset + limit]
    return {
        "total_count": len(items),
        "exceeds_total_count": False,
        "data": [render(state, e, coll.label, fields) for e in page],
    }


def get_entity(state: SimState, coll: Collection, id_text: str, fields_raw: str | None) -> Entity:
    entity = find_entity(state, coll, id_text)
    _fields_param(state, coll, fields_raw)
    return entity


def find_entity(state: SimState, coll: Collection, id_value: Any) -> Entity:
    try:
        id_ = int(str(id_value))
    except ValueError:
        raise ApiError(400, "platform.invalid_id", f"{id_value!r} is not an entity id") from None
    entity = state.get(coll.entity_type, id_)
    if entity is None or not coll.holds(entity):
        raise ApiError(
            404, "platform.entity_not_found", f"{coll.name} entity with id {id_} does not exist"
        )
    return entity
