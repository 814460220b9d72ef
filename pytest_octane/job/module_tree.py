"""Octane's application-module tree as a real server has it (API-FACTS 1d).

Every workspace has one system root (``logical_name`` product_area.root); modules we make
hang under it, and every reference names the real entity type ``product_area``.  A
duplicate that another job made at the same moment is deleted when the API key may, and
otherwise reported with what to clean up: DELETE is never needed for a correct upload.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from pytest_octane.errors import NotOctaneError, OctaneError, OctaneHTTPError
from pytest_octane.job.coord import Guard, taking_turns
from pytest_octane.octane.client import OctaneClient, quote_query_value

__all__ = [
    "ROOT_LOGICAL_NAME",
    "Guard",
    "ModuleResolver",
    "Placed",
    "SystemRoot",
    "drop_duplicate",
    "find_system_root",
    "module_name_of",
    "product_area",
]

log = logging.getLogger("pytest_octane.job.engine")

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


class ModuleResolver:
    """Get-or-create application modules by exact name and parent, never leaving duplicates.

    ``parent=None`` means a top-level module: directly under the workspace's system root
    (``find_system_root``); the system root itself when the name is its own,
    and a seed-era parentless module of that name when one exists.  Uploads in one process
    take turns (``coord.creation_lock``), jobs sharing a task store take its lock
    (``guard``), so neither creates a module twice.  After creating a module it queries again: if
    another uploader created the same module at the same moment, the lowest id wins and the
    loser deletes its own copy, or warns when the API key may not delete.  Modules that
    existed as duplicates before are used (lowest id) and reported, never deleted.
    """

    def __init__(
        self, client: OctaneClient, warn: Callable[[str], None], guard: Guard | None = None
    ) -> None:
        self.client = client
        self.warn = warn
        self.guard = guard  # jobs sharing a task store: its lock (coord.creation_guard)
        self._cache: dict[tuple[str, int | None], int] = {}
        self._root: SystemRoot | None = None

    def system_root(self) -> int:
        """The workspace's system root module id (looked up once)."""
        return self._system_root()[0]

    def _system_root(self) -> SystemRoot:
        if self._root is None:
            self._root = find_system_root(self.client)
        return self._root

    def _find(self, name: str, parent: int | None) -> list[int]:
        parent_q = "parent EQ {null}" if parent is None else f"parent EQ {{id EQ {parent}}}"
        query = f"name EQ {quote_query_value(name)};{parent_q}"
        return sorted(
            int(e["id"])
            for e in self.client.iter_entities("application_modules", query=query, fields=["id"])
        )

    def ensure(self, name: str, parent: int | None) -> int:
        key = (name, parent)
        if key in self._cache:
            return self._cache[key]
        with taking_turns(self.client, self.guard):
            self._cache[key] = self._get_or_create(name, parent)
        return self._cache[key]

    def _get_or_create(self, name: str, parent: int | None) -> int:
        if parent is None:
            under, root_name = self._system_root()
            if name == root_name:
                return under  # the configured root module is the system root itself
            where = "top-level module"
            ids = self._find(name, under) or self._find(name, None)  # or a seed-era one
        else:
            under, where = parent, f"module under {parent}"
            ids = self._find(name, parent)
        if len(ids) > 1:
            self.warn(
                f"duplicate application modules named {name!r} ({where}): ids {ids}; "
                f"using {ids[0]} — clean up the others in Octane"
            )
        if not ids:
            body = {"name": name, "parent": product_area(under)}
            created = int(self.client.create_entities("application_modules", [body])[0]["id"])
            ids = self._find(name, under)
            if created not in ids:
                ids = sorted([*ids, created])
            if ids[0] != created:
                log.info("application module %r created twice at once; using %s", name, ids[0])
                drop_duplicate(
                    self.client, "application_modules", "application module", name,
                    created, ids[0], self.warn,
                )  # fmt: skip
        return ids[0]


class Placed(Protocol):
    """Where a run sits in the test tree (a spooled run, or a collected test)."""

    @property
    def package(self) -> str: ...
    @property
    def klass(self) -> str: ...
    @property
    def jira_keys(self) -> tuple[str, ...]: ...


def module_name_of(run: Placed, mode: str) -> str | None:
    """The application module a run belongs to: its test module or its package."""
    if mode == "off":
        return None
    dotted = ".".join(p for p in (run.package, run.klass) if p)
    if mode == "package":
        return run.package or run.klass or None
    # module mode: the file's dotted name is package+class minus a trailing Class part
    parts = dotted.split(".")
    while len(parts) > 1 and parts[-1][:1].isupper():
        parts.pop()
    return ".".join(parts) or None
