"""The upload job: spool, sign in, map JIRA keys, ensure modules, send slices, poll, record.

With a suite (``--octane-suite``/``--octane-suite-id``) every slice joins one suite run, and
once all slices succeeded the job's runs are linked to their stories (see ``suites``).

Results are on disk and the job is recorded before the first request.  Slices are sent
through a pool of ``maxParallelUploads`` workers; a worker keeps its slot until its task is
processed, so this job never has more tasks in Octane's queue than that.  Every task id is
recorded the moment Octane returns it, so ``pytest-octane resume`` can finish a job whose
process died.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pytest_octane.errors import (
    ConfigError,
    ConnectionFailed,
    CredentialsError,
    InputError,
    OctaneError,
    PollTimeout,
    StoreError,
)
from pytest_octane.job import coord, module_tree, suites
from pytest_octane.job.budget import QueueBudget, pool_name
from pytest_octane.job.interrupt import StopFlag, UploadInterrupted, ctrl_c, wait_all
from pytest_octane.job.overrides import recorded_connection
from pytest_octane.job.spool import SpooledRun, read_spooled_runs, upload_payload, write_spool
from pytest_octane.model import JobRecord, RequestLogEntry, SliceRecord, SliceStatus, TestRun
from pytest_octane.octane.client import OctaneClient, quote_query_value
from pytest_octane.octane.credentials import Credentials, resolve_credentials
from pytest_octane.octane.failures import is_permanent, what_to_fix
from pytest_octane.octane.results_xml import RunRefs, header_from_settings
from pytest_octane.octane.retry import RetryPolicy
from pytest_octane.plugin.progress import UploadState
from pytest_octane.settings import Settings, require_connection
from pytest_octane.store import TaskStore, open_store

log = logging.getLogger("pytest_octane.job.engine")

Progress = Callable[[str], None]
CredentialsHook = Callable[[], Credentials | Mapping[str, str] | None]

#: JIRA keys per story query: keeps URLs short and the query count at ceil(keys / 50).
KEYS_PER_QUERY = 50


def new_job_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:8]


def _now() -> float:
    return time.time()


@dataclass(slots=True)
class JobOutcome:
    """What happened to one job, for the terminal summary and the CLI."""

    job: JobRecord
    store_location: str
    unmapped_keys: list[str] = field(default_factory=list)
    ambiguous_keys: dict[str, list[int]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    #: what the user must change before a retry can work (permanent errors only)
    fix: str | None = None
    elapsed_s: float = 0.0
    #: Ctrl-C stopped the job; every slice's state is recorded, the summary says how to go on
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and self.job.status is SliceStatus.SUCCESS

    def resume_command(self) -> str:
        return self._command("resume")

    def retry_command(self) -> str:
        return self._command("retry")

    def _command(self, verb: str) -> str:
        """A command to paste into a shell; a masked database password cannot be pasted."""
        store = shlex.quote(self.store_location)
        if "***" in self.store_location:
            store = '"$OCTANE_TASK_STORE"  # the store URL with its password'
        return f"pytest-octane {verb} {self.job.job_id} --task-store {store}"

    def ui_link(self) -> str:
        """Octane's web UI for the job's workspace."""
        where = recorded_connection(self.job)
        return f"{where.url.rstrip('/')}/ui/?p={where.space}/{where.workspace}"

    def reason(self) -> str | None:
        """Why the job is not done, in one line: the job's error or the first slice's."""
        if self.error:
            return self.error
        for record in self.job.slices:
            if record.status is not SliceStatus.SUCCESS:
                detail = record.error_details or record.last_error
                if detail:
                    return f"slice {record.index}: {detail}"
        return None

    def next_command(self) -> str:
        """``resume`` while a slice is unfinished (transient trouble), else ``retry``."""
        unfinished = any(s.status is SliceStatus.RUNNING for s in self.job.slices)
        return self.resume_command() if unfinished else self.retry_command()

    def one_line(self) -> str:
        job = self.job
        ok = sum(1 for s in job.slices if s.status is SliceStatus.SUCCESS)
        text = f"job {job.job_id}: {ok}/{len(job.slices)} slices uploaded"
        if self.error or ok < len(job.slices):
            reason = self.reason()
            if reason:
                text += f": {reason}"
            if self.fix:
                text += f"; {self.fix}"
            text += f"; run: {self.next_command()}"
        return text

    def summary_lines(self) -> list[str]:
        job = self.job
        by_status: dict[SliceStatus, list[int]] = {s: [] for s in SliceStatus}
        for record in job.slices:
            by_status[record.status].append(record.index)
        runs = sum(s.run_count for s in job.slices)
        where = recorded_connection(job)
        lines = [
            f"job {job.job_id}: {runs} runs in {len(job.slices)} slice(s) to shared space "
            f"{where.space}, workspace {where.workspace} ({self.elapsed_s:.1f} s)",
            f"slices: {len(by_status[SliceStatus.SUCCESS])} ok, "
            f"{len(by_status[SliceStatus.FAILED])} failed, "
            f"{len(by_status[SliceStatus.RUNNING])} unfinished",
        ]
        lines.append(f"Octane: {self.ui_link()}")
        tasks = [f"{s.index}:{s.task_id}" for s in job.slices if s.task_id is not None]
        if tasks:
            lines.append("task ids (slice:task): " + ", ".join(tasks))
        for state, word in ((SliceStatus.FAILED, "failed"), (SliceStatus.RUNNING, "unfinished")):
            problems: dict[str, list[int]] = {}  # one line per distinct error, not per slice
            for record in job.slices:
                if record.status is state:
                    detail = record.error_details or record.last_error
                    if detail or state is SliceStatus.FAILED:
                        problems.setdefault(detail or "no details", []).append(record.index)
            problems.pop(self.error or "", None)  # said once, on the error line
            for detail, indexes in problems.items():
                which = f"slice {indexes[0]}" if len(indexes) == 1 else f"slices {_ranges(indexes)}"
                lines.append(f"{which} {word}: {detail}")
        if self.unmapped_keys:
            lines.append(
                f"JIRA keys with no Octane story ({len(self.unmapped_keys)}): "
                + ", ".join(self.unmapped_keys)
            )
        for key, ids in sorted(self.ambiguous_keys.items()):
            lines.append(f"JIRA key {key} matches several stories: {ids} (linked to all)")
        lines.extend(self.warnings)
        if self.error:
            lines.append(f"error: {self.error}")
        if self.fix:
            lines.append(f"to fix: {self.fix}")
        if by_status[SliceStatus.RUNNING]:
            lines.append(f"to finish the upload later run: {self.resume_command()}")
        elif by_status[SliceStatus.FAILED]:
            if self.fix:
                lines.append(
                    f"to re-upload the failed slices after the fix run: {self.retry_command()}"
                )
            else:
                lines.append(f"to re-upload the failed slices run: {self.retry_command()}")
        return lines


def _ranges(indexes: Sequence[int]) -> str:
    """``[1, 2, 3, 5]`` -> ``1-3, 5``."""
    parts: list[str] = []
    start = prev = indexes[0]
    for index in [*indexes[1:], None]:
        if index is not None and index == prev + 1:
            prev = index
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if index is not None:
            start = prev = index
    return ", ".join(parts)


class _RequestLog:
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
) -> OctaneClient:
    server, space, workspace = require_connection(settings)
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


# ---------------------------------------------------------------- JIRA keys -> stories


def map_jira_keys(
    client: OctaneClient, field_name: str, keys: Iterable[str]
) -> dict[str, list[int]]:
    """Story ids per JIRA key, queried in batches of ``KEYS_PER_QUERY`` (paging followed)."""
    unique = sorted(set(keys))
    found: dict[str, list[int]] = {}
    for start in range(0, len(unique), KEYS_PER_QUERY):
        batch = unique[start : start + KEYS_PER_QUERY]
        values = ",".join(quote_query_value(key) for key in batch)
        for story in client.iter_entities(
            "stories", query=f"{field_name} IN {values}", fields=["id", field_name]
        ):
            key = str(story.get(field_name) or "").strip()
            if key in batch:
                found.setdefault(key, []).append(int(story["id"]))
    return {key: sorted(ids) for key, ids in found.items()}


# ---------------------------------------------------------------- application modules


class ModuleResolver:
    """Get-or-create application modules by exact name and parent, never leaving duplicates.

    ``parent=None`` means a top-level module: directly under the workspace's system root
    (``module_tree.find_system_root``); the system root itself when the name is its own,
    and a seed-era parentless module of that name when one exists.  Uploads in one process
    take turns (``suites.creation_lock``), jobs sharing a task store take its lock
    (``guard``), so neither creates a module twice.  After creating a module it queries again: if
    another uploader created the same module at the same moment, the lowest id wins and the
    loser deletes its own copy, or warns when the API key may not delete.  Modules that
    existed as duplicates before are used (lowest id) and reported, never deleted.
    """

    def __init__(
        self, client: OctaneClient, warn: Callable[[str], None], guard: suites.Guard | None = None
    ) -> None:
        self.client = client
        self.warn = warn
        self.guard = guard  # jobs sharing a task store: its lock (coord.creation_guard)
        self._cache: dict[tuple[str, int | None], int] = {}
        self._root: module_tree.SystemRoot | None = None

    def system_root(self) -> int:
        """The workspace's system root module id (looked up once)."""
        return self._system_root()[0]

    def _system_root(self) -> module_tree.SystemRoot:
        if self._root is None:
            self._root = module_tree.find_system_root(self.client)
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
        with suites.taking_turns(self.client, self.guard):
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
            body = {"name": name, "parent": module_tree.product_area(under)}
            created = int(self.client.create_entities("application_modules", [body])[0]["id"])
            ids = self._find(name, under)
            if created not in ids:
                ids = sorted([*ids, created])
            if ids[0] != created:
                log.info("application module %r created twice at once; using %s", name, ids[0])
                module_tree.drop_duplicate(
                    self.client, "application_modules", "application module", name,
                    created, ids[0], self.warn,
                )  # fmt: skip
        return ids[0]


