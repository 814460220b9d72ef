"""Octane's entity collections: field schemas, JSON rendering, listing, creation and updates.

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
from pytest_octane.simulator.state import ENTITY_TYPES, Entity, SimState

__all__ = [
    "COLLECTIONS",
    "Collection",
    "create_entities",
    "delete_entity",
    "get_entity",
    "list_entities",
    "render",
    "schema_for",
    "update_entities",
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
    },
    "list_node": {"id": _TEXT, "name": _TEXT},
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
}

#: Type names a reference to an entity type may use in a request body: the real entity
#: types only (``application_module`` is a collection name and UI alias, API-FACTS 1d).
_REF_TYPES: dict[str, set[str]] = {
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
    )
}


def schema_for(state: SimState, entity_type: str) -> dict[str, FieldInfo]:
    schema = dict(_SCHEMAS[entity_type])
    if entity_type == "work_item":
        schema[state.config.jira_field] = _TEXT
    return schema


def _writable(state: SimState, entity_type: str) -> set[str]:
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
    entity = _find(state, coll, id_text)
    _fields_param(state, coll, fields_raw)
    return entity


def _find(state: SimState, coll: Collection, id_value: Any) -> Entity:
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


# ---------------------------------------------------------------- writing


def _ref_from_json(state: SimState, field: str, target: str, raw: Any) -> Ref:
    if not isinstance(raw, dict) or "id" not in raw:
        raise ApiError(
            400,
            "platform.invalid_reference",
            f'field {field!r}: a reference must look like {{"type": "{target}", "id": "5"}}',
        )
    type_ = raw.get("type", target)
    if type_ not in _REF_TYPES[target]:
        raise ApiError(
            400,
            "platform.invalid_reference",
            f"field {field!r}: type {type_!r} cannot be referenced here "
            f"(expected {', '.join(sorted(_REF_TYPES[target]))})",
        )
    try:
        id_ = int(str(raw["id"]))
    except ValueError:
        raise ApiError(
            400, "platform.invalid_reference", f"field {field!r}: id {raw['id']!r} is not a number"
        ) from None
    if state.get(target, id_) is None:
        raise ApiError(
            404,
            "platform.entity_not_found",
            f"field {field!r}: {type_} with id {id_} does not exist",
        )
    return Ref(target, id_)


def _convert(state: SimState, entity_type: str, name: str, raw: Any) -> Any:
    info = schema_for(state, entity_type)[name]
    if info.kind == "str":
        if raw is not None and not isinstance(raw, str):
            raise ApiError(400, "platform.invalid_value", f"field {name!r} must be a string")
        if name == "name" and not (isinstance(raw, str) and 1 <= len(raw) <= 255):
            raise ApiError(
                400, "platform.invalid_value", "field 'name' must be 1 to 255 characters"
            )
        return raw
    if info.kind == "ref":
        return None if raw is None else _ref_from_json(state, name, str(info.target), raw)
    # multiref
    if not isinstance(raw, dict) or not isinstance(raw.get("data"), list):
        raise ApiError(
            400,
            "platform.invalid_reference",
            f'field {name!r} is a multi-reference: send {{"data": [{{"type": ..., "id": ...}}]}}',
        )
    refs: list[Ref] = []
    for item in raw["data"]:
        ref = _ref_from_json(state, name, str(info.target), item)
        if ref not in refs:
            refs.append(ref)
    return tuple(refs)


def _check_body_fields(
    state: SimState, coll: Collection, item: Any, *, creating: bool
) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ApiError(400, "platform.invalid_body", "each item of 'data' must be a JSON object")
    allowed = _writable(state, coll.entity_type)
    known = set(schema_for(state, coll.entity_type))
    changes: dict[str, Any] = {}
    for name, raw in item.items():
        if name in ("id", "type") or (name == "subtype" and creating):
            continue
        if name not in known:
            raise ApiError(400, "platform.unknown_field", f"unknown field {name!r} for {coll.name}")
        if name not in allowed:
            raise ApiError(
                400,
                "platform.field_not_writable",
                f"field {name!r} of {coll.name} cannot be set in the simulator",
            )
        changes[name] = _convert(state, coll.entity_type, name, raw)
    return changes


def _data_items(body: Any) -> list[Any]:
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise ApiError(400, "platform.invalid_body", 'the body must be {"data": [ ... ]}')
    return list(body["data"])


def _module_key(fields: Mapping[str, Any]) -> tuple[str, int | str | None]:
    parent = fields.get("parent")
    return (str(fields.get("name")), parent.id if isinstance(parent, Ref) else None)


def add_application_module(
    state: SimState, name: str, parent_id: int | None, *, id_: int | None = None
) -> Entity:
    """Create a module the way Octane does: duplicates allowed, but counted."""
    fields: dict[str, Any] = {
        "name": name,
        "description": None,
        "logical_name": None,
        "parent": None if parent_id is None else Ref("application_module", parent_id),
    }
    key = _module_key(fields)
    if any(_module_key(m.fields) == key for m in state.entities["application_module"].values()):
        state.counters.duplicate_application_modules += 1
    return state.add_entity("application_module", fields, id_=id_)


def add_system_root(state: SimState) -> Entity:
    """The workspace's system root module: no parent, ``logical_name`` product_area.root."""
    root = add_application_module(
        state, ROOT_NAME, None, id_=ENTITY_TYPES["application_module"] - 1
    )
    root.fields["logical_name"] = ROOT_LOGICAL_NAME
    return root


def system_root_id(state: SimState) -> int:
    for module in state.all("application_module"):
        if module.fields.get("logical_name") == ROOT_LOGICAL_NAME:
            return module.id
    raise AssertionError("the simulator's workspace has no system root module")


