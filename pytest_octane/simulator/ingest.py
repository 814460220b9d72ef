"""Turning one accepted test_result document into tests, runs and suite runs.

This is the simulator's version of Octane's background processing: references are resolved
first; with ``skip-errors=false`` a missing reference fails the task and nothing is stored,
with ``skip-errors=true`` the task ends ``warning`` and the runs are stored without it.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from pytest_octane.errors import InputError
from pytest_octane.octane.schema import parse
from pytest_octane.simulator.gherkin import store_gherkin_run
from pytest_octane.simulator.query import Ref
from pytest_octane.simulator.state import Entity, SimState, Task

__all__ = ["ingest"]

_DEFAULT_RELEASE = "_default_"


@dataclass(slots=True)
class _Context:
    """What applies to a run: the document's elements overridden/extended by the run's own."""

    suite: tuple[int, str] | None = None
    release_id: int | None = None
    release_name: str | None = None
    milestone_id: int | None = None
    program_id: int | None = None
    backlog: list[int] = field(default_factory=list)
    areas: list[int] = field(default_factory=list)
    test_fields: dict[str, str] = field(default_factory=dict)
    taxonomies: list[dict[str, str]] = field(default_factory=list)

    def child(self) -> _Context:
        return _Context(
            suite=self.suite,
            release_id=self.release_id,
            release_name=self.release_name,
            milestone_id=self.milestone_id,
            program_id=self.program_id,
            backlog=list(self.backlog),
            areas=list(self.areas),
            test_fields=dict(self.test_fields),
            taxonomies=list(self.taxonomies),
        )

    def read(self, element: etree._Element) -> None:
        for item in element:
            tag = item.tag
            if tag == "suite_ref":
                self.suite = (int(item.get("id", "0")), item.get("external_run_id") or "")
            elif tag == "release_ref":
                self.release_id, self.release_name = int(item.get("id", "0")), None
            elif tag == "release":
                self.release_id, self.release_name = None, item.get("name")
            elif tag == "milestone_ref":
                self.milestone_id = int(item.get("id", "0"))
            elif tag == "program_ref":
                self.program_id = int(item.get("id", "0"))
            elif tag == "backlog_items":
                _extend(self.backlog, (int(r.get("id", "0")) for r in item))
            elif tag == "product_areas":
                _extend(self.areas, (int(r.get("id", "0")) for r in item))
            elif tag == "test_fields":
                for f in item:
                    self.test_fields[str(f.get("type"))] = str(f.get("value"))
            elif tag == "environment":
                for t in item:
                    self.taxonomies.append(
                        {"type": str(t.get("type")), "value": str(t.get("value"))}
                    )


def _extend(target: list[int], values: Any) -> None:
    for value in values:
        if value not in target:
            target.append(value)


@dataclass(slots=True)
class _Missing:
    backlog: set[int] = field(default_factory=set)
    areas: set[int] = field(default_factory=set)
    releases: set[str] = field(default_factory=set)
    suites: set[int] = field(default_factory=set)
    ci_servers: set[str] = field(default_factory=set)

    def describe(self) -> str:
        parts = []
        if self.backlog:
            parts.append(f"backlog items {_ids(self.backlog)}")
        if self.areas:
            parts.append(f"product areas {_ids(self.areas)}")
        if self.releases:
            parts.append(f"releases {', '.join(sorted(self.releases))}")
        if self.suites:
            parts.append(f"test suites {_ids(self.suites)}")
        if self.ci_servers:
            names = ", ".join(repr(s) for s in sorted(self.ci_servers))
            parts.append(f"CI server (build context server_id) {names}")
        return "; ".join(parts)


def _ids(values: set[int]) -> str:
    return ", ".join(str(v) for v in sorted(values))


def _release(state: SimState, ctx: _Context, missing: _Missing) -> Ref | None:
    if ctx.release_id is not None:
        if state.get("release", ctx.release_id) is None:
            missing.releases.add(str(ctx.release_id))
            return None
        return Ref("release", ctx.release_id)
    if ctx.release_name is None:
        return None
    wanted = ctx.release_name
    for release in state.all("release"):
        if release.fields.get("name") == wanted or (
            wanted == _DEFAULT_RELEASE and release.extra.get("default")
        ):
            return Ref("release", release.id)
    missing.releases.add(repr(wanted))
    return None


def _suite(state: SimState, ctx: _Context, missing: _Missing) -> tuple[int, str] | None:
    if ctx.suite is None:
        return None
    suite = state.get("test", ctx.suite[0])
    if suite is None or suite.fields.get("subtype") != "test_suite":
        missing.suites.add(ctx.suite[0])
        return None
    return ctx.suite


#: status -> its two list-node references (shared: a Ref is immutable)
_STATUS_REFS: dict[str, dict[str, Ref]] = {}


def _status_refs(status: str) -> dict[str, Ref]:
    refs = _STATUS_REFS.get(status)
    if refs is None:
        low = status.lower()
        refs = _STATUS_REFS[status] = {
            "status": Ref("list_node", f"list_node.run_status.{low}", status),
            "native_status": Ref("list_node", f"list_node.run_native_status.{low}", status),
        }
    return refs


@functools.lru_cache(maxsize=1024)
def _iso_second(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def _iso(epoch_ms: int) -> str:
    seconds, millis = divmod(epoch_ms, 1000)
    return f"{_iso_second(seconds)}.{millis:03d}Z"


#: the elements that give a run a context of its own (else it shares the document's)
_CONTEXT_TAGS = frozenset(
    (
        "suite_ref",
        "release_ref",
        "release",
        "milestone_ref",
        "program_ref",
        "backlog_items",
        "product_areas",
        "test_fields",
        "environment",
    )
)


@dataclass(slots=True)
class _PlannedRun:
    """A run's element and its context, resolved against the state."""

    element: etree._Element
    ctx: _Context
    release: Ref | None
    suite: tuple[int, str] | None
    backlog: tuple[Ref, ...]
    areas: tuple[Ref, ...]
    test_fields: tuple[tuple[str, Ref], ...]


