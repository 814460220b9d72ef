"""Task store in a database (SQLite file or PostgreSQL) through SQLAlchemy Core.

One transaction per change, and slice updates touch one row each, so several processes
(xdist controllers of parallel CI jobs, a ``resume`` next to a running upload) can share
the store without losing each other's changes. SQLite write transactions start with
``BEGIN IMMEDIATE`` and the file runs in WAL mode with a busy timeout, so writers queue
instead of failing with "database is locked".
"""

from __future__ import annotations

import contextlib
import functools
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import (
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import (
    DBAPIError,
    IntegrityError,
    OperationalError,
    ProgrammingError,
    SQLAlchemyError,
)

from pytest_octane.errors import StoreError
from pytest_octane.model import JobRecord, RequestLogEntry, SliceRecord
from pytest_octane.store.base import DamagedJob, JobListing
from pytest_octane.store.codec import (
    LIST_FIELDS,
    check_job_id,
    check_slice_index,
    decode_entries,
    entry_to_dict,
    new_slices,
    plain_json,
    slice_changes,
    slice_from_dict,
)
from pytest_octane.store.location import describe_location
from pytest_octane.store.locks import FileLocks, Locks, LocksDelegate
from pytest_octane.store.query import JobPage, JobQuery
from pytest_octane.store.sql_query import page_rows
from pytest_octane.store.sql_schema import (
    SCHEMA_ATTEMPTS,
    SCHEMA_VERSION,
    as_dict,
    create_store_engine,
    jobs_table,
    metadata,
    request_log_table,
    set_up_schema,
    slice_columns,
    slice_row,
    tasks_table,
)

__all__ = ["SCHEMA_VERSION", "SqlStore", "metadata"]


class SqlStore(LocksDelegate):
    """Jobs, slices and request logs in four tables; created on first use."""

    def __init__(self, url: str) -> None:
        self.location = describe_location(url)
        self._engine = create_store_engine(url, self.location)
        read_options: dict[str, Any] = {"octane_read": True}
        if self._engine.dialect.name == "postgresql":
            # get_job/list_jobs read several tables: see them as of one instant.
            read_options["isolation_level"] = "REPEATABLE READ"
        self._reader = self._engine.execution_options(**read_options)
        self._locks = self._new_locks()
        try:
            self._ensure_schema()
        except BaseException:
            self._engine.dispose()
            raise

    def __repr__(self) -> str:
        return f"SqlStore({self.location!r})"

    # -- TaskStore --

    def create_job(self, job: JobRecord) -> None:
        job_id = check_job_id(job.job_id)
        slices = new_slices(job, time.time())
        row = {
            "job_id": job_id,
            "space_id": job.space_id,
            "workspace_id": job.workspace_id,
            "server": job.server,
            "created_at": float(job.created_at),
            "finished_at": None if job.finished_at is None else float(job.finished_at),
            "build": plain_json(dict(job.build)),
            "settings": plain_json(dict(job.settings)),
            "history": plain_json([dict(e) for e in job.history]),
        }
        try:
            with self._write(f"record job {job_id}") as conn:
                found = conn.execute(
                    select(jobs_table.c.job_id).where(jobs_table.c.job_id == job_id)
                ).first()
                if found is not None:
                    raise StoreError.job_exists(job_id, self.location)
                conn.execute(insert(jobs_table).values(row))
                if slices:
                    conn.execute(insert(tasks_table), [slice_row(job_id, s) for s in slices])
        except StoreError as exc:
            if isinstance(exc.__cause__, IntegrityError):  # lost a race on the same id
                raise StoreError.job_exists(job_id, self.location) from None
            raise

    def get_job(self, job_id: str) -> JobRecord:
        check_job_id(job_id)
        with self._read(f"read job {job_id}") as conn:
            row = conn.execute(select(jobs_table).where(jobs_table.c.job_id == job_id)).first()
            if row is None:
                raise self._unknown(job_id)
            slices = conn.execute(
                select(tasks_table)
                .where(tasks_table.c.job_id == job_id)
                .order_by(tasks_table.c.slice_index)
            ).all()
        return self._job(as_dict(row), [as_dict(s) for s in slices])

    def list_jobs(self) -> list[JobRecord]:
        return self.scan_jobs().intact_jobs()

    def scan_jobs(self) -> JobListing:
        with self._read("list jobs") as conn:
            rows = conn.execute(
                select(jobs_table).order_by(jobs_table.c.created_at.desc(), jobs_table.c.job_id)
            ).all()
            slice_rows = conn.execute(
                select(tasks_table).order_by(tasks_table.c.job_id, tasks_table.c.slice_index)
            ).all()
        by_job: dict[str, list[Mapping[str, Any]]] = {}
        for s in slice_rows:
            by_job.setdefault(s.job_id, []).append(as_dict(s))
        jobs: list[JobRecord] = []
        damaged: list[DamagedJob] = []
        for r in rows:
            try:
                jobs.append(self._job(as_dict(r), by_job.get(r.job_id, [])))
            except StoreError as exc:
                damaged.append(DamagedJob(str(r.job_id), str(exc)))
        return JobListing(jobs, damaged)

    def query_jobs(self, query: JobQuery) -> JobPage:
        """One page of the jobs list in a few queries (``sql_query``), so the jobs page
        stays fast with thousands of jobs."""
        with self._read("list jobs") as conn:
            found = page_rows(conn, query)
        by_job: dict[str, list[Mapping[str, Any]]] = {}
        for s in found.slices:
            by_job.setdefault(s.job_id, []).append(as_dict(s))
        jobs: list[JobRecord] = []
        damaged: list[DamagedJob] = []
        for r in found.jobs:
            try:
                jobs.append(self._job(as_dict(r), by_job.get(r.job_id, [])))
            except StoreError as exc:
                damaged.append(DamagedJob(str(r.job_id), str(exc)))
        return JobPage(jobs=jobs, total=found.total, damaged=damaged, spaces=found.spaces)

    def add_slices(self, job_id: str, slices: Sequence[SliceRecord]) -> None:
        check_job_id(job_id)
        with self._write(f"add slices to job {job_id}") as conn:
            self._require_job(conn, job_id)
            have = conn.execute(
                select(tasks_table.c.slice_index).where(tasks_table.c.job_id == job_id)
            )
            probe = JobRecord(
                job_id=job_id,
                space_id=0,
                workspace_id=0,
                server="",
                created_at=0.0,
                slices=tuple(slices),
            )
            taken = {row[0] for row in have} & {s.index for s in slices}
            if taken:
                raise StoreError(f"job {job_id} has slice index {min(taken)} twice")
            rows = [slice_row(job_id, s) for s in new_slices(probe, time.time())]
            if rows:
                conn.execute(insert(tasks_table), rows)

    def update_slice(self, job_id: str, index: int, **changes: Any) -> SliceRecord:
        check_job_id(job_id)
        check_slice_index(index)
        values = slice_columns(slice_changes(changes))
        values.setdefault("updated_at", time.time())
        where = (tasks_table.c.job_id == job_id, tasks_table.c.slice_index == index)
        with self._write(f"update slice {index} of job {job_id}") as conn:
            result = conn.execute(update(tasks_table).where(*where).values(values))
            if result.rowcount == 0:
                self._require_job(conn, job_id)
                raise StoreError.no_slice(job_id, index, self.location)
            row = conn.execute(select(tasks_table).where(*where)).one()
        return self._slice(as_dict(row))

    def finish_job(self, job_id: str, finished_at: float) -> None:
        check_job_id(job_id)
        with self._write(f"finish job {job_id}") as conn:
            result = conn.execute(
                update(jobs_table)
                .where(jobs_table.c.job_id == job_id)
                .values(finished_at=float(finished_at))
            )
            if result.rowcount == 0:
                raise self._unknown(job_id)

    def add_history(self, job_id: str, event: dict[str, Any]) -> None:
        check_job_id(job_id)
        text = plain_json(dict(event))
        with self._write(f"add history to job {job_id}") as conn:
            # Row lock on PostgreSQL; SQLite's BEGIN IMMEDIATE already serializes writers.
            current = conn.execute(
                select(jobs_table.c.history).where(jobs_table.c.job_id == job_id).with_for_update()
            ).scalar_one_or_none()
            if current is None:
                raise self._unknown(job_id)
            history = self._json(current, f"history of job {job_id}")
            if not isinstance(history, list):
                raise self._corrupt(f"history of job {job_id}", "not a JSON array")
            history.append(json.loads(text))
            conn.execute(
                update(jobs_table)
                .where(jobs_table.c.job_id == job_id)
                .values(history=plain_json(history))
            )

    def append_requests(self, job_id: str, entries: Sequence[RequestLogEntry]) -> None:
        check_job_id(job_id)
        rows = [{"job_id": job_id, **entry_to_dict(e)} for e in entries]
        with self._write(f"append to the request log of job {job_id}") as conn:
            self._require_job(conn, job_id)
            if rows:
                conn.execute(insert(request_log_table), rows)

    def read_requests(
        self, job_id: str, *, on_damaged: Callable[[str], None] | None = None
    ) -> list[RequestLogEntry]:
        check_job_id(job_id)
        with self._read(f"read the request log of job {job_id}") as conn:
            self._require_job(conn, job_id)
            rows = conn.execute(
                select(request_log_table)
                .where(request_log_table.c.job_id == job_id)
                .order_by(request_log_table.c.id)
            ).all()
        where = f"the request log of job {job_id} in {self.location} has a bad row"
        raw = [(f"{where} {r.id}", functools.partial(as_dict, r)) for r in rows]
        return decode_entries(raw, "repair or delete that row", on_damaged)

    def close(self) -> None:
        self._engine.dispose()

    # -- engine and schema --

    def _new_locks(self) -> Locks:
        """SQLite: OS file locks in a folder beside the database; PostgreSQL: advisory locks."""
        if self._engine.dialect.name == "postgresql":
            from pytest_octane.store.pglocks import PgLocks

            return PgLocks(self._engine, self.location, self._translate)
        database = Path(self._engine.url.database or "")
        return FileLocks(database.with_name(f"{database.name}.locks"), self.location)

    def _ensure_schema(self) -> None:
        """Create the tables once; concurrent first uses wait for (or re-check after) each other."""
        for attempt in range(1, SCHEMA_ATTEMPTS + 1):
            try:
                with self._write("set up its tables") as conn:
                    set_up_schema(conn, self.location)
                return
            except StoreError as exc:
                raced = isinstance(exc.__cause__, IntegrityError | ProgrammingError)
                if not raced or attempt == SCHEMA_ATTEMPTS:
                    raise

    # -- transactions and errors --

    @contextlib.contextmanager
    def _write(self, action: str) -> Iterator[Connection]:
        with self._translate(action), self._engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def _read(self, action: str) -> Iterator[Connection]:
        with self._translate(action), self._reader.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def _translate(self, action: str) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            raise self._failure(action, exc) from exc

    def _failure(self, action: str, exc: SQLAlchemyError) -> StoreError:
        # The DBAPI message, never SQLAlchemy's text: that one lists statement parameters.
        reason = type(exc).__name__
        if isinstance(exc, DBAPIError) and exc.orig is not None:
            lines = str(exc.orig).strip().splitlines()
            reason = lines[0] if lines else type(exc.orig).__name__
        if "readonly" in reason or "read-only" in reason:
            hint = "make the database (and its folder) writable"
        elif isinstance(exc, OperationalError):
            hint = "check the URL and that the database is reachable"
        else:
            hint = "check the database and its permissions"
        return StoreError(f"the task store '{self.location}' could not {action}: {reason}: {hint}")

    def _require_job(self, conn: Connection, job_id: str) -> None:
        found = conn.execute(
            select(jobs_table.c.job_id).where(jobs_table.c.job_id == job_id)
        ).first()
        if found is None:
            raise self._unknown(job_id)

    def _unknown(self, job_id: str) -> StoreError:
        return StoreError(f"unknown job {job_id} in the task store '{self.location}'")

    def _corrupt(self, what: str, reason: str) -> StoreError:
        return StoreError(
            f"the task store '{self.location}' holds a bad {what} ({reason}): repair that row"
        )

    # -- rows -> records --

    def _json(self, text: str, what: str) -> Any:
        try:
            return json.loads(text)
        except ValueError as exc:
            raise self._corrupt(what, f"not JSON: {exc}") from None

    def _job(self, row: Mapping[str, Any], slices: Sequence[Mapping[str, Any]]) -> JobRecord:
        job_id = str(row["job_id"])
        build = self._json(row["build"], f"build of job {job_id}")
        settings = self._json(row["settings"], f"settings of job {job_id}")
        history = self._json(row["history"], f"history of job {job_id}")
        if not (isinstance(build, dict) and isinstance(settings, dict)):
            raise self._corrupt(f"job {job_id}", "build/settings are not JSON objects")
        if not isinstance(history, list):
            raise self._corrupt(f"history of job {job_id}", "not a JSON array")
        try:
            space_id, workspace_id = int(row["space_id"]), int(row["workspace_id"])
            created_at = float(row["created_at"])
            finished_at = None if row["finished_at"] is None else float(row["finished_at"])
        except (TypeError, ValueError, OverflowError) as exc:  # SQLite keeps anything
            raise self._corrupt(f"job {job_id}", f"{type(exc).__name__}: {exc}") from None
        return JobRecord(
            job_id=job_id,
            space_id=space_id,
            workspace_id=workspace_id,
            server=str(row["server"]),
            created_at=created_at,
            build={str(k): str(v) for k, v in build.items()},
            settings=settings,
            finished_at=finished_at,
            slices=tuple(self._slice(s) for s in slices),
            history=tuple(history),
        )

    def _slice(self, row: Mapping[str, Any]) -> SliceRecord:
        data = dict(row)
        data["index"] = data.pop("slice_index")
        for name in LIST_FIELDS:
            if data.get(name):
                data[name] = self._json(
                    data[name], f"{name} of slice {data['index']} of job {data['job_id']}"
                )
        try:
            return slice_from_dict(data)
        except (KeyError, TypeError, ValueError, OverflowError, StoreError) as exc:
            what = f"slice {data['index']} of job {data['job_id']}"
            raise self._corrupt(what, f"{type(exc).__name__}: {exc}") from None
