"""What one job run carries between its steps (JobContext), and the client it talks through."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_octane.errors import StoreError
from pytest_octane.job import coord
from pytest_octane.job.coord import QueueBudget
from pytest_octane.job.events import Progress, UploadState
from pytest_octane.job.interrupt import StopFlag
from pytest_octane.job.module_tree import Guard, ModuleResolver
from pytest_octane.job.outcome import JobOutcome
from pytest_octane.model import RequestLogEntry
from pytest_octane.octane.client import OctaneClient
from pytest_octane.octane.credentials import Credentials, resolve_credentials
from pytest_octane.octane.retry import RetryPolicy
from pytest_octane.settings import Settings, require_connection
from pytest_octane.store import TaskStore

__all__ = [
    "TYPICAL_OF_LAST",
    "CredentialsHook",
    "JobContext",
    "RequestLog",
    "flush_log",
    "guard",
    "make_client",
    "module_resolver",
    "update_slice",
]

log = logging.getLogger(__name__)

#: the typical task time is the median of this many of the job's last tasks
TYPICAL_OF_LAST = 3

CredentialsHook = Callable[[], Credentials | Mapping[str, str] | None]


class RequestLog:
    """Collects request log entries from the client's threads; flushed to the store."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[RequestLogEntry] = []

    def __call__(self, entry: RequestLogEntry) -> None:
        with self._lock:
            self._entries.append(entry)

    def drain(self) -> list[RequestLogEntry]:
        with self._lock:
            entries, self._entries = self._entries, []
        return entries


def make_client(
    settings: Settings,
    *,
    hook: CredentialsHook | None = None,
    on_request: Callable[[RequestLogEntry], None] | None = None,
    environ: Mapping[str, str] | None = None,
    on_wait: Callable[[str, float, str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    credentials: Credentials | None = None,
) -> OctaneClient:
    """The job's client; ``credentials`` when they were resolved elsewhere (the uploader
    process gets them from pytest's), else from the hook, the environment, the file..."""
    server, space, workspace = require_connection(settings)
    if credentials is None:
        credentials = resolve_credentials(
            space,
            path_template=settings.credentials_path,
            environ=os.environ if environ is None else environ,
            hook=hook,
            command=settings.credentials_command,
        )
    return OctaneClient(
        server=server,
        space_id=space,
        workspace_id=workspace,
        credentials=credentials,
        client_type=settings.client_type,
        timeout=(settings.connect_timeout, settings.read_timeout),
        verify=settings.verify_ssl,
        proxies={"http": settings.proxy, "https": settings.proxy} if settings.proxy else None,
        retry=RetryPolicy(
            queue_full_wait_s=settings.queue_full_retry,
            queue_full_deadline_s=settings.queue_full_deadline,
            transient_initial_s=settings.backoff,
            on_wait=on_wait,
            sleep=sleep,
        ),
        on_request=on_request,
        write_batch=settings.write_batch,
        compress=settings.compress,
    )


@dataclass(slots=True)
class JobContext:
    """What one job run carries between its steps (the state of its :class:`JobRun`)."""

    settings: Settings
    store: TaskStore
    client: OctaneClient
    request_log: RequestLog
    outcome: JobOutcome
    progress: Progress
    sleep: Callable[[float], None] = time.sleep
    state: UploadState = field(default_factory=UploadState)
    stop: StopFlag = field(default_factory=StopFlag)
    modules: ModuleResolver | None = None
    #: (suite id, external run id) added to every payload when the job has a suite path
    suite_ref: tuple[int, str] | None = None
    #: story ids per JIRA key looked up so far, every key looked up (found or not), and
    #: the keys of the runs sent (the summary's unmapped keys are among these)
    stories: dict[str, list[int]] = field(default_factory=dict)
    queried_keys: set[str] = field(default_factory=set)
    linked_keys: set[str] = field(default_factory=set)
    #: how long this job's tasks took from upload to final state (seconds)
    task_times: list[float] = field(default_factory=list)
    #: slots shared with every job of this task store and shared space (--octane-queue-budget)
    budget: QueueBudget | None = None
    #: issue 23 (job/evidence/): what this run learnt once per job, e.g. whether Octane knows
    #: the build context's CI server ("build_known")
    evidence: dict[str, Any] = field(default_factory=dict)

    #: pytest waits for the last slices (poll them soon); the tasks polled now share 20 req/s
    ending: bool = False
    polling: set[int] = field(default_factory=set)

    def task_took(self, seconds: float) -> None:
        self.task_times.append(seconds)  # list.append is atomic under the GIL

    def typical_task_s(self) -> float:
        """The median processing time of this job's last few tasks (Octane's load changes
        while a job runs: a slow first slice must not slow every later poll); a quick first
        look before any task finished (an empty or idle Octane processes a slice almost at
        once)."""
        times = sorted(self.task_times[-TYPICAL_OF_LAST:])
        return times[len(times) // 2] if times else 0.05


def module_resolver(ctx: JobContext) -> ModuleResolver:
    if ctx.modules is None:
        ctx.modules = ModuleResolver(ctx.client, ctx.outcome.warnings.append, guard(ctx))
    return ctx.modules


def guard(ctx: JobContext) -> Guard:
    job = ctx.outcome.job
    return coord.creation_guard(ctx.store, job.server, job.space_id, job.workspace_id)


def flush_log(ctx: JobContext) -> None:
    entries = ctx.request_log.drain()
    if entries:
        try:
            ctx.store.append_requests(ctx.outcome.job.job_id, entries)
        except StoreError as exc:
            log.warning("request log not saved: %s", exc)


def update_slice(ctx: JobContext, index: int, **changes: Any) -> None:
    ctx.store.update_slice(ctx.outcome.job.job_id, index, **changes)
