"""The jobs list: filters, one row per job with its outcome bar, the pager."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from html import escape
from urllib.parse import urlencode

from pytest_octane.model import JobRecord, SliceStatus
from pytest_octane.store.query import JobPage, JobQuery
from pytest_octane.web.charts import outcome_bar, outcomes_of
from pytest_octane.web.layout import (
    build_cell,
    duration_text,
    html_page,
    job_href,
    live_updates,
    slice_counts,
    stamp,
    status_badge,
)

__all__ = ["list_href", "list_version", "render_jobs"]


def _slices_cell(job: JobRecord) -> str:
    counts = slice_counts(job)
    parts = [f"{counts[SliceStatus.SUCCESS]} ok"]
    if counts[SliceStatus.FAILED]:
        parts.append(f'<span class="failed">{counts[SliceStatus.FAILED]} failed</span>')
    if counts[SliceStatus.RUNNING]:
        parts.append(f'<span class="running">{counts[SliceStatus.RUNNING]} running</span>')
    return f"{len(job.slices)}: " + ", ".join(parts)


def _outcomes_cell(job: JobRecord) -> str:
    outcomes = outcomes_of(job)
    numbers = (
        f"{outcomes.passed} / {outcomes.failed} / {outcomes.skipped}"
        if outcomes.counted
        else f"{outcomes.total} runs"
    )
    return f'{outcome_bar(outcomes)}<span class="counts" aria-hidden="true">{numbers}</span>'


def list_href(query: JobQuery, **changes: object) -> str:
    """The list's address for ``query`` with ``changes`` (e.g. another offset)."""
    q = replace(query, **changes)  # type: ignore[arg-type]
    params = []
    if q.status is not None:
        params.append(("status", q.status.value))
    if q.space is not None:
        params.append(("space", str(q.space)))
    if q.text:
        params.append(("q", q.text))
    page = q.offset // q.limit + 1 if q.limit else 1
    if page > 1:
        params.append(("page", str(page)))
    return "/" + (f"?{urlencode(params)}" if params else "")


def _filters(query: JobQuery, spaces: Sequence[int]) -> str:
    def option(value: str, label: str, current: str) -> str:
        selected = " selected" if value == current else ""
        return f'<option value="{escape(value)}"{selected}>{escape(label)}</option>'

    status = query.status.value if query.status is not None else ""
    space = str(query.space) if query.space is not None else ""
    statuses = option("", "any", status) + "".join(
        option(s.value, s.value, status) for s in SliceStatus
    )
    space_options = option("", "any", space) + "".join(
        option(str(n), str(n), space) for n in spaces
    )
    return (
        '<form class="filters" method="get" action="/" role="search" aria-label="filter jobs">'
        f'<label for="f-status">Status<select id="f-status" name="status">{statuses}</select>'
        f'</label><label for="f-space">Shared space<select id="f-space" name="space">'
        f"{space_options}</select></label>"
        '<label for="f-q">Job id, build or failed test<input id="f-q" type="search" name="q" '
        f'value="{escape(query.text)}" size="30"></label>'
        '<button type="submit" id="filter">Filter</button>'
        + (' <a href="/">clear</a>' if list_href(query, offset=0) != "/" else "")
        + "</form>"
    )


def _pager(page: JobPage, query: JobQuery) -> str:
    pages = max((page.total + query.limit - 1) // query.limit, 1)
    current = query.offset // query.limit + 1
    before = escape(list_href(query, offset=query.offset - query.limit))
    after = escape(list_href(query, offset=query.offset + query.limit))
    newer = f'<a id="newer" rel="prev" href="{before}">&larr; newer</a>' if current > 1 else ""
    older = f'<a id="older" rel="next" href="{after}">older &rarr;</a>' if current < pages else ""
    return (
        f'<nav class="pager" aria-label="pages of jobs">{newer}'
        f'<span id="page-info">page {current} of {pages} ({page.total} jobs)</span>{older}</nav>'
    )


def list_version(page: JobPage) -> str:
    """Changes whenever what the list shows changes (the live script compares it)."""
    parts = [str(page.total)]
    for job in page.jobs:
        parts.append(f"{job.job_id}:{job.status.value}:{job.finished_at}")
        parts.extend(f"{s.index}:{s.status.value}:{s.updated_at}" for s in job.slices)
    parts.extend(d.job_id for d in page.damaged)
    return hashlib.sha1("|".join(parts).encode("utf-8")).hexdigest()[:16]


def render_jobs(
    page: JobPage,
    query: JobQuery,
    location: str,
    *,
    now: float,
    nonce: str | None = None,
    api: str = "/api/jobs",
) -> str:
    """The jobs list: filters, one row per job (newest first), the pager, damaged jobs."""
    if not page.jobs:
        if page.total:
            first = escape(list_href(query, offset=0))
            table = (
                '<p id="no-match">This page is past the last one: '
                f'<a href="{first}">first page</a>.</p>'
            )
        elif query != JobQuery(limit=query.limit):
            table = '<p id="no-match">No job matches these filters.</p>'
        else:
            table = f"<p>No jobs in the task store <code>{escape(location)}</code> yet.</p>"
    else:
        rows = []
        for job in page.jobs:
            rows.append(
                f'<tr id="job-{escape(job.job_id)}">'
                f'<th scope="row"><a href="{escape(job_href(job.job_id))}">'
                f"{escape(job.job_id)}</a></th>"
                f"<td>{status_badge(job.status)}</td>"
                f'<td class="outcome">{_outcomes_cell(job)}</td>'
                f"<td>{_slices_cell(job)}</td>"
                f'<td class="when">{escape(stamp(job.created_at))}</td>'
                f'<td class="num">{escape(duration_text(job, now))}</td>'
                f"<td>{escape(str(job.space_id))} / {escape(str(job.workspace_id))}</td>"
                f"<td>{build_cell(job)}</td></tr>"
            )
        table = (
            '<table id="jobs"><caption class="muted">Runs: passed / failed / skipped</caption>'
            '<thead><tr><th scope="col">Job</th><th scope="col">Upload</th>'
            '<th scope="col">Runs</th><th scope="col">Slices</th><th scope="col">Created</th>'
            '<th scope="col">Duration</th><th scope="col">Space / workspace</th>'
            '<th scope="col">Build</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>"
        )
    results = f'<section id="results" aria-label="jobs">{table}{_pager(page, query)}'
    if page.damaged:
        items = "".join(
            f"<li><code>{escape(d.job_id)}</code>: {escape(d.problem)}</li>" for d in page.damaged
        )
        results += f'<h2>Damaged jobs</h2><ul id="damaged" class="failed">{items}</ul>'
    results += "</section>"
    api_href = api + list_href(query)[1:]
    body = (
        '<h1>Upload jobs</h1><p class="muted">Task store: '
        f"<code>{escape(location)}</code></p>{_filters(query, page.spaces)}"
        + live_updates(api_href, "results", list_version(page), 3000)
        + results
    )
    return html_page("Upload jobs", body, nonce=nonce)
