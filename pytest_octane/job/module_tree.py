"""Where a job's runs sit in Octane: the application-module tree and the job's test suite.

Every workspace has one system root (``logical_name`` product_area.root, API-FACTS 1d);
modules we make hang under it, and every reference names the real entity type
``product_area``.  A job with a suite path (``Team/Area/Nightly``) gets its modules and its
test suite found or created, and every slice is sent with ``<suite_ref id=…
external_run_id=…/>`` so Octane keeps all slices in ONE suite run.  Modules and suites are
never created twice, even by two uploaders at once: a duplicate that another job made at the
same moment is deleted when the API key may, and otherwise reported with what to clean up
(DELETE is never needed for a correct upload).  What the job recorded is read back in
``recorded``; linking and delinking runs is ``coverage``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from lxml import etree

from pytest_octane.errors import (
    ConfigError,
    InputError,
    NotOctaneError,
    OctaneError,
    OctaneHTTPError,
)
from pytest_octane.job.coord import Guard, taking_turns
from pytest_octane.octane.client import OctaneClient, quote_query_value
from pytest_octane.octane.schema import safe_parser
from pytest_octane.octane.xml_text import parser_reason

__all__ = [
    "ROOT_LOGICAL_NAME",
    "Guard",
    "ModuleResolver",
    "Placed",
    "SystemRoot",
    "drop_duplicate",
    "find_system_root",
    "get_or_create_suite",
    "module_name_of",
    "product_area",
    "resolve_suite",
    "split_suite_path",
    "with_suite_ref",
]

log = logging.getLogger(__name__)

ROOT_LOGICAL_NAME = "product_area.root"
#: DELETE refused for the API key's role (403) or for the collection (405)
_DELETE_REFUSED = frozenset({403, 405})

SystemRoot = tuple[int, str]
EnsureModule = Callable[[str, int | None], int]
Warn = Callable[[str], None]


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


# ---------------------------------------------------------------- the job's test suite


def split_suite_path(path: str) -> tuple[list[str], str]:
    """``Team/Area/Nightly`` -> (["Team", "Area"], "Nightly")."""
    parts = [part.strip() for part in path.split("/")]
    if not parts or any(not part for part in parts):
        raise ConfigError(f"suite path {path!r} has an empty part; use e.g. Team/Area/Nightly")
    return parts[:-1], parts[-1]


def resolve_suite(
    client: OctaneClient,
    ensure_module: EnsureModule,
    root_module: str | None,
    path: str,
    warn: Warn,
    *,
    system_root: Callable[[], int] | None = None,
    guard: Guard | None = None,
) -> tuple[int, list[int]]:
    """Get or create the path's modules and its suite; return (suite id, module ids).

    The modules hang under the root module, itself directly under the workspace's system
    root (``ensure_module(name, None)``), or are top-level modules when no root module is
    configured.  A suite with no module of its own goes under ``system_root()``.
    """
    modules, suite_name = split_suite_path(path)
    parent = ensure_module(root_module, None) if root_module else None
    module_ids: list[int] = []
    for name in modules:
        parent = ensure_module(name, parent)
        module_ids.append(parent)
    if parent is None and system_root is not None:
        root = system_root()
        suite_id = get_or_create_suite(
            client, suite_name, root, warn, seed_unparented=True, guard=guard
        )
        return suite_id, []
    return get_or_create_suite(client, suite_name, parent, warn, guard=guard), module_ids


def _find_suites(client: OctaneClient, name: str, module_id: int | None) -> list[int]:
    area = (
        "product_areas EQ {null}"
        if module_id is None
        else f"product_areas EQ {{id EQ {module_id}}}"
    )
    query = f"subtype EQ 'test_suite';name EQ {quote_query_value(name)};{area}"
    return sorted(int(e["id"]) for e in client.iter_entities("tests", query=query, fields=["id"]))


def get_or_create_suite(
    client: OctaneClient,
    name: str,
    module_id: int | None,
    warn: Warn,
    *,
    seed_unparented: bool = False,
    guard: Guard | None = None,
) -> int:
    """The test suite ``name`` under ``module_id``, created when missing, never duplicated.

    Same rule as the application modules: query, create, query again; when another uploader
    created the same suite at the same moment, the lowest id wins and the loser deletes its
    own copy (or warns, when the API key may not delete).  Suites that were duplicated
    before are used (lowest id) and reported.  ``seed_unparented`` also finds a suite the
    seed made with no application module.
    """
    with taking_turns(client, guard):
        return _get_or_create_suite(client, name, module_id, warn, seed_unparented)


def _get_or_create_suite(
    client: OctaneClient, name: str, module_id: int | None, warn: Warn, seed_unparented: bool
) -> int:
    where = "with no application module" if module_id is None else f"under module {module_id}"
    ids = _find_suites(client, name, module_id)
    if not ids and seed_unparented and module_id is not None:
        ids = _find_suites(client, name, None)
    if len(ids) > 1:
        warn(
            f"duplicate test suites named {name!r} ({where}): ids {ids}; using {ids[0]} — "
            "clean up the others in Octane"
        )
    if ids:
        return ids[0]
    body: dict[str, Any] = {"name": name, "subtype": "test_suite"}
    if module_id is not None:
        body["product_areas"] = {"data": [product_area(module_id)]}
    created = int(client.create_entities("tests", [body])[0]["id"])
    ids = _find_suites(client, name, module_id)
    if created not in ids:
        ids = sorted([*ids, created])
    if ids[0] != created:  # another uploader won the race: use theirs
        drop_duplicate(client, "tests", "test suite", name, created, ids[0], warn)
    return ids[0]


def with_suite_ref(payload: bytes, suite_id: int, external_run_id: str) -> bytes:
    """The payload with the document-level ``<suite_ref>`` (right after ``<build>``)."""
    try:
        root = etree.fromstring(payload, safe_parser())
    except etree.XMLSyntaxError as exc:
        reason = parser_reason(str(exc.msg))
        raise InputError(f"slice payload is not well-formed XML ({reason})") from None
    for old in root.findall("suite_ref"):
        root.remove(old)
    suite = etree.Element("suite_ref", id=str(suite_id))
    suite.set("external_run_id", external_run_id[:255])
    build = root.find("build")
    root.insert(0 if build is None else root.index(build) + 1, suite)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True))
