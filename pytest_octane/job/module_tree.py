"""Octane's application-module tree as a real server has it (API-FACTS 1d).

Every workspace has one system root (``logical_name`` product_area.root); modules we make
hang under it, and every reference names the real entity type ``product_area``.  A
duplicate that another job made at the same moment is deleted when the API key may, and
otherwise reported with what to clean up: DELETE is never needed for a correct upload.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pytest_octane.errors import NotOctaneError, OctaneError, OctaneHTTPError
from pytest_octane.octane.client import OctaneClient

__all__ = ["ROOT_LOGICAL_NAME", "SystemRoot", "drop_duplicate", "find_system_root", "product_area"]

ROOT_LOGICAL_NAME = "product_area.root"
#: DELETE refused for the API key's role (403) or for the collection (405)
_DELETE_REFUSED = frozenset({403, 405})

SystemRoot = tuple[int, str]


def product_area(module_id: int) -> dict[str, str]:
    """A reference to an application module: its entity type is ``product_area``."""
    return {"type": "product_area", "id": str(module_id)}


def _lowest(found: list[dict[str, Any]]) -> SystemRoot | None:
    if not found:
        return None
    first = min(found, key=lambda e: int(e["id"]))
    return int(first["id"]), str(first.get("name") or "")


def find_system_root(client: OctaneClient) -> SystemRoot:
    """(id, name) of the workspace's system root: by logical name, else the parentless one."""
    try:
        root = _lowest(
            client.get_entities(
                "application_modules",
                query=f"logical_name EQ '{ROOT_LOGICAL_NAME}'",
                fields=["id", "name"],
            )
        )
    except OctaneHTTPError as exc:
        if exc.status != 400 or isinstance(exc, NotOctaneError):
            raise
        root = None  # a server that cannot query logical_name: use the fallback
    if root is None:
        root = _lowest(
            client.get_entities(
                "application_modules", query="parent EQ {null}", fields=["id", "name"]
            )
        )
    if root is None:
        raise OctaneError(
            f"workspace {client.workspace_id} shows no system root application module "
            f"(logical_name {ROOT_LOGICAL_NAME!r}); check that the API key may read "
            "application modules"
        )
    return root


def drop_duplicate(
    client: OctaneClient,
    collection: str,
    kind: str,
    name: str,
    created: int,
    kept: int,
    warn: Callable[[str], None],
) -> None:
    """Delete our copy that lost a creation race; a refused DELETE is only a warning."""
    try:
        client.delete_entity(collection, created)
    except OctaneHTTPError as exc:
        if exc.status not in _DELETE_REFUSED or isinstance(exc, NotOctaneError):
            raise
        warn(
            f"{kind} {name!r} {created} is a duplicate of {kept} (another job created it at the "
            f"same moment) and this API key may not delete it (HTTP {exc.status}); everything "
            f"went to {kept} — delete {kind} {created} in Octane"
        )
