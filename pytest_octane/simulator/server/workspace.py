"""The Simulator's Python API over its fake workspace: addresses, seeding and inspection."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

from pytest_octane.simulator.entity_writes import add_application_module
from pytest_octane.simulator.faults import Faults
from pytest_octane.simulator.gherkin import gherkin_run_summary
from pytest_octane.simulator.query import Ref
from pytest_octane.simulator.state import (
    ACTIVE_STATES,
    Entity,
    RequestRecord,
    SimState,
)

__all__ = ["WorkspaceView"]


class WorkspaceView:
    """Mixed into :class:`Simulator`: reads and seeds its state under the state lock."""

    _state: SimState
    _host: str
    _port: int | None
    _ssl_context: ssl.SSLContext | None
    _system_root: int
    faults: Faults
    internal_errors: list[str]

    # ------------------------------------------------------------ addresses

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the simulator is not started; call start() or use `with`")
        return self._port

    @property
    def url(self) -> str:
        """Server root, e.g. ``http://127.0.0.1:PORT``."""
        scheme = "https" if self._ssl_context is not None else "http"
        return f"{scheme}://{self._host}:{self.port}"

    @property
    def api_url(self) -> str:
        return self.url + self._state.config.api_prefix

    @property
    def space_id(self) -> int:
        return self._state.config.space_id

    @property
    def workspace_id(self) -> int:
        return self._state.config.workspace_id

    @property
    def client_id(self) -> str:
        return self._state.config.client_id

    @property
    def client_secret(self) -> str:
        return self._state.config.client_secret

    @property
    def jira_field(self) -> str:
        return self._state.config.jira_field

    # ------------------------------------------------------------ seeding

    def add_story(self, key: str, *, id: int | None = None, name: str | None = None) -> int:
        """Add a story with JIRA key ``key``; return its id."""
        with self._state.lock:
            fields = {
                "subtype": "story",
                "name": name or f"Story {key}",
                "description": None,
                self._state.config.jira_field: key,
            }
            return self._state.add_entity("work_item", fields, id_=id).id

    @property
    def system_root_id(self) -> int:
        """The workspace's system root module (``logical_name`` product_area.root)."""
        return self._system_root

    def add_application_module(self, name: str, parent_id: int | None = None) -> int:
        """Add an application module (duplicates allowed, and counted, as in Octane).

        ``parent_id=None`` seeds a parentless module, as old workspaces may hold; pass
        ``system_root_id`` for a top-level module as Octane makes it today.
        """
        with self._state.lock:
            if parent_id is not None and self._state.get("application_module", parent_id) is None:
                raise ValueError(f"parent application module {parent_id} does not exist")
            return add_application_module(self._state, name, parent_id).id

    def add_test_suite(self, name: str, *, product_area_id: int | None = None) -> int:
        """Add a test (subtype test_suite), optionally under an application module."""
        with self._state.lock:
            areas: tuple[Ref, ...] = ()
            if product_area_id is not None:
                if self._state.get("application_module", product_area_id) is None:
                    raise ValueError(f"application module {product_area_id} does not exist")
                areas = (Ref("application_module", product_area_id),)
            fields = {
                "subtype": "test_suite",
                "name": name,
                "description": None,
                "covered_content": (),
                "product_areas": areas,
            }
            return self._state.add_entity("test", fields).id

    def add_ci_server(
        self, instance_id: str, *, url: str = "https://ci.example", server_type: str = "jenkins"
    ) -> int:
        """Register a CI server (``ci_servers``), as OpenText's pipeline flow does first."""
        with self._state.lock:
            fields = {
                "name": instance_id[:255],
                "instance_id": instance_id,
                "server_type": server_type,
                "url": url,
            }
            return self._state.add_entity("ci_server", fields).id

    def ci_servers(self) -> list[dict[str, Any]]:
        with self._state.lock:
            return [dict(c.fields) for c in self._state.all("ci_server")]

    def attachments(self) -> list[dict[str, Any]]:
        """Stored attachments with their owner run and bytes."""
        with self._state.lock:
            return [
                {
                    "id": a.id,
                    "name": a.fields.get("name"),
                    "description": a.fields.get("description"),
                    "size": a.fields.get("size"),
                    "run_id": _ref_id(a.fields.get("owner_run")),
                    "content": a.extra.get("content", b""),
                }
                for a in self._state.all("attachment")
            ]

    def add_release(self, name: str, *, id: int | None = None) -> int:
        with self._state.lock:
            return self._state.add_entity("release", {"name": name}, id_=id).id

    # ------------------------------------------------------------ inspection

    @property
    def request_log(self) -> list[RequestRecord]:
        """Requests served so far (control requests excluded); no cookies, bodies or secrets."""
        with self._state.lock:
            return list(self._state.request_log)

    @property
    def counters(self) -> dict[str, Any]:
        with self._state.lock:
            return self._state.counters.as_dict()

    def runs(self) -> list[dict[str, Any]]:
        """Stored automated runs with their test identity, build, links and suite run."""
        return self._runs_of("run_automated", _run_summary)

    def gherkin_runs(self) -> list[dict[str, Any]]:
        """Stored Gherkin runs (one per feature per upload) with their scenarios and steps."""
        return self._runs_of("gherkin_automated_run", gherkin_run_summary)

    def suite_runs(self) -> list[dict[str, Any]]:
        return self._runs_of("run_suite", _suite_run_summary)

    def _runs_of(
        self, subtype: str, summary: Callable[[SimState, Entity], dict[str, Any]]
    ) -> list[dict[str, Any]]:
        with self._state.lock:
            return [
                summary(self._state, r)
                for r in self._state.all("run")
                if r.fields.get("subtype") == subtype
            ]

    def tests(self) -> list[dict[str, Any]]:
        with self._state.lock:
            return [_test_summary(t) for t in self._state.all("test")]

    def application_modules(self) -> list[dict[str, Any]]:
        """Every module but the system root (see ``system_root_id``)."""
        with self._state.lock:
            return [
                {"id": m.id, "name": m.fields["name"], "parent_id": _ref_id(m.fields["parent"])}
                for m in self._state.all("application_module")
                if m.id != self._system_root
            ]

    def stories(self) -> list[dict[str, Any]]:
        field = self._state.config.jira_field
        with self._state.lock:
            return [
                {"id": s.id, "name": s.fields.get("name"), "key": s.fields.get(field)}
                for s in self._state.all("work_item")
            ]

    def tasks(self) -> list[dict[str, Any]]:
        with self._state.lock:
            return [
                {
                    "id": t.id,
                    "status": t.status,
                    "error_details": t.error_details,
                    "skip_errors": t.skip_errors,
                    "run_ids": list(t.run_ids),
                    "repeats": t.repeats,
                }
                for t in sorted(self._state.tasks.values(), key=lambda t: t.id)
            ]

    def wait_for_tasks(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Block until no task is queued or running; return :meth:`tasks`."""
        state = self._state
        with state.changed:
            done = state.changed.wait_for(
                lambda: all(t.status not in ACTIVE_STATES for t in state.tasks.values()),
                timeout,
            )
        if not done:
            raise TimeoutError(
                f"simulator tasks still queued/running after {timeout} s; "
                "lower processing_ms or raise the timeout"
            )
        return self.tasks()

    def snapshot(self) -> dict[str, Any]:
        """Everything the control endpoint's GET /__simulator__/state returns."""
        return {
            "url": self.url,
            "api_url": self.api_url,
            "space_id": self.space_id,
            "workspace_id": self.workspace_id,
            "counters": self.counters,
            "tasks": self.tasks(),
            "runs": self.runs(),
            "suite_runs": self.suite_runs(),
            "tests": self.tests(),
            "application_modules": self.application_modules(),
            "stories": self.stories(),
            "faults": self.faults.pending(),
            "request_log": [
                {
                    "method": r.method,
                    "path": r.path,
                    "query": r.query,
                    "status": r.status,
                    "duration_ms": r.duration_ms,
                    "error_code": r.error_code,
                }
                for r in self.request_log
            ],
            "internal_errors": len(self.internal_errors),
        }


def _ref_id(value: Any) -> int | None:
    return int(value.id) if isinstance(value, Ref) else None


def _ref_ids(value: Any) -> list[int]:
    return [int(r.id) for r in value or ()]


def _run_summary(state: SimState, run: Entity) -> dict[str, Any]:
    fields = run.fields
    test = state.get("test", _ref_id(fields.get("test")) or 0)
    identity = test.extra.get("identity", ("", "", "", "")) if test else ("", "", "", "")
    build = fields.get("build_context")
    status = fields.get("native_status")
    return {
        "id": run.id,
        "test_id": test.id if test else None,
        "module": identity[0],
        "package": identity[1],
        "class": identity[2],
        "name": identity[3],
        "run_name": fields.get("name"),
        "status": status.name if isinstance(status, Ref) else None,
        "duration_ms": fields.get("duration"),
        "started_ms": run.extra.get("started_ms"),
        "build": dict(build) if build else None,
        "covered_content": _ref_ids(fields.get("covered_content")),
        "product_areas": _ref_ids(fields.get("product_areas")),
        "suite_run_id": _ref_id(fields.get("parent_suite")),
        "release_id": _ref_id(fields.get("release")),
        "test_fields": dict(run.extra.get("test_fields", {})),
        "taxonomies": list(fields.get("taxonomies") or []),
        "error": run.extra.get("error"),
        "description": fields.get("description"),
        "external_report_url": fields.get("external_report_url"),
        "attachments": [
            {"id": a.id, "name": a.fields.get("name"), "size": a.fields.get("size")}
            for a in state.all("attachment")
            if _ref_id(a.fields.get("owner_run")) == run.id
        ],
        "task_id": run.extra.get("task_id"),
    }


def _test_summary(test: Entity) -> dict[str, Any]:
    fields = test.fields
    identity = test.extra.get("identity")
    return {
        "id": test.id,
        "subtype": fields.get("subtype"),
        "name": fields.get("name"),
        "module": identity[0] if identity else None,
        "package": identity[1] if identity else None,
        "class": identity[2] if identity else None,
        "covered_content": _ref_ids(fields.get("covered_content")),
        "product_areas": _ref_ids(fields.get("product_areas")),
        "test_fields": {
            name: value.name
            for name in ("framework", "test_level", "test_type", "testing_tool_type")
            if isinstance(value := fields.get(name), Ref)
        },
    }


def _suite_run_summary(state: SimState, suite_run: Entity) -> dict[str, Any]:
    return {
        "id": suite_run.id,
        "name": suite_run.fields.get("name"),
        "suite_id": _ref_id(suite_run.fields.get("test")),
        "run_ids": [
            run.id
            for run in state.all("run")
            if _ref_id(run.fields.get("parent_suite")) == suite_run.id
        ],
    }
