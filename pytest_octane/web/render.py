"""The jobs page's HTML, rendered with the standard library; every value from the store is
escaped, because error texts and request logs hold whatever Octane or a proxy answered."""

from __future__ import annotations

import hashlib
import json
import shlex
import time
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

from pytest_octane.job.evidence.files import attachments_summary
from pytest_octane.model import JobRecord, RequestLogEntry, SliceRecord, SliceStatus
from pytest_octane.web.charts import (
    outcome_bar,
    outcomes_of,
    seconds_text,
    slice_times,
    timeline_svg,
)
from pytest_octane.web.layout import (
    build_cell,
    duration_text,
    html_page,
    job_href,
    live_updates,
    octane_link,
    slice_counts,
    stamp,
    status_badge,
)
from pytest_octane.web.retry import Notice
from pytest_octane.web.upload import SpaceChoice

__all__ = [
    "BODY_CHARS",
    "LOG_ROWS",
    "RETRY_BUTTON",
    "job_is_live",
    "job_version",
    "render_job",
]

RETRY_BUTTON = "Re-upload failed slices"
#: Request log rows shown on a job page; ``pytest-octane logs JOB`` prints them all.
LOG_ROWS = 500
#: Characters of a logged request body shown (inside a collapsed block).
BODY_CHARS = 4000


def _slice_row(record: SliceRecord) -> str:
    task = "-" if record.task_id is None else str(record.task_id)
    index = escape(str(record.index))
    return (
        f'<tr id="slice-{index}"><td class="num">{index}</td>'
        f'<td class="num">{escape(str(record.run_count))}</td><td class="num">{escape(task)}</td>'
        f"<td>{status_badge(record.status)}</td>"
        f'<td class="num">{escape(str(record.attempts))}</td>'
        f"<td>{escape(record.server_status or '')}</td>"
        f"<td><pre>{escape(record.last_error or '')}</pre></td>"
        f"<td><pre>{escape(record.error_details or '')}</pre></td>"
        f"<td>{escape(stamp(record.updated_at))}</td></tr>"
    )


