"""PostgreSQL fixtures shared by the store and CLI suites (registered in the root conftest).

PostgreSQL runs when OCTANE_TEST_POSTGRES_URL is set (``source .ci/postgres.sh``); each test
gets its own fresh schema through ``search_path``. Without the URL the PostgreSQL cases are
skipped locally and fail in CI, so a broken CI setup cannot hide them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest

PG_ENV = "OCTANE_TEST_POSTGRES_URL"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    url = os.environ.get(PG_ENV, "").strip()
    if not url:
        if in_ci():
            pytest.fail(f"PostgreSQL tests must run in CI: source .ci/postgres.sh ({PG_ENV} unset)")
        pytest.skip(f"{PG_ENV} is not set: `source .ci/postgres.sh` to run the PostgreSQL cases")
    return url


@pytest.fixture
def pg_url(pg_server_url: str) -> Iterator[str]:
    """The server URL pointed at a fresh schema (via ``search_path``), dropped afterwards."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    admin_url = sqlalchemy.make_url(pg_server_url).set(drivername="postgresql+psycopg")
    schema = f"octane_t_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(admin_url)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        sep = "&" if "?" in pg_server_url else "?"
        yield f"{pg_server_url}{sep}options={quote(f'-csearch_path={schema}')}"
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        admin.dispose()
