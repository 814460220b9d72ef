"""The jobs page's HTML, rendered with the standard library; every value from the store is
escaped, because error texts and request logs hold whatever Octane or a proxy answered."""

from __future__ import annotations

import hashlib
import html
import json
import shlex
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from pytest_octane.model import JobRecord, RequestLogEntry, SliceRecord, SliceStatus
from pytest_octane.store.query import JobPage, JobQuery
from pytest_octane.web.charts import (
    outcome_bar,
    outcomes_of,
    seconds_text,
    slice_times,
    timeline_svg,
)
from pytest_octane.web.retry import Notice
from pytest_octane.web.upload import SpaceChoice

__all__ = [
    "BODY_CHARS",
    "LOG_ROWS",
    "RETRY_BUTTON",
    "job_href",
    "render_job",
    "render_jobs",
    "render_message",
]

RETRY_BUTTON = "Re-upload failed slices"
#: Request log rows shown on a job page; ``pytest-octane logs JOB`` prints them all.
LOG_ROWS = 500
#: Characters of a logged request body shown (inside a collapsed block).
BODY_CHARS = 4000

_e = html.escape

_CSS = """
:root{color-scheme:light dark;--fg:#1f2328;--bg:#fff;--muted:#59636e;--line:#d1d9e0;
--head:#f6f8fa;--ok:#1a7f37;--bad:#cf222e;--run:#9a6700;--skip:#8c959f;--link:#0969da;
--wait:#d8dee4;--post:#8250df;--octane:#218bff;--budget:#d4a72c;--full:#cf222e}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--bg:#0d1117;--muted:#9198a1;
--line:#3d444d;--head:#151b23;--ok:#3fb950;--bad:#f85149;--run:#d29922;--skip:#6e7681;
--link:#4493f8;--wait:#3d444d;--post:#a371f7;--octane:#4493f8;--budget:#d29922;--full:#f85149}}
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em;color:var(--fg);background:var(--bg)}
a{color:var(--link)}h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}
th,td{border:1px solid var(--line);padding:.25em .5em;text-align:left;vertical-align:top}
thead th,th[scope=row]{background:var(--head)}td.num{text-align:right}
caption{text-align:left;font-weight:600;padding:.25em 0}
.status{font-weight:600}.success{color:var(--ok)}.failed{color:var(--bad)}
.running{color:var(--run)}
.notice{border:1px solid var(--line);padding:.5em 1em;margin:1em 0}
.notice.ok{border-color:var(--ok)}.notice.bad{border-color:var(--bad)}
pre{white-space:pre-wrap;word-break:break-word;margin:0}
code{background:var(--head);padding:0 .2em}
button,input,select{font:inherit;padding:.3em .6em}
.muted{color:var(--muted)}nav.top{display:flex;gap:1em}
form.filters{display:flex;flex-wrap:wrap;gap:.75em;align-items:end;margin:.5em 0}
form.filters label{display:flex;flex-direction:column;font-size:.9em}
.bar-passed{fill:var(--ok)}.bar-failed{fill:var(--bad)}.bar-skipped{fill:var(--skip)}
.bar-none{fill:var(--wait)}svg.outcomes{vertical-align:middle}
.counts{font-size:.85em;color:var(--muted);margin-left:.4em}
svg.timeline{max-width:1000px;display:block}
.tl-label,.tl-tick{font:11px system-ui,sans-serif;fill:var(--muted)}
.tl-grid{stroke:var(--line);stroke-width:1}
.tl-wait{fill:var(--wait)}.tl-post{fill:var(--post)}.tl-octane{fill:var(--octane)}
.tl-budget{fill:var(--budget)}.tl-queuefull{fill:var(--full);opacity:.8}
.tl-ok{fill:var(--ok)}.tl-bad{fill:var(--bad)}
.legend span{display:inline-block;margin-right:1em}
.legend i{display:inline-block;width:.9em;height:.9em;margin-right:.3em;vertical-align:-.1em}
.pager{display:flex;gap:1em;align-items:center}
"""


def _stamp(epoch: object) -> str:
    if isinstance(epoch, bool) or not isinstance(epoch, int | float) or epoch <= 0:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def job_href(job_id: str, suffix: str = "") -> str:
    return "/jobs/" + quote(job_id, safe="") + suffix


