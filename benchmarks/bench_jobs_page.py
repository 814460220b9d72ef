"""The jobs page with many jobs: how long the list and a big job take to answer.

A SQLite task store gets 5,000 made-up jobs (``pytest_octane.web.demo``), and ``serve``'s
server answers over loopback HTTP, as a browser would ask it. Measured (median of several
requests, one after another, each a full request: store query, render, transfer):

- the first page of the list, a filtered list (a failed test's name), and the same first
  page of a store of 50 jobs, side by side: the goal is that 100 times more jobs cost at
  most 3 times as much (the list's work follows the page, not the store);
- the page of one job of 100 slices, next to one of 10 slices (information);
- with ``OCTANE_TEST_POSTGRES_URL`` set (``source .ci/postgres.sh``), the same list, search
  and job page in a PostgreSQL store of 5,000 jobs (information).

Standalone: ``python benchmarks/bench_jobs_page.py [--quick]``; or through ``run.py``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import requests
from bench_common import Row, fmt_ratio, fmt_s

from pytest_octane.store import TaskStore, open_store
from pytest_octane.store.query import JobQuery, page_of
from pytest_octane.web.demo import demo_job, seed_jobs
from pytest_octane.web.server import JobsServer

JOBS = 5000
PG_ENV = "OCTANE_TEST_POSTGRES_URL"
SMALL = 50
GOAL_RATIO = 3.0


@dataclass(frozen=True, slots=True)
class JobsPageResult:
    rows: list[Row]
    detail: list[str]


@contextmanager
def _served(location: str) -> Iterator[tuple[JobsServer, TaskStore]]:
    store = open_store(location)
    args = argparse.Namespace()
    try:
        with JobsServer(args, store, port=0, quiet=True) as server:
            yield server, store
    finally:
        store.close()


def _median_get(url: str, reps: int) -> float:
    session = requests.Session()
    session.get(url, timeout=120).raise_for_status()  # warm: connections, caches
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        answer = session.get(url, timeout=120)
        times.append(time.perf_counter() - started)
        answer.raise_for_status()
    return statistics.median(times)


def run_jobs_page(*, quick: bool, log: Callable[[str], None]) -> JobsPageResult:
    reps = 5 if quick else 15
    jobs = 1000 if quick else JOBS
    rows: list[Row] = []
    detail: list[str] = []
    with tempfile.TemporaryDirectory(prefix="octane-bench-jobs-page-") as tmp:
        now = time.time()
        big, small = f"sqlite:///{Path(tmp) / 'big.db'}", f"sqlite:///{Path(tmp) / 'small.db'}"
        started = time.perf_counter()
        store = open_store(big)
        try:
            seed_jobs(store, jobs, now=now, running=3)
            rng = random.Random(100)
            for slices in (100, 10):
                store.create_job(
                    demo_job(f"slices-{slices}", created_at=now - 30, slices=slices, rng=rng)
                )
            oldest = store.list_jobs()[-20:]
            name = next(f.name for j in oldest for s in j.slices for f in s.failures)
            scans = []
            for _ in range(3):  # what the list did before: read every job, then filter
                begun = time.perf_counter()
                page_of(store.scan_jobs(), JobQuery())
                scans.append(time.perf_counter() - begun)
            scan = statistics.median(scans)
        finally:
            store.close()
        store = open_store(small)
        try:
            seed_jobs(store, SMALL, now=now, running=3)
        finally:
            store.close()
        log(f"  seeded {jobs} + {SMALL} jobs in {time.perf_counter() - started:.1f} s")
        with _served(big) as (server, _):
            list_big = _median_get(server.url + "/", reps)
            api_big = _median_get(server.url + "/api/jobs", reps)
            found = _median_get(server.url + "/?q=" + quote(name), reps)
            last_page = _median_get(f"{server.url}/?page={jobs // 50}", reps)
            job_100 = _median_get(server.url + "/jobs/slices-100", reps)
            job_10 = _median_get(server.url + "/jobs/slices-10", reps)
        with _served(small) as (server, _):
            list_small = _median_get(server.url + "/", reps)
    ratio = list_big / list_small
    rows += [
        Row(
            f"jobs list, {jobs} vs {SMALL} jobs (SQLite), first page",
            fmt_ratio(ratio),
            f"<= {GOAL_RATIO:g}x",
            ratio <= GOAL_RATIO,
        ),
        Row(f"jobs list, {jobs} jobs (SQLite), first page", fmt_s(list_big)),
        Row(f"jobs list, {jobs} jobs (SQLite), a failed test's name", fmt_s(found)),
        Row("job page, 100 slices (SQLite)", fmt_s(job_100)),
        Row("job page, 100 vs 10 slices", fmt_ratio(job_100 / job_10)),
        Row(f"jobs list, {jobs} jobs, reading every job (before)", fmt_s(scan)),
    ]
    detail += [
        f"jobs list with {jobs} jobs: first page {fmt_s(list_big)}, last page "
        f"{fmt_s(last_page)}, filtered by a test name {fmt_s(found)}, /api/jobs "
        f"{fmt_s(api_big)}; with {SMALL} jobs: {fmt_s(list_small)} (median of {reps} requests)",
        f"job page: 100 slices {fmt_s(job_100)}, 10 slices {fmt_s(job_10)}",
        f"reading all {jobs} jobs and filtering in Python (the list before, in process, "
        f"median of 3): {fmt_s(scan)}",
    ]
    if os.environ.get(PG_ENV, "").strip():
        pg_rows, pg_detail = _postgres(jobs, reps, log)
        rows += pg_rows
        detail += pg_detail
    else:
        log(f"  PostgreSQL left out: {PG_ENV} is not set (source .ci/postgres.sh)")
    for line in detail:
        log(f"  {line}")
    return JobsPageResult(rows, detail)


@contextmanager
def _pg_schema(server_url: str) -> Iterator[str]:
    """The server URL pointed at a fresh schema, dropped afterwards (as the tests do)."""
    import sqlalchemy

    admin = sqlalchemy.create_engine(
        sqlalchemy.make_url(server_url).set(drivername="postgresql+psycopg")
    )
    schema = f"octane_bench_{uuid.uuid4().hex[:10]}"
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        sep = "&" if "?" in server_url else "?"
        yield f"{server_url}{sep}options={quote(f'-csearch_path={schema}')}"
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        admin.dispose()


def _postgres(jobs: int, reps: int, log: Callable[[str], None]) -> tuple[list[Row], list[str]]:
    with _pg_schema(os.environ[PG_ENV].strip()) as location:
        now = time.time()
        store = open_store(location)
        try:
            seed_jobs(store, jobs, now=now, running=3)
            store.create_job(
                demo_job("slices-100", created_at=now - 30, slices=100, rng=random.Random(100))
            )
            oldest = store.list_jobs()[-20:]
            name = next(f.name for j in oldest for s in j.slices for f in s.failures)
        finally:
            store.close()
        log(f"  seeded {jobs} jobs in PostgreSQL")
        with _served(location) as (server, _):
            first = _median_get(server.url + "/", reps)
            found = _median_get(server.url + "/?q=" + quote(name), reps)
            job_100 = _median_get(server.url + "/jobs/slices-100", reps)
    rows = [
        Row(f"jobs list, {jobs} jobs (PostgreSQL), first page", fmt_s(first)),
        Row(f"jobs list, {jobs} jobs (PostgreSQL), a failed test's name", fmt_s(found)),
        Row("job page, 100 slices (PostgreSQL)", fmt_s(job_100)),
    ]
    detail = [
        f"PostgreSQL, {jobs} jobs: first page {fmt_s(first)}, filtered by a test name "
        f"{fmt_s(found)}, job of 100 slices {fmt_s(job_100)} (median of {reps} requests)"
    ]
    return rows, detail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="1,000 jobs, fewer requests")
    options = parser.parse_args(argv)
    result = run_jobs_page(quick=options.quick, log=lambda line: print(line, file=sys.stderr))
    for row in result.rows:
        print(f"{row.benchmark}: {row.measured} (goal {row.goal}: {row.verdict})")
    return 1 if any(r.met is False for r in result.rows) else 0


if __name__ == "__main__":
    sys.exit(main())
