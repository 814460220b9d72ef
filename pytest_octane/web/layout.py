"""The jobs page's frame: style (light and dark), the page shell with its one optional
script (the live updater), and the small pieces every page uses."""

from __future__ import annotations

import time
from collections import Counter
from html import escape
from urllib.parse import quote, urlsplit

from pytest_octane.model import JobRecord, SliceStatus
from pytest_octane.web.charts import seconds_text

__all__ = [
    "LIVE_SCRIPT",
    "build_cell",
    "duration_text",
    "html_page",
    "job_href",
    "live_updates",
    "octane_link",
    "render_message",
    "slice_counts",
    "stamp",
    "status_badge",
]


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
td.outcome,td.when,td.num{white-space:nowrap}
"""


def stamp(epoch: object) -> str:
    if isinstance(epoch, bool) or not isinstance(epoch, int | float) or epoch <= 0:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def job_href(job_id: str, suffix: str = "") -> str:
    return "/jobs/" + quote(job_id, safe="") + suffix


def status_badge(status: SliceStatus | str, element_id: str = "") -> str:
    value = str(status)
    attr = f' id="{escape(element_id)}"' if element_id else ""
    return f'<span{attr} class="status {escape(value.lower())}">{escape(value)}</span>'


def octane_link(job: JobRecord) -> str:
    """A link to the workspace in Octane's UI, only for an http(s) server URL."""
    server = job.server.rstrip("/")
    if urlsplit(server).scheme.lower() not in ("http", "https"):
        return ""
    href = f"{server}/ui/?p={job.space_id}/{job.workspace_id}"
    return f' (<a href="{escape(href)}" rel="noopener noreferrer">open in Octane</a>)'


def html_page(title: str, body: str, *, nonce: str | None = None) -> str:
    script = f'<script nonce="{escape(nonce)}">{LIVE_SCRIPT}</script>' if nonce else ""
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} - pytest-octane</title><style>{_CSS}</style></head>"
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


def live_updates(api: str, target: str, version: str, every_ms: int) -> str:
    return (
        f'<p id="live" class="muted" aria-live="polite" data-api="{escape(api)}" '
        f'data-target="{escape(target)}" data-version="{escape(version)}" data-every="{every_ms}">'
        "Reload the page to see changes.</p>"
    )


def render_message(title: str, text: str) -> str:
    return html_page(title, f"<h1>{escape(title)}</h1><p>{escape(text)}</p>")


def slice_counts(job: JobRecord) -> Counter[SliceStatus]:
    return Counter(record.status for record in job.slices)


def duration_text(job: JobRecord, now: float) -> str:
    if job.finished_at is not None and job.finished_at >= job.created_at:
        return seconds_text(job.finished_at - job.created_at)
    if job.status is SliceStatus.RUNNING and job.created_at:
        return f"{seconds_text(max(now - job.created_at, 0.0))} so far"
    return "-"


def build_cell(job: JobRecord) -> str:
    build = job.build
    name = build.get("build_name") or build.get("build_id") or ""
    if not name:
        return '<span class="muted">-</span>'
    what = " ".join(
        escape(v) for v in (build.get("job_name") or build.get("job_id") or "", name) if v
    )
    url = build.get("url", "")
    if urlsplit(url).scheme.lower() in ("http", "https"):
        return f'<a href="{escape(url)}" rel="noopener noreferrer">{what}</a>'
    return what