def _status(status: SliceStatus | str, element_id: str = "") -> str:
    value = str(status)
    attr = f' id="{_e(element_id)}"' if element_id else ""
    return f'<span{attr} class="status {_e(value.lower())}">{_e(value)}</span>'


def _octane_link(job: JobRecord) -> str:
    """A link to the workspace in Octane's UI, only for an http(s) server URL."""
    server = job.server.rstrip("/")
    if urlsplit(server).scheme.lower() not in ("http", "https"):
        return ""
    href = f"{server}/ui/?p={job.space_id}/{job.workspace_id}"
    return f' (<a href="{_e(href)}" rel="noopener noreferrer">open in Octane</a>)'


def _page(title: str, body: str, *, nonce: str | None = None) -> str:
    script = f'<script nonce="{_e(nonce)}">{LIVE_SCRIPT}</script>' if nonce else ""
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)} - pytest-octane</title><style>{_CSS}</style></head>"
        '<body><nav class="top muted" aria-label="pages"><a href="/">all jobs</a>'
        f'<a href="/upload">upload results</a></nav><main>{body}</main>{script}</body></html>\n'
    )


#: Polls the page's JSON (``data-api``); when its ``version`` changes, fetches the page again
#: and swaps the element ``data-target``; stops when the JSON says ``live: false``.
LIVE_SCRIPT = """(function(){
var box=document.getElementById('live');if(!box||!window.fetch)return;
var every=+box.dataset.every||2000,left=1800,version=box.dataset.version;
function say(t){box.textContent=t;}
say('Updating live.');
function swap(){return fetch(location.href,{credentials:'same-origin'}).then(function(r){
return r.text();}).then(function(t){var doc=new DOMParser().parseFromString(t,'text/html');
var fresh=doc.getElementById(box.dataset.target),old=document.getElementById(box.dataset.target);
if(fresh&&old)old.replaceWith(fresh);var nb=doc.getElementById('live');
if(nb)version=nb.dataset.version;});}
function tick(){if(--left<0){say('Live updates paused: reload the page.');return;}
fetch(box.dataset.api,{credentials:'same-origin',headers:{'Accept':'application/json'}})
.then(function(r){if(!r.ok)throw new Error(r.status);return r.json();}).then(function(d){
var next=d.version!==version?swap():Promise.resolve();return next.then(function(){
if(d.live){setTimeout(tick,every);}else{say('The job has ended; live updates stopped.');
box.dataset.ended='1';}});}).catch(function(){setTimeout(tick,every*2);});}
setTimeout(tick,every);})();"""


def _live(api: str, target: str, version: str, every_ms: int) -> str:
    return (
        f'<p id="live" class="muted" aria-live="polite" data-api="{_e(api)}" '
        f'data-target="{_e(target)}" data-version="{_e(version)}" data-every="{every_ms}">'
        "Reload the page to see changes.</p>"
    )


def render_message(title: str, text: str) -> str:
    return _page(title, f"<h1>{_e(title)}</h1><p>{_e(text)}</p>")


def _counts(job: JobRecord) -> Counter[SliceStatus]:
    return Counter(record.status for record in job.slices)


def _duration(job: JobRecord, now: float) -> str:
    if job.finished_at is not None and job.finished_at >= job.created_at:
        return seconds_text(job.finished_at - job.created_at)
    if job.status is SliceStatus.RUNNING and job.created_at:
        return f"{seconds_text(max(now - job.created_at, 0.0))} so far"
    return "-"


def _build_cell(job: JobRecord) -> str:
    build = job.build
    name = build.get("build_name") or build.get("build_id") or ""
    if not name:
        return '<span class="muted">-</span>'
    what = " ".join(_e(v) for v in (build.get("job_name") or build.get("job_id") or "", name) if v)
    url = build.get("url", "")
    if urlsplit(url).scheme.lower() in ("http", "https"):
        return f'<a href="{_e(url)}" rel="noopener noreferrer">{what}</a>'
    return what


def _slices_cell(job: JobRecord) -> str:
    counts = _counts(job)
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
        return f'<option value="{_e(value)}"{selected}>{_e(label)}</option>'

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
        f'value="{_e(query.text)}" size="30"></label>'
        '<button type="submit" id="filter">Filter</button>'
        + (' <a href="/">clear</a>' if list_href(query, offset=0) != "/" else "")
        + "</form>"
    )