def module_name_of(run: SpooledRun, mode: str) -> str | None:
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


# ---------------------------------------------------------------- the job


@dataclass(slots=True)
class _Context:
    settings: Settings
    store: TaskStore
    client: OctaneClient
    request_log: _RequestLog
    outcome: JobOutcome
    progress: Progress
    sleep: Callable[[float], None] = time.sleep
    state: UploadState = field(default_factory=UploadState)
    stop: StopFlag = field(default_factory=StopFlag)
    modules: ModuleResolver | None = None
    #: (suite id, external run id) added to every payload when the job has a suite path
    suite_ref: tuple[int, str] | None = None
    #: story ids per JIRA key looked up so far, and every key looked up (found or not)
    stories: dict[str, list[int]] = field(default_factory=dict)
    queried_keys: set[str] = field(default_factory=set)
    #: how long this job's tasks took from upload to final state (seconds)
    task_times: list[float] = field(default_factory=list)
    #: slots shared with every job of this task store and shared space (--octane-queue-budget)
    budget: QueueBudget | None = None

    def task_took(self, seconds: float) -> None:
        self.task_times.append(seconds)  # list.append is atomic under the GIL

    def typical_task_s(self) -> float:
        """The median processing time seen so far in this job; a quick first look before any
        task finished (an empty or idle Octane processes a slice almost at once)."""
        times = sorted(self.task_times)
        return times[len(times) // 2] if times else 0.05


def prepare_job(
    settings: Settings,
    runs: Sequence[TestRun],
    store: TaskStore,
    *,
    spool_root: Path | None = None,
    job_id: str | None = None,
) -> JobRecord:
    """Write the spool and record the job, before any network request."""
    server, space, workspace = require_connection(settings)
    job_id = job_id or new_job_id()
    folder = (spool_root or Path(settings.spool_dir)) / job_id
    recorded = settings.summary()
    header_settings = settings
    if settings.suite or settings.suite_id is not None:
        # one suite run per job: every slice (and any later retry) carries the same run id
        run_id = suites.external_run_id_for(settings, job_id)
        recorded["external_run_id"] = run_id
        header_settings = replace(header_settings, external_run_id=run_id)
    try:
        files = write_spool(
            folder,
            header_from_settings(header_settings),
            runs,
            slice_size=settings.slice_size,
            max_trace=settings.max_trace,
        )
    except OSError as exc:
        raise StoreError(
            f"cannot write the spool folder {str(folder)!r} ({exc.strerror or exc}); "
            "set --octane-spool-dir to a writable folder"
        ) from None
    now = _now()
    job = JobRecord(
        job_id=job_id,
        space_id=space,
        workspace_id=workspace,
        server=server,
        created_at=now,
        build={k: v for k, v in _build_dict(settings).items() if v},
        settings=recorded,
        slices=tuple(
            SliceRecord(
                index=f.index,
                path=str(f.path.resolve()),
                run_count=f.run_count,
                created_at=now,
                updated_at=now,
            )
            for f in files
        ),
    )
    store.create_job(job)
    return job


def _build_dict(settings: Settings) -> dict[str, str | None]:
    return {
        "server_id": settings.build_server_id,
        "job_id": settings.build_job_id,
        "build_id": settings.build_id,
        "job_name": settings.build_job_name,
        "build_name": settings.build_name,
    }


def _resolver(ctx: _Context) -> ModuleResolver:
    if ctx.modules is None:
        ctx.modules = ModuleResolver(ctx.client, ctx.outcome.warnings.append, _guard(ctx))
    return ctx.modules


def _guard(ctx: _Context) -> suites.Guard:
    job = ctx.outcome.job
    return coord.creation_guard(ctx.store, job.server, job.space_id, job.workspace_id)


def _story_ids(ctx: _Context, keys: Iterable[str]) -> dict[str, list[int]]:
    """Story ids of ``keys``, querying only keys not looked up before in this job run."""
    keys = set(keys)
    new = keys - ctx.queried_keys
    if new:
        ctx.stories.update(map_jira_keys(ctx.client, ctx.settings.jira_field, new))
        ctx.queried_keys |= new
        found = set(ctx.stories) & ctx.queried_keys
        ctx.outcome.unmapped_keys = sorted(ctx.queried_keys - found)
        ctx.outcome.ambiguous_keys = {k: v for k, v in ctx.stories.items() if len(v) > 1}
        ctx.progress(f"mapped {len(found)} of {len(ctx.queried_keys)} JIRA keys to Octane stories")
    return {key: ctx.stories[key] for key in keys if key in ctx.stories}


def _resolve_suite(ctx: _Context) -> None:
    """Find or create the job's suite (once per job: the id goes into its history)."""
    job = ctx.outcome.job
    plan = suites.JobSuite.of(job)
    if plan is None or plan.path is None:
        return  # no suite, or an explicit suite id already in the spooled header
    suite_id = suites.recorded_suite_id(job)
    if suite_id is None:
        suite_id, module_ids = suites.resolve_suite(
            ctx.client,
            _resolver(ctx).ensure,
            plan.root_module,
            plan.path,
            ctx.outcome.warnings.append,
            system_root=_resolver(ctx).system_root,
            guard=_guard(ctx),
        )
        ctx.store.add_history(
            job.job_id,
            {
                "time": _now(),
                "event": suites.SUITE_EVENT,
                "path": plan.path,
                "suite_id": suite_id,
                "module_ids": module_ids,
                "external_run_id": plan.external_run_id,
            },
        )
        ctx.progress(f"suite {plan.path!r}: test suite {suite_id}, run {plan.external_run_id!r}")
    ctx.suite_ref = (suite_id, plan.external_run_id)


def _references(
    ctx: _Context, runs_by_slice: Mapping[int, list[SpooledRun]]
) -> dict[int, list[RunRefs]]:
    """Look up story ids and module ids for every run of the slices to send."""
    settings = ctx.settings
    all_runs = [run for runs in runs_by_slice.values() for run in runs]
    plan = suites.JobSuite.of(ctx.outcome.job)
    # job-level keys are looked up now too (one query), but linked only to runs, afterwards
    keys = {key for run in all_runs for key in run.jira_keys} | set(plan.jira_keys if plan else ())
    stories = _story_ids(ctx, keys) if keys else {}
    modules: dict[str, int] = {}
    if settings.root_module and settings.module_mode != "off":
        resolver = _resolver(ctx)
        root = resolver.ensure(settings.root_module, None)
        for name in sorted(
            {n for run in all_runs if (n := module_name_of(run, settings.module_mode))}
        ):
            modules[name] = resolver.ensure(name, root)
    refs: dict[int, list[RunRefs]] = {}
    for index, runs in runs_by_slice.items():
        refs[index] = []
        for run in runs:
            story_ids = sorted({i for key in run.jira_keys for i in stories.get(key, [])})
            module = module_name_of(run, settings.module_mode) if modules else None
            refs[index].append(
                RunRefs(
                    backlog_item_ids=tuple(story_ids),
                    product_area_ids=(modules[module],) if module in modules else (),
                )
            )
    return refs


def _flush_log(ctx: _Context) -> None:
    entries = ctx.request_log.drain()
    if entries:
        try:
            ctx.store.append_requests(ctx.outcome.job.job_id, entries)
        except StoreError as exc:
            log.warning("request log not saved: %s", exc)


def _update(ctx: _Context, index: int, **changes: Any) -> None:
    ctx.store.update_slice(ctx.outcome.job.job_id, index, **changes)


def _poll(ctx: _Context, index: int, task_id: int, *, fresh: bool) -> tuple[str, str | None]:
    """Poll one task until it is final.

    A worker keeps its upload slot until its task is final, so a late poll delays the next
    upload: a fresh task is first polled after the job's typical processing time, then
    every 10 % of the time waited so far, never more often than P/20 s (Octane asks for at
    most 20 requests a second) and never less often than every 10 s.
    """
    started = time.monotonic()
    deadline = started + ctx.settings.poll_timeout
    floor = max(ctx.settings.max_parallel / 20.0, 0.05)
    if fresh:
        ctx.sleep(ctx.typical_task_s())
    while True:
        state = ctx.client.get_task(task_id)
        if state.is_final:
            if fresh:
                ctx.task_took(time.monotonic() - started)
            return state.status.strip().lower(), state.error_details
        interval = min(max(floor, 0.1 * (time.monotonic() - started)), 10.0)
        if time.monotonic() + interval > deadline:
            raise PollTimeout(
                f"task {task_id} of slice {index} is still {state.status.strip()!r} after "
                f"{ctx.settings.poll_timeout:.0f} s; run 'pytest-octane resume' later",
                task_id=task_id,
            )
        ctx.sleep(interval)


def _payload(ctx: _Context, path: Path, refs: list[RunRefs], attempt: int) -> bytes:
    payload = upload_payload(path, refs, attempt=attempt)
    if ctx.suite_ref is not None:
        payload = suites.with_suite_ref(payload, *ctx.suite_ref)
    return payload


def _next_attempt(record: SliceRecord) -> int:
    """Which payload to send: the bytes sent last time, unless their task is known to have failed.

    Re-sending the last bytes is safe (Octane answers with the task it already has) and is
    the only way to learn of a slice whose answer was lost; after a known failure, Octane
    would hand back that failed task, so the attempt number changes the bytes.
    """
    if record.attempts == 0:
        return 1
    if (record.server_status or "").strip().lower() == "failed":
        return record.attempts + 1
    return record.attempts


def _adopt_recorded_task(ctx: _Context, record: SliceRecord) -> tuple[bool, str] | None:
    """A Failed slice whose task outcome is unknown: ask Octane before sending it again."""
    if record.task_id is None or record.server_status is not None:
        return None
    try:
        ok, detail = _finish_task(ctx, record.index, record.task_id)
    except UploadInterrupted:
        raise
    except OctaneError:
        return None  # still unknown: re-sending the same bytes finds the task if it exists
    return (ok, detail) if ok else None


def _send_slice(ctx: _Context, index: int, refs: list[RunRefs], attempt: int) -> None:
    job = ctx.outcome.job
    record = job.slice(index)
    ctx.state.slice_begins()
    ok, detail = False, "not sent"
    try:
        ctx.stop.check()
        adopted = _adopt_recorded_task(ctx, record) if record.status is SliceStatus.FAILED else None
        if adopted is not None:
            ok, detail = adopted
            return
        if record.status is SliceStatus.FAILED:
            attempt = _next_attempt(ctx.store.get_job(job.job_id).slice(index))
        ctx.stop.check()
        payload = _payload(ctx, Path(record.path), refs, attempt)
        with _queue_slot(ctx, index):
            accepted = ctx.client.post_test_results(
                payload, skip_errors=ctx.settings.skip_errors, label=f"slice {index}"
            )
            if accepted.from_older_push and accepted.status.strip().lower() == "failed":
                # Octane returned an earlier failed task for identical bytes: send a new payload
                payload = _payload(ctx, Path(record.path), refs, attempt + 1)
                attempt += 1
                accepted = ctx.client.post_test_results(
                    payload, skip_errors=ctx.settings.skip_errors, label=f"slice {index}"
                )
            _update(ctx, index, task_id=accepted.id, attempts=attempt, status=SliceStatus.RUNNING)
            ctx.state.slice_sent(index, accepted.id)
            ok, detail = _finish_task(ctx, index, accepted.id, fresh=True)
    except UploadInterrupted:
        # Nothing is decided: a task id (if any) is recorded, 'resume' polls or sends it.
        detail = "interrupted (Ctrl-C)"
    except PollTimeout as exc:
        # Octane has the slice; it is only slow. Keep it Running with its task id so that
        # 'resume' polls it instead of sending it again.
        _update(ctx, index, last_error=str(exc))
        detail = str(exc)
    except OctaneError as exc:
        if is_permanent(exc):
            _update(ctx, index, status=SliceStatus.FAILED, last_error=str(exc), attempts=attempt)
            detail = f"failed: {exc}"
            if ctx.outcome.fix is None:
                job = ctx.outcome.job
                ctx.outcome.fix = what_to_fix(
                    exc,
                    space=ctx.settings.space or job.space_id,
                    workspace=ctx.settings.workspace or job.workspace_id,
                    server=ctx.settings.url or job.server,
                )
        else:
            # transient: leave the slice as it was (unsent slices stay Running), so that
            # 'resume' (or 'retry' for a Failed one) sends it again
            _update(ctx, index, last_error=str(exc), attempts=attempt)
            detail = f"not sent: {exc}"
    finally:
        _flush_log(ctx)
        ctx.state.slice_ends(index, ok, detail)


def _queue_slot(ctx: _Context, index: int) -> AbstractContextManager[None]:
    """One slot of the shared queue budget from before the POST until the task ends."""
    budget = ctx.budget
    if budget is None:
        return contextlib.nullcontext()
    return budget.slot(lambda waiting: ctx.state.slot_wait(index, budget.limit, waiting))


def _finish_task(
    ctx: _Context, index: int, task_id: int, *, fresh: bool = False
) -> tuple[bool, str]:
    """Poll the task to its end and record it; return (succeeded, what happened)."""
    status, details = _poll(ctx, index, task_id, fresh=fresh)
    if status in ("success", "warning"):
        _update(
            ctx,
            index,
            status=SliceStatus.SUCCESS,
            server_status=status,
            error_details=details,
            last_error=None,
        )
        if status == "warning" and details:
            ctx.outcome.warnings.append(f"slice {index}: Octane warned: {details}")
    else:
        _update(
            ctx,
            index,
            status=SliceStatus.FAILED,
            server_status=status,
            error_details=details,
            last_error=f"Octane task {task_id} ended {status!r}",
        )
    ok = status in ("success", "warning")
    return ok, f"task {task_id} {status}" + (f": {details}" if details and not ok else "")


def _run(ctx: _Context, send: Sequence[int], poll: Sequence[int]) -> None:
    """Send slices ``send`` and finish polling slices ``poll`` (which have task ids)."""
    job_id = ctx.outcome.job.job_id
    job = ctx.store.get_job(job_id)
    ctx.outcome.job = job
    ctx.state.started(len(send) + len(poll))
    runs_by_slice = _readable_slices(ctx, send)
    send = [i for i in send if i in runs_by_slice]
    if send:
        _resolve_suite(ctx)
    refs = _references(ctx, runs_by_slice) if send else {}
    ctx.stop.check()
    with ThreadPoolExecutor(
        max_workers=ctx.settings.max_parallel, thread_name_prefix="octane-upload"
    ) as pool:
        futures = [
            pool.submit(_send_slice, ctx, i, refs[i], _next_attempt(job.slice(i))) for i in send
        ]
        for index in poll:
            task_id = job.slice(index).task_id
            assert task_id is not None
            futures.append(pool.submit(_guarded_finish, ctx, index, task_id))
        wait_all(futures, ctx.stop, lambda: ctx.progress(_STOPPING.format(ctx.client.deadline_s)))


def _readable_slices(ctx: _Context, send: Sequence[int]) -> dict[int, list[SpooledRun]]:
    """The spooled runs of each slice to send. A slice whose files cannot be read is marked
    Failed with the reason (naming the file) and left out, so it does not stop the others."""
    readable: dict[int, list[SpooledRun]] = {}
    for index in send:
        try:
            readable[index] = read_spooled_runs(Path(ctx.outcome.job.slice(index).path))
        except InputError as exc:
            reason = {"last_error": str(exc), "error_details": None}  # this, not the last task
            _update(ctx, index, status=SliceStatus.FAILED, **reason)
            ctx.state.slice_begins()
            ctx.state.slice_ends(index, False, f"not sent: {exc}")
    return readable


def _link_runs(ctx: _Context) -> None:
    """After every slice succeeded: link the suite run's runs to the job's stories."""
    job = ctx.store.get_job(ctx.outcome.job.job_id)
    ctx.outcome.job = job
    plan = suites.JobSuite.of(job)
    if plan is None or not plan.links_runs(ctx.settings.update_auto_runs):
        return
    if job.status is not SliceStatus.SUCCESS:
        ctx.progress("runs are linked to their stories once every slice succeeded")
        return
    suite_id = suites.recorded_suite_id(job)
    if suite_id is None:
        _resolve_suite(ctx)
        assert ctx.suite_ref is not None
        suite_id = ctx.suite_ref[0]
    job_stories = _story_ids(ctx, plan.jira_keys)
    test_stories: dict[suites.Identity, set[int]] = {}
    if plan.update_auto_runs or ctx.settings.update_auto_runs:
        spooled = suites.spooled_tests(job)
        stories = _story_ids(ctx, {key for _, keys in spooled for key in keys})
        for identity, keys in spooled:
            ids = {i for key in keys for i in stories.get(key, [])}
            if ids:
                test_stories.setdefault(identity, set()).update(ids)
    try:
        result = suites.link_job_runs(
            ctx.client,
            job,
            suite_id,
            job_stories,
            test_stories,
            batch_size=ctx.settings.slice_size,
            warn=ctx.outcome.warnings.append,
        )
    finally:
        _flush_log(ctx)
    ctx.store.add_history(job.job_id, result.event)
    ctx.progress(result.summary())


def _guarded_finish(ctx: _Context, index: int, task_id: int) -> None:
    ctx.state.slice_begins()
    ok, detail = False, "still unfinished"
    try:
        ok, detail = _finish_task(ctx, index, task_id)
    except OctaneError as exc:
        detail = f"still unfinished: {exc}"
        _update(ctx, index, last_error=str(exc))
    finally:
        _flush_log(ctx)
        ctx.state.slice_ends(index, ok, detail)


def execute_job(
    settings: Settings,
    store: TaskStore,
    job: JobRecord,
    *,
    mode: str = "upload",
    only_slice: int | None = None,
    hook: CredentialsHook | None = None,
    progress: Progress | None = None,
    state: UploadState | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> JobOutcome:
    """Upload (``upload``), finish (``resume``) or re-upload failed slices (``retry``).

    ``progress`` gets free-form lines; ``state`` (optional) is updated as slices move.
    One process at a time per job: under the job's store lock the job is read again, so
    what another process finished meanwhile is not sent twice; a second process stops
    with "job J is being uploaded by pid N on HOST".
    """
    try:
        with coord.job_lock(store, job.job_id):
            return _execute_job(
                settings,
                store,
                store.get_job(job.job_id),
                mode=mode,
                only_slice=only_slice,
                hook=hook,
                progress=progress,
                state=state,
                sleep=sleep,
            )
    except coord.JobBusy as exc:
        outcome = JobOutcome(job=store.get_job(job.job_id), store_location=store.location)
        outcome.error = str(exc)
        return outcome


def _execute_job(
    settings: Settings,
    store: TaskStore,
    job: JobRecord,
    *,
    mode: str,
    only_slice: int | None,
    hook: CredentialsHook | None,
    progress: Progress | None,
    state: UploadState | None,
    sleep: Callable[[float], None],
) -> JobOutcome:
    started = time.monotonic()
    outcome = JobOutcome(job=job, store_location=store.location)
    progress = progress or (lambda line: log.info("%s", line))
    send: list[int] = []
    poll: list[int] = []
    for record in job.slices:
        if only_slice is not None and record.index != only_slice:
            continue
        if record.status is SliceStatus.SUCCESS:
            continue
        if mode == "retry":
            if record.status is SliceStatus.FAILED:
                send.append(record.index)
        elif record.status is SliceStatus.RUNNING:
            (poll if record.task_id is not None else send).append(record.index)
    link_pending = suites.coverage_pending(job, settings.update_auto_runs)
    if not send and not poll and not link_pending:
        outcome.job = store.get_job(job.job_id)
        return outcome
    request_log = _RequestLog()
    state = state or UploadState()
    if not state.has_listeners:
        state.listen(lambda _state, event, notable: progress(event) if notable else None)
    stop = StopFlag()
    try:
        client = make_client(
            settings,
            hook=hook,
            on_request=request_log,
            on_wait=state.waited,
            sleep=stop.sleeper(time.sleep),
        )
    except (ConfigError, CredentialsError) as exc:
        _fail_unfinished(store, outcome, settings, exc, send + poll)
        outcome.elapsed_s = time.monotonic() - started
        return outcome
    ctx = _Context(
        settings, store, client, request_log, outcome, progress, stop.sleeper(sleep), state, stop
    )
    if settings.queue_budget is not None:
        ctx.budget = QueueBudget(
            store,
            pool_name(job.server, job.space_id),
            settings.queue_budget,
            deadline_s=settings.queue_full_deadline,
        )
    if mode != "upload":
        store.add_history(job.job_id, {"time": _now(), "event": mode, "slices": send + poll})
    try:
        with ctrl_c(stop, lambda: _exit_line(outcome)), client:
            _run(ctx, send, poll)
            stop.check()
            try:
                _link_runs(ctx)
            except OctaneError as exc:
                raise OctaneError(
                    f"the runs were uploaded but not linked to their stories: {exc}; "
                    f"run '{outcome.resume_command()}' to link them"
                ) from exc
    except UploadInterrupted:
        outcome.interrupted = True
        outcome.error = (
            "interrupted (Ctrl-C): no more slices were sent; every slice's state is recorded"
        )
    except ConnectionFailed as exc:
        outcome.error = f"{exc} — the results are kept on disk"
    except OctaneError as exc:
        if is_permanent(exc):
            _fail_unfinished(store, outcome, settings, exc, send + poll)
        else:
            outcome.error = str(exc)
    finally:
        _flush_log(ctx)
        if ctx.budget is not None:
            ctx.budget.close()
    job = store.get_job(job.job_id)
    if job.status is not SliceStatus.RUNNING:
        store.finish_job(job.job_id, _now())
        job = store.get_job(job.job_id)
    outcome.job = job
    outcome.elapsed_s = time.monotonic() - started
    return outcome


_STOPPING = (
    "pytest-octane: Ctrl-C: sending no more slices; waiting for the requests in flight "
    "(at most {:g} s each); press Ctrl-C again to stop at once"
)


def _exit_line(outcome: JobOutcome) -> str:
    return (
        "pytest-octane: Ctrl-C again: stopped at once; to finish the upload later run: "
        f"{outcome.resume_command()} (and {outcome.retry_command()} for slices that failed)"
    )


def _fail_unfinished(
    store: TaskStore,
    outcome: JobOutcome,
    settings: Settings,
    exc: OctaneError,
    indexes: Sequence[int],
) -> None:
    """A permanent error: mark this run's unfinished slices Failed and say what to fix.

    A resume would only repeat the error; marked ``Failed``, the slices are re-uploaded by
    ``retry`` once the cause is fixed (a recorded task id is looked up first, never lost).
    """
    job_id = outcome.job.job_id
    outcome.error = str(exc)
    outcome.fix = what_to_fix(
        exc,
        space=settings.space or outcome.job.space_id,
        workspace=settings.workspace or outcome.job.workspace_id,
        server=settings.url or outcome.job.server,
    )
    job = store.get_job(job_id)
    for index in indexes:
        if job.slice(index).status is not SliceStatus.SUCCESS:
            store.update_slice(job_id, index, status=SliceStatus.FAILED, last_error=str(exc))
    job = store.get_job(job_id)
    if job.status is not SliceStatus.RUNNING:
        store.finish_job(job_id, _now())
    outcome.job = store.get_job(job_id)


def upload_session(
    settings: Settings,
    runs: Sequence[TestRun],
    *,
    hook: CredentialsHook | None = None,
    progress: Progress | None = None,
    state: UploadState | None = None,
) -> JobOutcome:
    """The plugin's entry point: spool, record, upload and report one pytest session."""
    job_id = new_job_id()
    warning = None
    try:
        store = open_store(settings.task_store)
        try:
            job = prepare_job(settings, runs, store, job_id=job_id)
        except BaseException:
            store.close()
            raise
    except StoreError as exc:
        # Never lose results because our own bookkeeping folder is unusable: keep going in
        # a private temporary folder and say where, so the job can still be finished.
        fallback = Path(tempfile.mkdtemp(prefix=f"pytest-octane-{job_id}-"))
        settings = replace(
            settings, task_store=str(fallback / "store"), spool_dir=str(fallback / "spool")
        )
        warning = f"{exc} — this job is kept in {fallback} instead"
        store = open_store(settings.task_store)
        job = prepare_job(settings, runs, store, job_id=job_id)
    try:
        if not job.slices:
            outcome = JobOutcome(job=job, store_location=store.location)
        else:
            outcome = execute_job(settings, store, job, hook=hook, progress=progress, state=state)
    finally:
        store.close()
    if warning:
        outcome.warnings.insert(0, warning)
    return outcome


def settings_for_job(settings: Settings, job: JobRecord) -> Settings:
    """Settings to finish an old job: its own server, space and workspace win (as last
    corrected by ``retry --space/--workspace/--url``, see ``overrides``)."""
    where = recorded_connection(job)
    return replace(settings, url=where.url, space=where.space, workspace=where.workspace)
