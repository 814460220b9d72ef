"""The SQL store's tables, schema version and engine creation (SQLite pragmas, PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    insert,
    inspect,
    select,
)
from sqlalchemy.engine import Connection, Engine, Row, make_url
from sqlalchemy.exc import ArgumentError

from pytest_octane.errors import StoreError
from pytest_octane.model import SliceRecord
from pytest_octane.store.codec import LIST_FIELDS, plain_json, slice_to_dict

__all__ = [
    "ADDED_COLUMNS",
    "SCHEMA_ATTEMPTS",
    "SCHEMA_VERSION",
    "add_missing_columns",
    "as_dict",
    "create_store_engine",
    "jobs_table",
    "metadata",
    "request_log_table",
    "schema_version_table",
    "set_up_schema",
    "slice_columns",
    "slice_row",
    "tasks_table",
]

#: Version of the tables below; a database with a higher one was set up by newer code.
SCHEMA_VERSION = 1

_SQLITE_BUSY_TIMEOUT_S = 30.0
_PG_CONNECT_TIMEOUT_S = 10
# pg_advisory_xact_lock key ("octane" in ASCII) serializing table creation across processes.
_PG_SCHEMA_LOCK = 0x6F6374616E65
SCHEMA_ATTEMPTS = 3
_JOB_ID = String(128)

metadata = MetaData()

jobs_table = Table(
    "octane_upload_jobs",
    metadata,
    Column("job_id", _JOB_ID, primary_key=True),
    Column("space_id", BigInteger, nullable=False),
    Column("workspace_id", BigInteger, nullable=False),
    Column("server", Text, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("finished_at", Double, nullable=True),
    Column("build", Text, nullable=False),  # JSON object
    Column("settings", Text, nullable=False),  # JSON object
    Column("history", Text, nullable=False),  # JSON array
    Index("ix_octane_upload_jobs_created_at", "created_at"),
)

tasks_table = Table(
    "octane_upload_tasks",
    metadata,
    Column("job_id", _JOB_ID, ForeignKey("octane_upload_jobs.job_id"), nullable=False),
    Column("slice_index", Integer, nullable=False),
    Column("path", Text, nullable=False),
    Column("run_count", Integer, nullable=False),
    Column("task_id", BigInteger, nullable=True),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("server_status", Text, nullable=True),
    Column("error_details", Text, nullable=True),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    # added later (``add_missing_columns``): outcome counts, failed runs, the timeline
    *(
        Column(name, Integer, nullable=False, server_default="0")
        for name in ("runs_passed", "runs_failed", "runs_skipped")
    ),
    Column("failures", Text, nullable=True),  # JSON array
    Column("failed_names", Text, nullable=True),  # the failed runs' names, one a line (search)
    Column("sent_at", Double, nullable=True),
    Column("accepted_at", Double, nullable=True),
    Column("done_at", Double, nullable=True),
    Column("waits", Text, nullable=True),  # JSON array
    PrimaryKeyConstraint("job_id", "slice_index", name="pk_octane_upload_tasks"),
)

#: Columns added to the tasks table after version 1, as ``ADD COLUMN`` clauses. Older
#: pytest-octane ignores them and its inserts get their defaults, so the version stays 1 and
#: runners of different versions can share one database.
ADDED_COLUMNS = (
    "runs_passed INTEGER NOT NULL DEFAULT 0",
    "runs_failed INTEGER NOT NULL DEFAULT 0",
    "runs_skipped INTEGER NOT NULL DEFAULT 0",
    "failures TEXT",
    "failed_names TEXT",
    "sent_at DOUBLE PRECISION",
    "accepted_at DOUBLE PRECISION",
    "done_at DOUBLE PRECISION",
    "waits TEXT",
)

request_log_table = Table(
    "octane_request_log",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("job_id", _JOB_ID, ForeignKey("octane_upload_jobs.job_id"), nullable=False),
    Column("time", Double, nullable=False),
    Column("method", String(16), nullable=False),
    Column("url", Text, nullable=False),
    Column("status", Integer, nullable=True),
    Column("duration_ms", Integer, nullable=False),
    Column("correlation_id", Text, nullable=False),
    Column("error", Text, nullable=True),
    Column("body", Text, nullable=True),
    Index("ix_octane_request_log_job_id", "job_id", "id"),
)

schema_version_table = Table(
    "octane_schema_version",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1: one row
    Column("version", Integer, nullable=False),
)

_SQLITE_DRIVERS = frozenset({"sqlite", "sqlite+pysqlite"})
_POSTGRES_DRIVERS = frozenset({"postgresql", "postgres", "postgresql+psycopg"})


def create_store_engine(url_text: str, location: str) -> Engine:
    """The engine of a store URL: SQLite in WAL mode with a busy timeout, or PostgreSQL."""
    try:
        url = make_url(url_text)
    except ArgumentError:
        raise StoreError(
            f"the task store '{location}' is not a database URL: use "
            "sqlite:///path.db or postgresql+psycopg://user@host:port/db"
        ) from None
    driver = url.drivername.lower()
    if driver in _SQLITE_DRIVERS:
        database = url.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            raise StoreError(
                f"the task store '{location}' names no database file: "
                "use sqlite:///path/to/tasks.db"
            )
        try:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the folder of the task store '{location}' "
                f"({exc.strerror}): choose a writable path"
            ) from None
        engine = create_engine(
            url.set(drivername="sqlite+pysqlite"),
            connect_args={"timeout": _SQLITE_BUSY_TIMEOUT_S},
        )
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if driver in _POSTGRES_DRIVERS:
        connect_args: dict[str, Any] = {}
        if "connect_timeout" not in url.query:
            connect_args["connect_timeout"] = _PG_CONNECT_TIMEOUT_S
        return create_engine(
            url.set(drivername="postgresql+psycopg"),
            pool_pre_ping=True,
            connect_args=connect_args,
        )
    raise StoreError(
        f"the task store '{location}' uses the unsupported driver '{driver}': "
        "use sqlite:///path.db or postgresql+psycopg://user@host:port/db"
    )


def _stored_version(conn: Connection) -> int | None:
    if not inspect(conn).has_table(schema_version_table.name):
        return None
    version = conn.execute(select(func.max(schema_version_table.c.version))).scalar()
    return None if version is None else int(version)


def add_missing_columns(conn: Connection) -> None:
    """Add the columns of ``ADDED_COLUMNS`` a table made by older code lacks."""
    have = {c["name"] for c in inspect(conn).get_columns(tasks_table.name)}
    for clause in ADDED_COLUMNS:
        if clause.split()[0] not in have:
            conn.exec_driver_sql(f"ALTER TABLE {tasks_table.name} ADD COLUMN {clause}")


def set_up_schema(conn: Connection, location: str) -> None:
    """Create the tables, or add the columns older ones lack; refuse a newer version."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(_PG_SCHEMA_LOCK)))
    found = _stored_version(conn)
    if found is not None and found > SCHEMA_VERSION:
        raise StoreError(
            f"the task store '{location}' has schema version {found}, newer than the "
            f"{SCHEMA_VERSION} this pytest-octane knows: upgrade pytest-octane (or use another "
            "database)"
        )
    metadata.create_all(conn, checkfirst=True)
    if found is None:
        conn.execute(insert(schema_version_table).values(id=1, version=SCHEMA_VERSION))
    else:
        add_missing_columns(conn)


