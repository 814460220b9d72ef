"""Everything the simulator remembers, in memory, behind one lock.

Entities, upload tasks, sessions, counters and the request log live on :class:`SimState`.
Callers take ``state.lock`` (re-entrant) around every read-modify-write; ``state.changed`` is a
condition on the same lock that the task worker and ``wait_for_tasks`` wait on.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pytest_octane.simulator.query import Ref

__all__ = [
    "ENTITY_TYPES",
    "Counters",
    "Entity",
    "RequestRecord",
    "Session",
    "SimConfig",
    "SimState",
    "Task",
]

#: Entity types and the first id handed out for each (ids are per type, as in Octane).
ENTITY_TYPES: dict[str, int] = {
    "release": 101,
    "work_item": 2001,
    "application_module": 3001,
    "test": 4001,
    "run": 7001,
    "ci_server": 1001,
    "attachment": 50001,
}

IDLE_CODE = "VALIDATION_TOKEN_EXPIRED_IDLE_TIME_OUT"
GLOBAL_CODE = "VALIDATION_TOKEN_EXPIRED_GLOBAL_TIME_OUT"
MISSING_CODE = "NOT_AUTHENTICATED"

ACTIVE_STATES = ("queued", "running")


@dataclass(frozen=True, slots=True, kw_only=True)
class SimConfig:
    """Constructor settings that never change while the simulator runs."""

    space_id: int
    workspace_id: int
    client_id: str
    client_secret: str = field(repr=False)
    user: str
    password: str = field(repr=False)
    jira_field: str
    queue_limit: int
    processing_ms: int
    idle_timeout_s: float | None
    max_page_size: int
    default_limit: int
    rotate_cookie_every: int
    dedup_status: int

    @property
    def api_prefix(self) -> str:
        return f"/api/shared_spaces/{self.space_id}/workspaces/{self.workspace_id}"


@dataclass(slots=True)
class Entity:
    """One stored entity: REST field name -> value (``Ref`` / tuple of ``Ref`` for references)."""

    type: str
    id: int
    fields: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)  # simulator-only data (not REST)


@dataclass(slots=True)
class Task:
    """One test-results upload as Octane's task queue sees it."""

    id: int
    digest: str
    payload: bytes
    skip_errors: bool
    created: float
    updated: float
    status: str = "queued"
    error_details: str | None = None
    run_ids: list[int] = field(default_factory=list)
    repeats: int = 0  # identical re-posts answered with fromOlderPush

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            # GUESS: "until" = how long Octane keeps the task's status (last change + 1 day).
            "until": time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(self.updated + 86400)),
        }
        if self.error_details:
            data["errorDetails"] = self.error_details
        return data