def _pager(page: JobPage, query: JobQuery) -> str:
    pages = max((page.total + query.limit - 1) // query.limit, 1)
    current = query.offset // query.limit + 1
    before = _e(list_href(query, offset=query.offset - query.limit))
    after = _e(list_href(query, offset=query.offset + query.limit))
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
        if page.total or query != JobQuery(limit=query.limit):
            table = '<p id="no-match">No job matches these filters.</p>'
        else:
            table = f"<p>No jobs in the task store <code>{_e(location)}</code> yet.</p>"
    else:
        rows = []
        for job in page.jobs:
            rows.append(
                f'<tr id="job-{_e(job.job_id)}">'
                f'<th scope="row"><a href="{_e(job_href(job.job_id))}">{_e(job.job_id)}</a></th>'
                f"<td>{_status(job.status)}</td>"
                f'<td class="outcome">{_outcomes_cell(job)}</td>'
                f"<td>{_slices_cell(job)}</td>"
                f"<td>{_e(_stamp(job.created_at))}</td>"
                f'<td class="num">{_e(_duration(job, now))}</td>'
                f"<td>{_e(str(job.space_id))} / {_e(str(job.workspace_id))}</td>"
                f"<td>{_build_cell(job)}</td></tr>"
            )
        table = (
            '<table id="jobs"><caption class="muted">Runs: passed / failed / skipped</caption>'
            '<thead><tr><th scope="col">Job</th><th scope="col">Status</th>'
            '<th scope="col">Runs</th><th scope="col">Slices</th><th scope="col">Created</th>'
            '<th scope="col">Duration</th><th scope="col">Space / workspace</th>'
            '<th scope="col">Build</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>"
        )
    results = f'<section id="results" aria-label="jobs">{table}{_pager(page, query)}'
    if page.damaged:
        items = "".join(
            f"<li><code>{_e(d.job_id)}</code>: {_e(d.problem)}</li>" for d in page.damaged
        )
        results += f'<h2>Damaged jobs</h2><ul id="damaged" class="failed">{items}</ul>'
    results += "</section>"
    api_href = api + list_href(query)[1:]
    body = (
        '<h1>Upload jobs</h1><p class="muted">Task store: '
        f"<code>{_e(location)}</code></p>{_filters(query, page.spaces)}"
        + _live(api_href, "results", list_version(page), 3000)
        + results
    )
    return _page("Upload jobs", body, nonce=nonce)


def _slice_row(record: SliceRecord) -> str:
    task = "-" if record.task_id is None else str(record.task_id)
    index = _e(str(record.index))
    return (
        f'<tr id="slice-{index}"><td class="num">{index}</td>'
        f'<td class="num">{_e(str(record.run_count))}</td><td class="num">{_e(task)}</td>'
        f"<td>{_status(record.status)}</td>"
        f'<td class="num">{_e(str(record.attempts))}</td>'
        f"<td>{_e(record.server_status or '')}</td>"
        f"<td><pre>{_e(record.last_error or '')}</pre></td>"
        f"<td><pre>{_e(record.error_details or '')}</pre></td>"
        f"<td>{_e(_stamp(record.updated_at))}</td></tr>"
    )


def _history_rows(history: Iterable[Mapping[str, Any]]) -> str:
    rows = []
    for event in history:
        rest = {k: v for k, v in event.items() if k not in ("time", "event")}
        details = json.dumps(rest, default=str, sort_keys=True) if rest else ""
        rows.append(
            f"<tr><td>{_e(_stamp(event.get('time')))}</td><td>{_e(str(event.get('event')))}</td>"
            f"<td><pre>{_e(details)}</pre></td></tr>"
        )
    return "".join(rows)


def _request_rows(entries: Sequence[RequestLogEntry]) -> str:
    rows = []
    for entry in entries:
        body = ""
        if entry.body:
            shown = entry.body[:BODY_CHARS]
            more = (
                f"\n... ({len(entry.body) - BODY_CHARS} more characters)"
                if shown != entry.body
                else ""
            )
            body = f"<details><summary>body</summary><pre>{_e(shown + more)}</pre></details>"
        status = "---" if entry.status is None else str(entry.status)
        rows.append(
            f"<tr><td>{_e(_stamp(entry.time))}</td><td>{_e(entry.method)}</td>"
            f'<td class="num">{_e(status)}</td><td class="num">{entry.duration_ms}</td>'
            f"<td><pre>{_e(entry.url)}</pre>{body}</td><td>{_e(entry.correlation_id)}</td>"
            f"<td><pre>{_e(entry.error or '')}</pre></td></tr>"
        )
    return "".join(rows)


def _commands(job: JobRecord, location: str) -> tuple[str, str]:
    from pytest_octane.job.engine import JobOutcome

    outcome = JobOutcome(job=job, store_location=location)
    return outcome.retry_command(), outcome.resume_command()


def _notice_block(notice: Notice) -> str:
    title = "succeeded" if notice.ok else "did not succeed"
    lines = "\n".join(notice.lines)
    progress = ""
    if notice.progress:
        progress = (
            "<details><summary>progress</summary>"
            f"<pre>{_e(chr(10).join(notice.progress))}</pre></details>"
        )
    return (
        f'<div id="notice" class="notice {"ok" if notice.ok else "bad"}">'
        f"<p><strong>{_e(notice.kind)} started from this page at {_e(_stamp(notice.when))} "
        f"{title}.</strong></p><pre>{_e(lines)}</pre>{progress}</div>"
    )


def job_version(job: JobRecord, *, busy: bool, notice: Notice | None) -> str:
    """Changes whenever the job page would show something new."""
    parts = [job.status.value, str(job.finished_at), str(len(job.history)), str(busy)]
    parts.append(str(notice.when) if notice is not None else "-")
    parts.extend(f"{s.index}:{s.status.value}:{s.updated_at}" for s in job.slices)
    return hashlib.sha1("|".join(parts).encode("utf-8")).hexdigest()[:16]


def job_is_live(job: JobRecord, busy: bool) -> bool:
    return busy or job.status is SliceStatus.RUNNING


_LEGEND = (
    ("tl-wait", "spooled, waiting to be sent"),
    ("tl-budget", "waiting for a queue budget slot"),
    ("tl-post", "sending (POST)"),
    ("tl-queuefull", "Octane queue full, retried"),
    ("tl-octane", "queued/running in Octane"),
    ("tl-ok", "done: success"),
    ("tl-bad", "done: failed"),
)


def _opt_seconds(value: float | None) -> str:
    return "-" if value is None else seconds_text(value)


def _timeline_block(job: JobRecord, now: float) -> str:
    _, times = slice_times(job, now)
    legend = "".join(
        f'<span><svg width="12" height="12" aria-hidden="true"><rect class="{cls}" '
        f'width="12" height="12"/></svg> {_e(text)}</span>'
        for cls, text in _LEGEND
    )
    rows = "".join(
        f'<tr><th scope="row">{t.index}</th><td>{_status(t.status)}</td>'
        f'<td class="num">{_e(seconds_text(t.spooled))}</td>'
        f'<td class="num">{_e(_opt_seconds(t.budget_wait or None))}</td>'
        f'<td class="num">{_e(_opt_seconds(t.sent))}</td>'
        f'<td class="num">{_e(_opt_seconds(t.queue_full_wait or None))}</td>'
        f'<td class="num">{_e(_opt_seconds(t.accepted))}</td>'
        f'<td class="num">{_e(_opt_seconds(t.done))}</td></tr>'
        for t in times
    )
    table = (
        '<details><summary>The timeline as a table</summary><table id="timeline-table">'
        "<caption>Seconds after the job started</caption><thead><tr>"
        '<th scope="col">Slice</th><th scope="col">Status</th><th scope="col">Spooled</th>'
        '<th scope="col">Budget wait</th><th scope="col">Sent</th>'
        '<th scope="col">Queue-full wait</th><th scope="col">In Octane</th>'
        f'<th scope="col">Done</th></tr></thead><tbody>{rows}</tbody></table></details>'
    )
    return (
        '<h2 id="timeline-heading">Timeline</h2>'
        + timeline_svg(job, now)
        + f'<p class="legend muted">{legend}</p>'
        + table
    )


def _failures_block(job: JobRecord, search: str, href: str) -> str:
    found = [(s.index, f) for s in sorted(job.slices, key=lambda s: s.index) for f in s.failures]
    total_failed = sum(s.runs_failed for s in job.slices)
    needle = search.strip().lower()
    shown = [(i, f) for i, f in found if not needle or needle in f"{f.name}\n{f.message}".lower()]
    form = (
        f'<form class="filters" method="get" action="{_e(href)}" role="search" '
        'aria-label="search failed tests"><label for="t-q">Test name or message'
        f'<input id="t-q" type="search" name="q" value="{_e(search)}" size="30"></label>'
        '<button type="submit" id="search-tests">Search</button></form>'
    )
    head = f'<h2 id="failures-heading">Failed tests ({total_failed})</h2>'
    if not found:
        note = (
            "No failed tests."
            if not total_failed
            else "The failed tests' names were not recorded for this job."
        )
        return f'{head}<p class="muted">{note}</p>'
    rows = "".join(
        f'<tr><th scope="row">{_e(f.name)}</th><td class="num">{i}</td>'
        f"<td>{_e(f.error_type)}</td><td><pre>{_e(f.message)}</pre></td></tr>"
        for i, f in shown
    )
    count = (
        f'<p class="muted" id="failures-count">{len(shown)} of {len(found)} shown'
        + (f" for &ldquo;{_e(search)}&rdquo;" if needle else "")
        + (f"; the spool holds all {total_failed}" if total_failed > len(found) else "")
        + "</p>"
    )
    table = (
        '<table id="failures"><thead><tr><th scope="col">Test</th><th scope="col">Slice</th>'
        '<th scope="col">Error</th><th scope="col">Message</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
        if shown
        else ""
    )
    return head + form + count + table


def render_job(
    job: JobRecord,
    requests: Sequence[RequestLogEntry],
    *,
    location: str,
    csrf: str,
    notice: Notice | None = None,
    busy: bool = False,
    now: float | None = None,
    search: str = "",
    nonce: str | None = None,
) -> str:
    """One job: summary, the re-upload button, timeline, failed tests, slices, history and
    the request log; while the job runs, the live script keeps it current."""
    now = time.time() if now is None else now
    counts = _counts(job)
    retry_command, resume_command = _commands(job, location)
    build = ", ".join(f"{k}={v}" for k, v in sorted(job.build.items())) or "-"
    outcomes = outcomes_of(job)
    parts = [
        f'<div id="job-live"><h1>Job {_e(job.job_id)} {_status(job.status, "job-status")}</h1>',
        '<table id="summary"><tbody>',
        f'<tr><th scope="row">Runs</th><td>{outcome_bar(outcomes)} '
        f'<span id="outcomes">{_e(outcomes.text())}</span></td></tr>',
        f'<tr><th scope="row">Server</th><td>{_e(job.server)}{_octane_link(job)}</td></tr>',
        f'<tr><th scope="row">Shared space / workspace</th><td>{_e(str(job.space_id))} / '
        f"{_e(str(job.workspace_id))}</td></tr>",
        f'<tr><th scope="row">Created</th><td>{_e(_stamp(job.created_at))}</td></tr>',
        f'<tr><th scope="row">Finished</th><td>{_e(_stamp(job.finished_at))}</td></tr>',
        f'<tr><th scope="row">Duration</th><td>{_e(_duration(job, now))}</td></tr>',
        f'<tr><th scope="row">Build</th><td>{_build_cell(job)} '
        f'<span class="muted">{_e(build)}</span></td></tr>',
        f'<tr><th scope="row">Slices</th><td>{len(job.slices)}: {counts[SliceStatus.SUCCESS]} '
        f"ok, {counts[SliceStatus.FAILED]} failed, {counts[SliceStatus.RUNNING]} unfinished "
        f"({sum(s.run_count for s in job.slices)} runs)</td></tr>",
        f'<tr><th scope="row">Task store</th><td><code>{_e(location)}</code></td></tr>',
        "</tbody></table>",
    ]
    if notice is not None:
        parts.append(_notice_block(notice))
    if busy:
        parts.append(
            '<p id="busy" class="notice">An upload of this job started from this page is '
            "running; this page follows it.</p>"
        )
    if counts[SliceStatus.FAILED]:
        parts.append(
            f'<form method="post" action="{_e(job_href(job.job_id, "/retry"))}">'
            f'<input type="hidden" name="csrf" value="{_e(csrf)}">'
            f'<button type="submit" id="retry">{_e(RETRY_BUTTON)}</button></form>'
            f'<p class="muted">Sends each Failed slice again as a new Octane task, never a '
            f"successful one; the same as <code>{_e(retry_command)}</code></p>"
        )
    if counts[SliceStatus.RUNNING]:
        parts.append(
            '<p class="muted">Some slices are unfinished. If the upload that started this job '
            f"is no longer running, finish it with <code>{_e(resume_command)}</code></p>"
        )
    href = job_href(job.job_id)
    parts += [
        _timeline_block(job, now),
        _failures_block(job, search, href),
        "<h2>Slices</h2>",
        '<table id="slices"><thead><tr><th scope="col">Slice</th><th scope="col">Runs</th>'
        '<th scope="col">Task id</th><th scope="col">Status</th><th scope="col">Attempts</th>'
        '<th scope="col">Octane status</th><th scope="col">Error</th>'
        '<th scope="col">Error details</th><th scope="col">Updated</th></tr></thead><tbody>',
        *(_slice_row(record) for record in sorted(job.slices, key=lambda s: s.index)),
        "</tbody></table>",
        "<h2>History</h2>",
    ]
    if job.history:
        parts.append(
            '<table id="history"><tr><th>Time</th><th>Event</th><th>Details</th></tr>'
            + _history_rows(job.history)
            + "</table>"
        )
    else:
        parts.append('<p class="muted">No re-uploads, resumes or delinks yet.</p>')
    if job.settings:
        rows = "".join(
            f"<tr><th>{_e(str(k))}</th><td>{_e(json.dumps(v, default=str))}</td></tr>"
            for k, v in sorted(job.settings.items())
        )
        parts.append(
            f"<details><summary>Recorded upload settings</summary><table>{rows}</table></details>"
        )
    parts.append("<h2>Request log</h2>")
    shown = requests[-LOG_ROWS:]
    if len(requests) > len(shown):
        parts.append(
            f'<p class="muted">The last {len(shown)} of {len(requests)} requests; '
            f"<code>{_e(f'pytest-octane logs {job.job_id} --task-store {shlex.quote(location)}')}"
            "</code> prints them all.</p>"
        )
    if shown:
        parts.append(
            '<table id="requests"><tr><th>Time</th><th>Method</th><th>Status</th><th>ms</th>'
            "<th>URL</th><th>Correlation id</th><th>Error</th></tr>"
            + _request_rows(shown)
            + "</table>"
        )
    else:
        parts.append('<p class="muted">No requests logged.</p>')
    parts.append("</div>")
    live = ""
    if job_is_live(job, busy):
        api = "/api" + href
        live = _live(api, "job-live", job_version(job, busy=busy, notice=notice), 2000)
    return _page(f"Job {job.job_id}", live + "".join(parts), nonce=nonce if live else None)


def render_upload(
    choices: Sequence[SpaceChoice],
    problem: str | None,
    *,
    csrf: str,
    max_bytes: int,
    error: str | None = None,
) -> str:
    """The upload form: XML files, a shared space of the spaces file, suite, JIRA story."""
    parts = ["<h1>Upload results</h1>"]
    if error:
        parts.append(f'<p id="upload-error" class="notice bad" role="alert">{_e(error)}</p>')
    if problem:
        parts.append(f'<p id="no-spaces" class="notice bad">{_e(problem)}</p>')
        return _page("Upload results", "".join(parts))
    options = "".join(f'<option value="{c.space}">{_e(c.label)}</option>' for c in choices)
    parts.append(
        '<form id="upload" method="post" action="/upload" enctype="multipart/form-data">'
        f'<input type="hidden" name="csrf" value="{_e(csrf)}">'
        '<p><label for="u-files">JUnit or Octane XML files</label><br>'
        '<input id="u-files" type="file" name="files" multiple required '
        'accept=".xml,application/xml,text/xml"></p>'
        f'<p><label for="u-space">Shared space</label><br><select id="u-space" name="space" '
        f"required>{options}</select></p>"
        '<p><label for="u-suite">Suite path (optional)</label><br><input id="u-suite" '
        'name="suite" size="40" placeholder="MODULE/SUITE"></p>'
        '<p><label for="u-jira">JIRA story for the whole job (optional; needs a suite)</label>'
        '<br><input id="u-jira" name="jira" size="20" placeholder="PROJ-123"></p>'
        '<p><button type="submit" id="start-upload">Start the upload</button></p></form>'
        f'<p class="muted">At most {max_bytes // (1024 * 1024)} MiB in all. The files are read '
        "as <code>pytest-octane upload</code> reads them and the job starts at once; its page "
        "follows it live.</p>"
    )
    return _page("Upload results", "".join(parts))
