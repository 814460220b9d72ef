"""A job's test suite: found or created under its module path (never twice), and its suite_ref.

A job with a suite path (``Team/Area/Nightly``) gets its application modules and its test
suite found or created (never duplicated, even by two uploaders at once), and every slice is
sent with ``<suite_ref id=… external_run_id=…/>`` so Octane keeps all slices in ONE suite run.
What the job recorded is read back in ``recorded``; linking and delinking runs is ``coverage``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from lxml import etree

from pytest_octane.errors import (
    ConfigError,
    InputError,
)
from pytest_octane.job.coord import Guard, creation_lock, taking_turns
from pytest_octane.job.module_tree import drop_duplicate, product_area
from pytest_octane.octane.client import OctaneClient, quote_query_value
from pytest_octane.octane.schema import safe_parser
from pytest_octane.octane.xml_text import parser_reason

__all__ = [
    "creation_lock",
    "get_or_create_suite",
    "resolve_suite",
    "split_suite_path",
    "taking_turns",
    "with_suite_ref",
]

EnsureModule = Callable[[str, int | None], int]
Warn = Callable[[str], None]


def _now() -> float:
    return time.time()


# ---------------------------------------------------------------- modules and the suite


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