@dataclass(slots=True)
class Session:
    principal: str
    token: str
    last_used: float
    requests: int = 0


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as the simulator saw it; never cookies, bodies or credentials."""

    time: float
    method: str
    path: str
    query: str
    status: int | None  # None: the connection was reset on purpose
    duration_ms: int
    error_code: str | None = None


@dataclass(slots=True)
class Counters:
    max_in_flight: int = 0
    runs_stored: int = 0
    duplicate_runs: int = 0
    duplicate_application_modules: int = 0
    queue_full_rejections: int = 0
    from_older_push: int = 0
    sign_ins: int = 0
    failed_sign_ins: int = 0
    sign_outs: int = 0
    unauthorized: int = 0
    cookie_rotations: int = 0
    stale_cookie_requests: int = 0
    internal_errors: int = 0
    forgotten_tasks: int = 0
    requests_per_endpoint: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["requests_per_endpoint"] = dict(self.requests_per_endpoint)
        return data


class SimState:
    """The simulator's memory; see the module docstring for the locking rule."""

    def __init__(self, config: SimConfig, *, seed: int | None, clock: Callable[[], float]) -> None:
        self.config = config
        self.clock = clock
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.rng = random.Random(seed) if seed is not None else random.SystemRandom()
        self.entities: dict[str, dict[int, Entity]] = {name: {} for name in ENTITY_TYPES}
        self.next_ids = dict(ENTITY_TYPES)
        self.tasks: dict[int, Task] = {}
        self.task_by_digest: dict[str, int] = {}
        self.next_task_id = 1
        self.sessions: dict[str, Session] = {}
        self.expired: dict[str, str] = {}
        self.counters = Counters()
        self.request_log: list[RequestRecord] = []
        self.suite_runs: dict[tuple[int, str], int] = {}
        self.run_keys: set[tuple[str, ...]] = set()
        self.tests_by_identity: dict[tuple[str, str, str, str], int] = {}
        self.gherkin_tests: dict[str, int] = {}  # feature path -> gherkin_test id
        #: 403 on every DELETE, as for an API key whose role may not delete (a CI key)
        self.forbid_delete = False

    # ------------------------------------------------------------ entities

    def add_entity(self, type_: str, fields: dict[str, Any], *, id_: int | None = None) -> Entity:
        table = self.entities[type_]
        if id_ is None:
            id_ = self.next_ids[type_]
        if id_ in table:
            raise ValueError(f"{type_} id {id_} already exists; pick another id")
        self.next_ids[type_] = max(self.next_ids[type_], id_ + 1)
        entity = Entity(type=type_, id=id_, fields={"id": id_, **fields})
        table[id_] = entity
        return entity

    def get(self, type_: str, id_: int) -> Entity | None:
        return self.entities[type_].get(id_)

    def all(self, type_: str) -> Iterator[Entity]:
        return iter(sorted(self.entities[type_].values(), key=lambda e: e.id))

    def index_test(self, test: Entity) -> tuple[str, str, str, str] | None:
        """(Re)register an automated test under its identity (module, package, class, name)."""
        old = test.extra.pop("identity", None)
        if old is not None and self.tests_by_identity.get(old) == test.id:
            del self.tests_by_identity[old]
        if test.fields.get("subtype") != "test_automated":
            return None
        fields = test.fields
        identity = (
            str(fields.get("component") or ""),
            str(fields.get("package") or ""),
            str(fields.get("class_name") or ""),
            str(fields.get("name") or ""),
        )
        test.extra["identity"] = identity
        self.tests_by_identity.setdefault(identity, test.id)
        return identity

    def resolve(self, ref: Ref) -> dict[str, Any] | None:
        """The fields a cross filter sees behind a reference."""
        if ref.type == "list_node":
            return {"id": ref.id, "name": ref.name}
        if not isinstance(ref.id, int) or ref.type not in self.entities:
            return None
        entity = self.entities[ref.type].get(ref.id)
        return entity.fields if entity else None

    # ------------------------------------------------------------ tasks

    def in_flight(self) -> int:
        return sum(1 for t in self.tasks.values() if t.status in ACTIVE_STATES)

    def new_task(self, digest: str, payload: bytes, skip_errors: bool) -> Task:
        now = time.time()
        task = Task(
            id=self.next_task_id,
            digest=digest,
            payload=payload,
            skip_errors=skip_errors,
            created=now,
            updated=now,
        )
        self.next_task_id += 1
        self.tasks[task.id] = task
        self.task_by_digest[digest] = task.id
        self.counters.max_in_flight = max(self.counters.max_in_flight, self.in_flight())
        self.changed.notify_all()
        return task

    def forget_unfinished_tasks(self) -> int:
        """A restart: tasks still queued or running are lost unprocessed, with their
        payloads' de-duplication; finished tasks, runs and entities stay (Octane's database).
        Returns how many were forgotten."""
        lost = [t for t in self.tasks.values() if t.status in ACTIVE_STATES]
        for task in lost:
            del self.tasks[task.id]
            if self.task_by_digest.get(task.digest) == task.id:
                del self.task_by_digest[task.digest]
        self.counters.forgotten_tasks += len(lost)
        self.changed.notify_all()
        return len(lost)

    def set_task_status(self, task: Task, status: str, details: str | None = None) -> None:
        task.status = status
        task.error_details = details
        task.updated = time.time()
        if status not in ACTIVE_STATES:
            task.payload = b""  # processed: the bytes are no longer needed
        self.changed.notify_all()

    # ------------------------------------------------------------ sessions

    def new_token(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def sign_in(self, principal: str) -> Session:
        session = Session(principal=principal, token=self.new_token(), last_used=self.clock())
        self.sessions[session.token] = session
        self.counters.sign_ins += 1
        return session

    def sign_out(self, token: str | None) -> None:
        session = self.sessions.get(token or "")
        if session is None:
            return
        for key in [k for k, s in self.sessions.items() if s is session]:
            del self.sessions[key]
        self.counters.sign_outs += 1

    def expire_all(self, code: str = GLOBAL_CODE) -> int:
        """Expire every session now; later use of their cookies answers 401 with ``code``."""
        count = len({id(s) for s in self.sessions.values()})
        for token in self.sessions:
            self.expired[token] = code
        self.sessions.clear()
        return count

    def authenticate(self, token: str | None) -> tuple[Session | None, str | None, str | None]:
        """Return (session, error code, new token to set) for one /api request."""
        if not token:
            return None, MISSING_CODE, None
        if token in self.expired:
            return None, self.expired[token], None
        session = self.sessions.get(token)
        if session is None:
            return None, MISSING_CODE, None
        now = self.clock()
        idle = self.config.idle_timeout_s
        if idle is not None and now - session.last_used > idle:
            for key in [k for k, s in self.sessions.items() if s is session]:
                del self.sessions[key]
                self.expired[key] = IDLE_CODE
            return None, IDLE_CODE, None
        session.last_used = now
        session.requests += 1
        if token != session.token:
            self.counters.stale_cookie_requests += 1
        every = self.config.rotate_cookie_every
        if every and session.requests % every == 0:
            # GUESS: the old value stays valid (Octane refreshes the token; it does not revoke
            # it). Requests still using it are counted in stale_cookie_requests.
            session.token = self.new_token()
            self.sessions[session.token] = session
            self.counters.cookie_rotations += 1
            return session, None, session.token
        return session, None, None

    # ------------------------------------------------------------ request log

    def record(self, entry: RequestRecord, endpoint: str) -> None:
        self.request_log.append(entry)
        per = self.counters.requests_per_endpoint
        per[endpoint] = per.get(endpoint, 0) + 1