def _resolved(
    state: SimState, element: etree._Element, ctx: _Context, missing: _Missing
) -> _PlannedRun:
    missing.backlog.update(b for b in ctx.backlog if state.get("work_item", b) is None)
    missing.areas.update(a for a in ctx.areas if state.get("application_module", a) is None)
    return _PlannedRun(
        element,
        ctx,
        _release(state, ctx, missing),
        _suite(state, ctx, missing),
        tuple(Ref("work_item", b) for b in ctx.backlog if state.get("work_item", b)),
        tuple(
            Ref("application_module", a) for a in ctx.areas if state.get("application_module", a)
        ),
        tuple(
            (kind.lower(), Ref("list_node", f"list_node.{kind.lower()}.{value}", value))
            for kind, value in ctx.test_fields.items()
        ),
    )


def _plan(state: SimState, root: etree._Element) -> tuple[list[_PlannedRun], _Missing, Any]:
    missing = _Missing()
    top = _Context()
    top.read(root)
    runs: list[_PlannedRun] = []
    test_runs = root.find("test_runs")
    kinds = ("test_run", "gherkin_test_run")
    elements = [] if test_runs is None else [e for e in test_runs if e.tag in kinds]
    shared: _PlannedRun | None = None  # the document's context, resolved once for its runs
    # a run's own context, resolved once per distinct one: the runs of a module share their
    # story and module references (the uploader writes them on each run)
    own_contexts: dict[tuple[Any, ...], _PlannedRun] = {}
    for element in elements:
        own = tuple(
            (child.tag, tuple(child.items()), tuple(tuple(ref.items()) for ref in child))
            for child in element
            if child.tag in _CONTEXT_TAGS
        )
        if own:
            known = own_contexts.get(own)
            if known is None:
                ctx = top.child()
                ctx.read(element)
                own_contexts[own] = known = _resolved(state, element, ctx, missing)
                runs.append(known)
                continue
        else:
            if shared is None:
                shared = _resolved(state, element, top, missing)
            known = shared
        runs.append(
            _PlannedRun(
                element,
                known.ctx,
                known.release,
                known.suite,
                known.backlog,
                known.areas,
                known.test_fields,
            )
        )
    build = root.find("build")
    if build is not None:
        # the build context refers to a ci_server by its instance_id (API-FACTS 1e: never send
        # <build> for a server Octane does not know); skip-errors drops the build context
        server_id = build.get("server_id") or ""
        if not any(c.fields.get("instance_id") == server_id for c in state.all("ci_server")):
            missing.ci_servers.add(server_id)
            build = None
    return runs, missing, build


def _test_for(state: SimState, element: etree._Element) -> Entity:
    identity = (
        element.get("module") or "",
        element.get("package") or "",
        element.get("class") or "",
        str(element.get("name")),
    )
    known = state.tests_by_identity.get(identity)
    if known is not None:
        return state.entities["test"][known]
    test = state.add_entity(
        "test",
        {
            "subtype": "test_automated",
            "name": identity[3],
            "description": None,
            "package": identity[1] or None,
            "class_name": identity[2] or None,
            "component": identity[0] or None,
            "covered_content": (),
            "product_areas": (),
        },
    )
    state.index_test(test)
    return test


