"""The jobs list's query in SQL: filters (status, shared space, text) and one page of rows.

The job status follows ``JobRecord.status`` (Failed if any slice failed, Running while one
is unfinished, else Success); the text is looked for in the job id, the build and the
failed runs' names (``failed_names``), without case, with LIKE's wildcards taken literally.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, exists, func, not_, or_, select
from sqlalchemy.engine import Connection, Row
from sqlalchemy.sql.elements import ColumnElement

from pytest_octane.model import SliceStatus
from pytest_octane.store.query import JobQuery
from pytest_octane.store.sql_schema import jobs_table, tasks_table

__all__ = ["PageRows", "job_filter", "page_rows"]


@dataclass(frozen=True, slots=True)
class PageRows:
    total: int
    jobs: list[Row[Any]]
    slices: list[Row[Any]]
    spaces: list[int]


def _slices_in(status: SliceStatus) -> ColumnElement[bool]:
    return exists().where(
        tasks_table.c.job_id == jobs_table.c.job_id, tasks_table.c.status == status.value
    )


def job_filter(query: JobQuery) -> list[ColumnElement[bool]]:
    """``query``'s filters as SQL conditions on the jobs table."""
    where: list[ColumnElement[bool]] = []
    failed, running = _slices_in(SliceStatus.FAILED), _slices_in(SliceStatus.RUNNING)
    if query.status is SliceStatus.FAILED:
        where.append(failed)
    elif query.status is SliceStatus.RUNNING:
        where.append(and_(not_(failed), running))
    elif query.status is SliceStatus.SUCCESS:
        where.append(and_(not_(failed), not_(running)))
    if query.space is not None:
        where.append(jobs_table.c.space_id == query.space)
    text = query.text.strip().lower()
    if text:
        named = exists().where(
            tasks_table.c.job_id == jobs_table.c.job_id,
            func.lower(tasks_table.c.failed_names).contains(text, autoescape=True),
        )
        where.append(
            or_(
                func.lower(jobs_table.c.job_id).contains(text, autoescape=True),
                func.lower(jobs_table.c.build).contains(text, autoescape=True),
                named,
            )
        )
    return where


def page_rows(conn: Connection, query: JobQuery) -> PageRows:
    """How many jobs match, the rows of the page (newest first) and their slices' rows,
    and every shared space of the store."""
    where = job_filter(query)
    total = conn.execute(select(func.count()).select_from(jobs_table).where(*where)).scalar()
    jobs = list(
        conn.execute(
            select(jobs_table)
            .where(*where)
            .order_by(jobs_table.c.created_at.desc(), jobs_table.c.job_id)
            .offset(max(query.offset, 0))
            .limit(max(query.limit, 0))
        ).all()
    )
    ids = [r.job_id for r in jobs]
    slices = (
        list(
            conn.execute(
                select(tasks_table)
                .where(tasks_table.c.job_id.in_(ids))
                .order_by(tasks_table.c.job_id, tasks_table.c.slice_index)
            ).all()
        )
        if ids
        else []
    )
    spaces = conn.execute(select(jobs_table.c.space_id).distinct().order_by(jobs_table.c.space_id))
    return PageRows(int(total or 0), jobs, slices, [int(v) for (v,) in spaces])
