"""Writing Octane's entity collections: body checks, references, creation, updates and deletes,
under the same rules as ``entities`` (the caller holds ``state.lock``; nothing changes before
every check has passed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_octane.simulator.entities import (
    REF_TYPES,
    ROOT_LOGICAL_NAME,
    ROOT_NAME,
    Collection,
    find_entity,
    schema_for,
    writable_fields,
)
from pytest_octane.simulator.protocol import ApiError
from pytest_octane.simulator.query import (
    Ref,
)
from pytest_octane.simulator.state import ENTITY_TYPES, Entity, SimState

__all__ = [
    "add_application_module",
    "add_system_root",
    "create_entities",
    "data_items",
    "delete_entity",
    "system_root_id",
    "update_entities",
]

# ---------------------------------------------------------------- writing


def _ref_from_json(state: SimState, field: str, target: str, raw: Any) -> Ref:
    if not isinstance(raw, dict) or "id" not in raw:
        raise ApiError(
            400,
            "platform.invalid_reference",
            f'field {field!r}: a reference must look like {{"type": "{target}", "id": "5"}}',
        )
    type_ = raw.get("type", target)
    if type_ not in REF_TYPES[target]:
        raise ApiError(
            400,
            "platform.invalid_reference",
            f"field {field!r}: type {type_!r} cannot be referenced here "
            f"(expected {', '.join(sorted(REF_TYPES[target]))})",
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
    allowed = writable_fields(state, coll.entity_type)
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
        if coll.entity_type == "ci_server":
            _check_ci_server(state, changes, planned)
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
            fields: dict[str, Any] = {
                name: None for name in writable_fields(state, coll.entity_type)
            }
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


def _check_ci_server(
    state: SimState, changes: dict[str, Any], planned: list[tuple[str | None, dict[str, Any]]]
) -> None:
    """A CI server needs instance_id, server_type and url (OpenText's pipeline flow and
    GitHub Actions integration send all four fields); one instance_id is one server (GUESS)."""
    for name in ("instance_id", "server_type", "url"):
        if not changes.get(name):
            raise ApiError(
                400, "platform.missing_required_field", f"ci_servers: field {name!r} is required"
            )
    taken = [e.fields.get("instance_id") for e in state.all("ci_server")]
    taken += [c.get("instance_id") for _, c in planned]
    if changes["instance_id"] in taken:
        raise ApiError(
            409,
            "platform.duplicate_entity",
            f"ci_servers: a CI server with instance_id {changes['instance_id']!r} exists already",
        )


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
        entity = find_entity(state, coll, item["id"])
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
    entity = find_entity(state, coll, id_text)
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
