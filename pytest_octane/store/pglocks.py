"""Named locks and slot leases on PostgreSQL, for runners on many machines sharing one database.

A named lock is a session advisory lock on a connection held for the lock's lifetime: the
server drops it when that connection ends, so a holder killed by SIGKILL frees it. The
holder's pid and host travel in the connection's ``application_name``, which any waiter
can read from ``pg_stat_activity``. Slot leases are rows changed in one transaction under
an advisory transaction lock per pool.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager

from sqlalchemy import Column, Double, Integer, MetaData, String, Table, Text, text
from sqlalchemy.engine import Connection, Engine

from pytest_octane.errors import LockBusy, LockHolder
from pytest_octane.store.locks import POLL_S, lease_alive, lock_key, me

__all__ = ["PgLocks", "leases_table"]

_APP_PREFIX = "pytest-octane "
_APP_NAME_MAX = 63  # PostgreSQL truncates application_name to NAMEDATALEN - 1
# pg_advisory_xact_lock key serializing the creation of the lease table.
_PG_LEASE_SCHEMA_LOCK = 0x6F6374616E66

_meta = MetaData()
leases_table = Table(
    "octane_slot_leases",
    _meta,
    Column("lease_id", String(32), primary_key=True),
    Column("pool", String(64), nullable=False, index=True),
    Column("pid", Integer, nullable=False),
    Column("host", Text, nullable=False),
    Column("expires_at", Double, nullable=False),
)


def advisory_key(name: str) -> int:
    """A signed 64-bit advisory lock key for ``name``."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big", signed=True)


class PgLocks:
    """Advisory locks and a lease table in the store's database."""

    def __init__(
        self,
        engine: Engine,
        location: str,
        translate: Callable[[str], AbstractContextManager[None]],
    ) -> None:
        self._engine = engine
        self._location = location
        self._translate = translate
        self._table_ready = False
        self._namespace: str | None = None

    def _key(self, name: str) -> int:
        """Locks belong to this store: its database and schema, not the whole server."""
        if self._namespace is None:
            with self._translate("read its schema"), self._engine.connect() as conn:
                row = conn.execute(text("SELECT current_database(), current_schema()")).one()
            self._namespace = f"{row[0]}.{row[1]}"
        return advisory_key(f"{self._namespace}:{name}")

    @contextlib.contextmanager
    def lock(self, name: str, *, timeout: float) -> Iterator[None]:
        key = self._key(name)
        with self._translate(f"lock {name!r}"):
            conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            deadline = time.monotonic() + max(timeout, 0.0)
            while True:
                with self._translate(f"lock {name!r}"):
                    got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})
                    if got.scalar():
                        break
                if time.monotonic() >= deadline:
                    raise LockBusy(name, self._holder(conn, key), self._location)
                time.sleep(POLL_S)
            with self._translate(f"lock {name!r}"):
                label = (_APP_PREFIX + me().text())[:_APP_NAME_MAX]
                conn.execute(text("SELECT set_config('application_name', :v, false)"), {"v": label})
            try:
                yield
            finally:
                with contextlib.suppress(Exception):
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        finally:
            conn.close()

    def _holder(self, conn: Connection, key: int) -> LockHolder | None:
        unsigned = key & 0xFFFFFFFFFFFFFFFF
        row = conn.execute(
            text(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a "
                "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                "AND l.classid = :hi AND l.objid = :lo AND l.objsubid = 1"
            ),
            {"hi": unsigned >> 32, "lo": unsigned & 0xFFFFFFFF},
        ).first()
        name = str(row[0] or "") if row is not None else ""
        return LockHolder.parse(name[len(_APP_PREFIX) :]) if name.startswith(_APP_PREFIX) else None

    def take_slot(self, pool: str, limit: int, ttl: float) -> str | None:
        with self._translate("take a queue slot"), self._engine.begin() as conn:
            self._ensure_table(conn)
            conn.execute(
                text("SELECT pg_advisory_xact_lock(:k)"), {"k": self._key(f"slots:{pool}")}
            )
            now = time.time()
            rows = conn.execute(
                leases_table.select().where(leases_table.c.pool == lock_key(pool))
            ).all()
            dead = [
                r.lease_id
                for r in rows
                if not lease_alive(LockHolder(int(r.pid), str(r.host)), float(r.expires_at), now)
            ]
            if dead:
                conn.execute(leases_table.delete().where(leases_table.c.lease_id.in_(dead)))
            if len(rows) - len(dead) >= limit:
                return None
            lease_id = uuid.uuid4().hex
            holder = me()
            conn.execute(
                leases_table.insert().values(
                    lease_id=lease_id,
                    pool=lock_key(pool),
                    pid=holder.pid,
                    host=holder.host,
                    expires_at=now + ttl,
                )
            )
            return lease_id

    def renew_slots(self, pool: str, lease_ids: Sequence[str], ttl: float) -> None:
        if not lease_ids:
            return
        with self._translate("renew queue slots"), self._engine.begin() as conn:
            self._ensure_table(conn)
            conn.execute(
                leases_table.update()
                .where(leases_table.c.lease_id.in_(list(lease_ids)))
                .values(expires_at=time.time() + ttl)
            )

    def release_slot(self, pool: str, lease_id: str) -> None:
        with self._translate("give back a queue slot"), self._engine.begin() as conn:
            self._ensure_table(conn)
            conn.execute(leases_table.delete().where(leases_table.c.lease_id == lease_id))

    def _ensure_table(self, conn: Connection) -> None:
        if self._table_ready:
            return
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LEASE_SCHEMA_LOCK})
        _meta.create_all(conn, checkfirst=True)
        self._table_ready = True