def _suite_run(state: SimState, suite: tuple[int, str]) -> int:
    existing = state.suite_runs.get(suite)
    if existing is not None:
        return existing
    suite_test = state.get("test", suite[0])
    name = suite[1] or str(suite_test.fields.get("name") if suite_test else suite[0])
    entity = state.add_entity(
        "run",
        {
            "subtype": "run_suite",
            "name": name,
            "description": None,
            "test": Ref("test", suite[0]),
            "parent_suite": None,
            "release": None,
            "covered_content": (),
            "product_areas": (),
            "external_run_id": suite[1] or None,
        },
    )
    state.suite_runs[suite] = entity.id
    return entity.id


def _store_run(state: SimState, task: Task, plan: _PlannedRun, build: Any) -> None:
    element = plan.element
    ctx = plan.ctx
    backlog, areas = plan.backlog, plan.areas
    if element.tag == "gherkin_test_run":
        _store_gherkin(state, task, plan, build, backlog, areas)
        return
    test = _test_for(state, element)
    fields = test.fields
    if backlog:
        covered = fields["covered_content"]
        fields["covered_content"] = covered + tuple(r for r in backlog if r not in covered)
    if areas:
        known = fields["product_areas"]
        fields["product_areas"] = known + tuple(r for r in areas if r not in known)
    for name, ref in plan.test_fields:
        fields[name] = ref
    build_context = None if build is None else {k: str(v) for k, v in build.attrib.items()}
    started = element.get("started")
    error = description = None
    if len(element):  # most runs have no child element: no search
        error = element.find("error")
        description = element.find("description")
    status = str(element.get("status"))
    run = state.add_entity(
        "run",
        {
            "subtype": "run_automated",
            "name": element.get("run_name") or str(element.get("name")),
            "description": description.text if description is not None else None,
            **_status_refs(status),
            "started": _iso(int(started)) if started else None,
            "duration": int(str(element.get("duration"))),
            "external_run_id": element.get("external_run_id"),
            "test": Ref("test", test.id),
            "parent_suite": Ref("run", _suite_run(state, plan.suite)) if plan.suite else None,
            "release": plan.release,
            "covered_content": backlog,
            "product_areas": areas,
            "build_context": build_context,
            "taxonomies": list(ctx.taxonomies) or None,
            "external_report_url": element.get("external_report_url"),
        },
    )
    run.extra.update(
        task_id=task.id,
        started_ms=int(started) if started else None,
        error=None
        if error is None
        else {
            "type": error.get("type"),
            "message": error.get("message"),
            "trace": error.text or "",
        },
        test_fields=dict(ctx.test_fields),
        milestone_id=ctx.milestone_id,
        program_id=ctx.program_id,
    )
    task.run_ids.append(run.id)
    state.counters.runs_stored += 1
    if build_context is not None:
        key = (
            *test.extra["identity"],
            build_context.get("server_id", ""),
            build_context.get("job_id", ""),
            build_context.get("build_id", ""),
        )
        if key in state.run_keys:
            state.counters.duplicate_runs += 1
        state.run_keys.add(key)


def _store_gherkin(
    state: SimState,
    task: Task,
    plan: _PlannedRun,
    build: Any,
    backlog: tuple[Ref, ...],
    areas: tuple[Ref, ...],
) -> None:
    element = plan.element
    feature = element.find("feature")
    started = feature.get("started") if feature is not None else None
    fields = {
        "description": None,
        **_status_refs(str(element.get("status"))),
        "started": _iso(int(started)) if started else None,
        "duration": int(str(element.get("duration"))),
        "external_run_id": element.get("external_run_id"),
        "parent_suite": Ref("run", _suite_run(state, plan.suite)) if plan.suite else None,
        "release": plan.release,
        "covered_content": backlog,
        "product_areas": areas,
        "build_context": None if build is None else {k: str(v) for k, v in build.attrib.items()},
        "taxonomies": list(plan.ctx.taxonomies) or None,
    }
    store_gherkin_run(state, task, element, fields, backlog)


def ingest(state: SimState, task: Task) -> tuple[str, str | None]:
    """Process one task (caller holds the lock); return (final status, errorDetails)."""
    try:
        root = parse(task.payload)
    except InputError as exc:
        return "failed", str(exc)
    plans, missing, build = _plan(state, root)
    problem = missing.describe()
    if problem and not task.skip_errors:
        return "failed", (
            f"Test results reference entities that do not exist: {problem}. "
            "Nothing was stored; fix the ids or upload with skip-errors=true."
        )
    for plan in plans:
        _store_run(state, task, plan, build)
    if problem:
        return "warning", (
            f"Skipped references to entities that do not exist: {problem}. "
            f"{len(plans)} runs were stored without them."
        )
    return "success", None