def _history_rows(history: Iterable[Mapping[str, Any]]) -> str:
    rows = []
    for event in history:
        rest = {k: v for k, v in event.items() if k not in ("time", "event")}
        details = json.dumps(rest, default=str, sort_keys=True) if rest else ""
        rows.append(
            f"<tr><td>{escape(stamp(event.get('time')))}</td><td>{escape(str(event.get('event')))}</td>"
            f"<td><pre>{escape(details)}</pre></td></tr>"
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
            body = f"<details><summary>body</summary><pre>{escape(shown + more)}</pre></details>"
        status = "---" if entry.status is None else str(entry.status)
        rows.append(
            f"<tr><td>{escape(stamp(entry.time))}</td><td>{escape(entry.method)}</td>"
            f'<td class="num">{escape(status)}</td><td class="num">{entry.duration_ms}</td>'
            f"<td><pre>{escape(entry.url)}</pre>{body}</td><td>{escape(entry.correlation_id)}</td>"
            f"<td><pre>{escape(entry.error or '')}</pre></td></tr>"
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
            f"<pre>{escape(chr(10).join(notice.progress))}</pre></details>"
        )
    return (
        f'<div id="notice" class="notice {"ok" if notice.ok else "bad"}">'
        f"<p><strong>{escape(notice.kind)} started from this page at {escape(stamp(notice.when))} "
        f"{title}.</strong></p><pre>{escape(lines)}</pre>{progress}</div>"
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
        f'width="12" height="12"/></svg> {escape(text)}</span>'
        for cls, text in _LEGEND
    )
    rows = "".join(
        f'<tr><th scope="row">{t.index}</th><td>{status_badge(t.status)}</td>'
        f'<td class="num">{escape(seconds_text(t.spooled))}</td>'
        f'<td class="num">{escape(_opt_seconds(t.budget_wait or None))}</td>'
        f'<td class="num">{escape(_opt_seconds(t.sent))}</td>'
        f'<td class="num">{escape(_opt_seconds(t.queue_full_wait or None))}</td>'
        f'<td class="num">{escape(_opt_seconds(t.accepted))}</td>'
        f'<td class="num">{escape(_opt_seconds(t.done))}</td></tr>'
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
        f'<form class="filters" method="get" action="{escape(href)}" role="search" '
        'aria-label="search failed tests"><label for="t-q">Test name or message'
        f'<input id="t-q" type="search" name="q" value="{escape(search)}" size="30"></label>'
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
        f'<tr><th scope="row">{escape(f.name)}</th><td class="num">{i}</td>'
        f"<td>{escape(f.error_type)}</td><td><pre>{escape(f.message)}</pre></td></tr>"
        for i, f in shown
    )
    count = (
        f'<p class="muted" id="failures-count">{len(shown)} of {len(found)} shown'
        + (f" for &ldquo;{escape(search)}&rdquo;" if needle else "")
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
    damaged_requests: Sequence[str] = (),
) -> str:
    """One job: summary, the re-upload button, timeline, failed tests, slices, history and
    the request log (its healthy entries, then one line per damaged one); while the job
    runs, the live script keeps it current."""
    now = time.time() if now is None else now
    counts = slice_counts(job)
    retry_command, resume_command = _commands(job, location)
    build = ", ".join(f"{k}={v}" for k, v in sorted(job.build.items())) or "-"
    outcomes = outcomes_of(job)
    parts = [
        f'<div id="job-live"><h1>Job {escape(job.job_id)} '
        f"{status_badge(job.status, 'job-status')}</h1>",
        '<table id="summary"><tbody>',
        f'<tr><th scope="row">Runs</th><td>{outcome_bar(outcomes)} '
        f'<span id="outcomes">{escape(outcomes.text())}</span></td></tr>',
        f'<tr><th scope="row">Server</th><td>{escape(job.server)}{octane_link(job)}</td></tr>',
        f'<tr><th scope="row">Shared space / workspace</th><td>{escape(str(job.space_id))} / '
        f"{escape(str(job.workspace_id))}</td></tr>",
        f'<tr><th scope="row">Created</th><td>{escape(stamp(job.created_at))}</td></tr>',
        f'<tr><th scope="row">Finished</th><td>{escape(stamp(job.finished_at))}</td></tr>',
        f'<tr><th scope="row">Duration</th><td>{escape(duration_text(job, now))}</td></tr>',
        f'<tr><th scope="row">Build</th><td>{build_cell(job)} '
        f'<span class="muted">{escape(build)}</span></td></tr>',
        f'<tr><th scope="row">Slices</th><td>{len(job.slices)}: {counts[SliceStatus.SUCCESS]} '
        f"ok, {counts[SliceStatus.FAILED]} failed, {counts[SliceStatus.RUNNING]} unfinished "
        f"({sum(s.run_count for s in job.slices)} runs)</td></tr>",
        f'<tr><th scope="row">Task store</th><td><code>{escape(location)}</code></td></tr>',
        # issue 23: attached files (sent, refused with why, pending); each also in History
        *(
            f'<tr><th scope="row">Attachments</th><td id="attachments">'
            f"{escape('; '.join(lines))}</td></tr>"
            for lines in [attachments_summary(job)]
            if lines
        ),
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
            f'<form method="post" action="{escape(job_href(job.job_id, "/retry"))}">'
            f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
            f'<button type="submit" id="retry">{escape(RETRY_BUTTON)}</button></form>'
            f'<p class="muted">Sends each Failed slice again as a new Octane task, never a '
            f"successful one; the same as <code>{escape(retry_command)}</code></p>"
        )
    if counts[SliceStatus.RUNNING]:
        parts.append(
            '<p class="muted">Some slices are unfinished. If the upload that started this job '
            f"is no longer running, finish it with <code>{escape(resume_command)}</code></p>"
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
            f"<tr><th>{escape(str(k))}</th><td>{escape(json.dumps(v, default=str))}</td></tr>"
            for k, v in sorted(job.settings.items())
        )
        parts.append(
            f"<details><summary>Recorded upload settings</summary><table>{rows}</table></details>"
        )
    parts.append("<h2>Request log</h2>")
    shown = requests[-LOG_ROWS:]
    if len(requests) > len(shown):
        logs_command = f"pytest-octane logs {job.job_id} --task-store {shlex.quote(location)}"
        parts.append(
            f'<p class="muted">The last {len(shown)} of {len(requests)} requests; '
            f"<code>{escape(logs_command)}"
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
    if damaged_requests:
        items = "".join(f"<li>{escape(problem)}</li>" for problem in damaged_requests)
        parts.append(f'<ul id="damaged-requests" class="failed">{items}</ul>')
    parts.append("</div>")
    live = ""
    if job_is_live(job, busy):
        api = "/api" + href
        live = live_updates(api, "job-live", job_version(job, busy=busy, notice=notice), 2000)
    return html_page(f"Job {job.job_id}", live + "".join(parts), nonce=nonce if live else None)


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
        parts.append(f'<p id="upload-error" class="notice bad" role="alert">{escape(error)}</p>')
    if problem:
        parts.append(f'<p id="no-spaces" class="notice bad">{escape(problem)}</p>')
        return html_page("Upload results", "".join(parts))
    options = "".join(f'<option value="{c.space}">{escape(c.label)}</option>' for c in choices)
    parts.append(
        '<form id="upload" method="post" action="/upload" enctype="multipart/form-data">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
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
    return html_page("Upload results", "".join(parts))
