"""The jobs page's HTML, rendered with the standard library; every value from the store is
escaped, because error texts and request logs hold whatever Octane or a proxy answered."""

from __future__ import annotations

import html
import json
import shlex
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

from pytest_octane.job.evidence.files import attachments_summary
from pytest_octane.model import JobRecord, RequestLogEntry, SliceRecord, SliceStatus
from pytest_octane.store import DamagedJob
from pytest_octane.web.retry import Notice

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
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right}
.status{font-weight:600}.success{color:#1a7f37}.failed{color:#c62828}.running{color:#9a6700}
.notice{border:1px solid #ccc;padding:.5em 1em;margin:1em 0}
.notice.ok{border-color:#1a7f37}.notice.bad{border-color:#c62828}
pre{white-space:pre-wrap;word-break:break-word;margin:0}
code{background:#f3f3f3;padding:0 .2em}
button{font-size:1em;padding:.35em 1em}
.muted{color:#666}
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


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)} - pytest-octane</title><style>{_CSS}</style></head>"
        f'<body><p class="muted"><a href="/">all jobs</a></p>{body}</body></html>\n'
    )


def render_message(title: str, text: str) -> str:
    return _page(title, f"<h1>{_e(title)}</h1><p>{_e(text)}</p>")


def _counts(job: JobRecord) -> Counter[SliceStatus]:
    return Counter(record.status for record in job.slices)


def render_jobs(
    jobs: Sequence[JobRecord], location: str, damaged: Sequence[DamagedJob] = ()
) -> str:
    """The jobs table, newest first (the store's order), then one line per damaged job."""
    if not jobs:
        table = f"<p>No jobs in the task store <code>{_e(location)}</code> yet.</p>"
    else:
        rows = []
        for job in jobs:
            counts = _counts(job)
            rows.append(
                f'<tr id="job-{_e(job.job_id)}">'
                f'<td><a href="{_e(job_href(job.job_id))}">{_e(job.job_id)}</a></td>'
                f"<td>{_e(str(job.space_id))} / {_e(str(job.workspace_id))}</td>"
                f"<td>{_e(job.server)}</td>"
                f"<td>{_e(_stamp(job.created_at))}</td>"
                f'<td class="num">{sum(s.run_count for s in job.slices)}</td>'
                f'<td class="num">{counts[SliceStatus.SUCCESS]}</td>'
                f'<td class="num">{counts[SliceStatus.FAILED]}</td>'
                f'<td class="num">{counts[SliceStatus.RUNNING]}</td>'
                f"<td>{_status(job.status)}</td></tr>"
            )
        table = (
            '<table id="jobs"><tr><th>Job</th><th>Space / workspace</th><th>Server</th>'
            "<th>Created</th><th>Runs</th><th>Slices OK</th><th>Failed</th><th>Running</th>"
            "<th>Status</th></tr>" + "".join(rows) + "</table>"
        )
    body = (
        f'<h1>Upload jobs</h1><p class="muted">Task store: <code>{_e(location)}</code></p>{table}'
    )
    if damaged:
        items = "".join(f"<li><code>{_e(d.job_id)}</code>: {_e(d.problem)}</li>" for d in damaged)
        body += f'<h2>Damaged jobs</h2><ul id="damaged" class="failed">{items}</ul>'
    return _page("Upload jobs", body)


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
        f"<p><strong>Re-upload started from this page at {_e(_stamp(notice.when))} "
        f"{title}.</strong></p><pre>{_e(lines)}</pre>{progress}</div>"
    )


def render_job(
    job: JobRecord,
    requests: Sequence[RequestLogEntry],
    *,
    location: str,
    csrf: str,
    notice: Notice | None = None,
    busy: bool = False,
    damaged_requests: Sequence[str] = (),
) -> str:
    """One job: summary, the re-upload button, slices, history and the request log (its
    healthy entries, then one line per damaged one)."""
    counts = _counts(job)
    retry_command, resume_command = _commands(job, location)
    build = ", ".join(f"{k}={v}" for k, v in sorted(job.build.items())) or "-"
    parts = [
        f"<h1>Job {_e(job.job_id)} {_status(job.status, 'job-status')}</h1>",
        "<table>",
        f"<tr><th>Server</th><td>{_e(job.server)}{_octane_link(job)}</td></tr>",
        f"<tr><th>Shared space / workspace</th><td>{_e(str(job.space_id))} / "
        f"{_e(str(job.workspace_id))}</td></tr>",
        f"<tr><th>Created</th><td>{_e(_stamp(job.created_at))}</td></tr>",
        f"<tr><th>Finished</th><td>{_e(_stamp(job.finished_at))}</td></tr>",
        f"<tr><th>Build</th><td>{_e(build)}</td></tr>",
        f"<tr><th>Slices</th><td>{len(job.slices)}: {counts[SliceStatus.SUCCESS]} ok, "
        f"{counts[SliceStatus.FAILED]} failed, {counts[SliceStatus.RUNNING]} unfinished "
        f"({sum(s.run_count for s in job.slices)} runs)</td></tr>",
        f"<tr><th>Task store</th><td><code>{_e(location)}</code></td></tr>",
        # issue 23: attached files (sent, refused with why, pending); each also in History
        *(
            f'<tr><th>Attachments</th><td id="attachments">{_e("; ".join(lines))}</td></tr>'
            for lines in [attachments_summary(job)]
            if lines
        ),
        "</table>",
    ]
    if notice is not None:
        parts.append(_notice_block(notice))
    if busy:
        parts.append(
            '<p id="busy" class="notice">A re-upload of this job started from this page is '
            "running; reload to see its progress.</p>"
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
    parts += [
        "<h2>Slices</h2>",
        '<table id="slices"><tr><th>Slice</th><th>Runs</th><th>Task id</th><th>Status</th>'
        "<th>Attempts</th><th>Octane status</th><th>Error</th><th>Error details</th>"
        "<th>Updated</th></tr>",
        *(_slice_row(record) for record in sorted(job.slices, key=lambda s: s.index)),
        "</table>",
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
    if damaged_requests:
        items = "".join(f"<li>{_e(problem)}</li>" for problem in damaged_requests)
        parts.append(f'<ul id="damaged-requests" class="failed">{items}</ul>')
    return _page(f"Job {job.job_id}", "".join(parts))