# ---- rows


def slice_row(job_id: str, record: SliceRecord) -> dict[str, Any]:
    data = slice_columns(slice_to_dict(record))
    data["slice_index"] = data.pop("index")
    data["job_id"] = job_id
    return data


def slice_columns(values: dict[str, Any]) -> dict[str, Any]:
    """Slice fields as column values: the lists as JSON text, and the failed runs' names
    in a column of their own for the jobs page's search."""
    failures = values.get("failures")
    if failures is not None:
        values["failed_names"] = "\n".join(str(f["name"]) for f in failures) or None
    for name in LIST_FIELDS:
        if name in values:
            values[name] = plain_json(values[name]) if values[name] else None
    return values


def as_dict(row: Row[Any]) -> dict[str, Any]:
    return {str(key): value for key, value in row._mapping.items()}


def _lenient_text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let _sqlite_begin issue BEGIN itself (pysqlite would defer it to the first write).
    dbapi_connection.isolation_level = None
    # A TEXT value that is not UTF-8 (written by another tool) is read with U+FFFD, not a crash
    dbapi_connection.text_factory = _lenient_text
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(_SQLITE_BUSY_TIMEOUT_S * 1000)}")
        mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() != "wal":
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # Writers take the write lock up front: a deferred transaction that reads and then
    # writes fails at once with SQLITE_BUSY when another process committed meanwhile.
    read_only = bool(conn.get_execution_options().get("octane_read"))
    conn.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")