def create_entities(state: SimState, coll: Collection, body: Any) -> list[Entity]:
    """POST {"data": [...]} on a collection."""
    if not coll.can_create:
        raise ApiError(
            400,
            "platform.operation_not_supported",
            f"creating {coll.name} is not supported by the simulator; upload test results instead",
        )
    planned: list[tuple[str | None, dict[str, Any]]] = []
    for item in _data_items(body):
        changes = _check_body_fields(state, coll, item, creating=True)
        subtype = item.get("subtype", coll.default_subtype)
        if coll.creatable and subtype not in coll.creatable:
            raise ApiError(
                400,
                "platform.invalid_subtype",
                f"{coll.name}: subtype {subtype!r} cannot be created "
                f"(use one of {', '.join(sorted(coll.creatable))})",
            )
        if "name" not in changes:
            raise ApiError(400, "platform.missing_field", f"{coll.name}: field 'name' is required")
        if coll.entity_type == "application_module" and changes.get("parent") is None:
            raise ApiError(
                400,
                "platform.missing_required_field",
                f"{coll.name}: field 'parent' is required (a module hangs under the system root "
                f"{system_root_id(state)} or another module)",
            )
        planned.append((subtype if coll.creatable else None, changes))
    created: list[Entity] = []
    for subtype, changes in planned:
        if coll.entity_type == "application_module":
            parent = changes.get("parent")
            entity = add_application_module(
                state, changes["name"], int(parent.id) if isinstance(parent, Ref) else None
            )
            entity.fields["description"] = changes.get("description")
        else:
            fields: dict[str, Any] = {name: None for name in _writable(state, coll.entity_type)}
            for name, info in schema_for(state, coll.entity_type).items():
                if info.kind == "multiref":
                    fields[name] = ()
            fields.update(changes)
            if subtype is not None:
                fields["subtype"] = subtype
            entity = state.add_entity(coll.entity_type, fields)
            if coll.entity_type == "test":
                state.index_test(entity)
        created.append(entity)
    return created


def _merge(old: Any, new: tuple[Ref, ...], mode: str) -> tuple[Ref, ...]:
    current = tuple(old or ())
    if mode == "append":
        return current + tuple(r for r in new if r not in current)
    if mode == "remove":
        return tuple(r for r in current if r not in new)
    return new


def _check_parent(state: SimState, entity: Entity, parent: Any) -> None:
    seen = entity.id
    while isinstance(parent, Ref):
        if parent.id == seen:
            raise ApiError(
                400, "platform.invalid_value", f"application module {seen} cannot be its own parent"
            )
        above = state.get("application_module", int(parent.id))
        parent = above.fields.get("parent") if above else None


def update_entities(
    state: SimState,
    coll: Collection,
    items: list[Any],
    mode: str,
) -> list[Entity]:
    """PUT: ``mode`` is replace, append or remove for multi-references."""
    planned: list[tuple[Entity, dict[str, Any]]] = []
    for item in items:
        if not isinstance(item, dict) or "id" not in item:
            raise ApiError(400, "platform.missing_field", "each item to update needs its 'id'")
        entity = _find(state, coll, item["id"])
        if "subtype" in item and item["subtype"] != entity.fields.get("subtype"):
            raise ApiError(400, "platform.field_not_writable", "the subtype cannot be changed")
        changes = _check_body_fields(state, coll, item, creating=False)
        if "parent" in changes:
            if changes["parent"] is None:
                raise ApiError(
                    400, "platform.missing_required_field", "an application module needs a parent"
                )
            _check_parent(state, entity, changes["parent"])
        planned.append((entity, changes))
    schema = schema_for(state, coll.entity_type)
    for entity, changes in planned:
        for name, value in changes.items():
            if schema[name].kind == "multiref":
                value = _merge(entity.fields.get(name), value, mode)
            entity.fields[name] = value
        if coll.entity_type == "test":
            state.index_test(entity)
    return [entity for entity, _ in planned]


def _in_use(state: SimState, entity: Entity) -> str | None:
    if entity.type == "application_module":
        for module in state.all("application_module"):
            parent = module.fields.get("parent")
            if isinstance(parent, Ref) and parent.id == entity.id:
                return f"application module {module.id} is its child"
    if entity.type == "test":
        for run in state.all("run"):
            test = run.fields.get("test")
            if isinstance(test, Ref) and test.id == entity.id:
                return f"run {run.id} belongs to it"
    return None


def delete_entity(state: SimState, coll: Collection, id_text: str) -> None:
    """DELETE ``{collection}/{id}``: how an uploader that lost a get-or-create race cleans up.

    GUESS: Octane refuses to delete a module with children or a test with runs; the
    simulator answers 409 ``platform.entity_in_use`` then.
    """
    if not coll.can_delete:
        raise ApiError(405, "platform.method_not_allowed", f"deleting {coll.name} is not supported")
    if state.forbid_delete:
        raise ApiError(
            403,
            "platform.forbidden",
            f"the API key's role may not delete {coll.name} (the simulator forbids DELETE)",
        )
    entity = _find(state, coll, id_text)
    if entity.fields.get("logical_name") == ROOT_LOGICAL_NAME:
        raise ApiError(403, "platform.forbidden", "the system root module cannot be deleted")
    reason = _in_use(state, entity)
    if reason is not None:
        raise ApiError(
            409,
            "platform.entity_in_use",
            f"{coll.name} entity {entity.id} cannot be deleted: {reason}",
        )
    del state.entities[entity.type][entity.id]


def data_items(body: Any) -> list[Any]:
    """The ``data`` list of a bulk body (400 when the shape is wrong)."""
    return _data_items(body)
