"""The jobs page's charts as inline SVG drawn on the server: no script, no external asset.

Every chart has a text alternative: an ``aria-label`` (and ``<title>``) that says what it
shows, and the job page repeats the timeline as a table.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_octane.model import JobRecord, SliceRecord, SliceStatus

__all__ = [
    "Outcomes",
    "SliceTimes",
    "outcome_bar",
    "outcomes_of",
    "slice_times",
    "timeline_svg",
]

_e = html.escape
_MIN_SEGMENT = 3.0


@dataclass(frozen=True, slots=True)
class Outcomes:
    """A job's runs by outcome, as counted when its slices were spooled."""

    passed: int
    failed: int
    skipped: int
    total: int  # every run, also those of slices spooled before counts were recorded

    @property
    def counted(self) -> int:
        return self.passed + self.failed + self.skipped

    def text(self) -> str:
        if not self.total:
            return "no runs"
        if not self.counted:
            return f"{self.total} runs (outcomes not recorded)"
        return f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped"


def outcomes_of(job: JobRecord) -> Outcomes:
    return Outcomes(
        passed=sum(s.runs_passed for s in job.slices),
        failed=sum(s.runs_failed for s in job.slices),
        skipped=sum(s.runs_skipped for s in job.slices),
        total=sum(s.run_count for s in job.slices),
    )


def outcome_bar(outcomes: Outcomes, *, width: int = 140, height: int = 14) -> str:
    """A stacked bar of passed (green), failed (red) and skipped (grey) runs."""
    label = outcomes.text()
    counted = outcomes.counted
    parts = []
    if counted:
        segments = [
            ("passed", outcomes.passed, "passed"),
            ("failed", outcomes.failed, "failed"),
            ("skipped", outcomes.skipped, "skipped"),
        ]
        # a few failures among thousands stay visible: every present outcome gets 3 px
        widths = [
            max(width * count / counted, _MIN_SEGMENT) if count else 0.0 for _, count, _ in segments
        ]
        excess = sum(widths) - width
        if excess > 0:
            big = max(range(len(widths)), key=lambda i: widths[i])
            widths[big] -= excess
        x = 0.0
        for (cls, count, word), w in zip(segments, widths, strict=True):
            if not count:
                continue
            parts.append(
                f'<rect class="bar-{cls}" x="{x:.2f}" y="0" width="{w:.2f}" height="{height}">'
                f"<title>{count} {word}</title></rect>"
            )
            x += w
    else:
        parts.append(f'<rect class="bar-none" x="0" y="0" width="{width}" height="{height}"/>')
    return (
        f'<svg class="outcomes" role="img" aria-label="{_e(label)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}"><title>{_e(label)}</title>'
        + "".join(parts)
        + "</svg>"
    )


@dataclass(frozen=True, slots=True)
class SliceTimes:
    """One slice's way, in seconds since the job's first slice was spooled.

    ``spooled`` → ``sent`` (the POST of its last attempt began, after any wait for a queue
    budget slot) → ``accepted`` (Octane gave it a task id: queued or running there) →
    ``done``. A time the store did not record is None.
    """

    index: int
    status: SliceStatus
    spooled: float
    sent: float | None
    accepted: float | None
    done: float | None
    budget_wait: float
    queue_full_wait: float
    waits: tuple[tuple[str, float, float], ...]  # (kind, start, seconds), job-relative


def slice_times(job: JobRecord, now: float) -> tuple[float, list[SliceTimes]]:
    """The job's origin (epoch seconds) and every slice's times relative to it."""
    records = sorted(job.slices, key=lambda s: s.index)
    if not records:
        return job.created_at, []
    origin = min([job.created_at, *(s.created_at for s in records if s.created_at > 0)])

    def rel(value: float | None) -> float | None:
        return None if value is None else max(value - origin, 0.0)

    times = []
    for s in records:
        times.append(
            SliceTimes(
                index=s.index,
                status=s.status,
                spooled=rel(s.created_at) or 0.0,
                sent=rel(s.sent_at),
                accepted=rel(s.accepted_at),
                done=rel(_done(s)),
                budget_wait=sum(w.seconds for w in s.waits if w.kind == "budget"),
                queue_full_wait=sum(w.seconds for w in s.waits if w.kind == "queue-full"),
                waits=tuple((w.kind, w.start - origin, w.seconds) for w in s.waits),
            )
        )
    return origin, times


def _done(record: SliceRecord) -> float | None:
    if record.done_at is not None:
        return record.done_at
    if record.status is not SliceStatus.RUNNING and record.sent_at is None:
        return record.updated_at or None  # recorded before the timeline existed
    return None


def seconds_text(value: float) -> str:
    if value == 0:
        return "0 s"
    if value < 10:
        return f"{value:.1f} s"
    if value < 120:
        return f"{value:.0f} s"
    minutes, secs = divmod(round(value), 60)
    if minutes < 120:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


_ROW = 16
_BAR = 10
_LEFT = 70
_WIDTH = 1000
_AXIS = 22
#: Seconds between the timeline's grid lines: the first that gives at most five.
_TICK_STEPS = (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400)


def timeline_svg(job: JobRecord, now: float) -> str:
    """The slices of a job over time, one row each: waiting to be sent (light), budget
    waits (amber), the POST with queue-full waits (hatched red), in Octane (blue) and the
    end (green or red); a running slice reaches to ``now``."""
    _, times = slice_times(job, now)
    if not times:
        return '<p class="muted">No slices yet.</p>'
    end = max(
        [
            *(t.done or 0.0 for t in times),
            *(t.accepted or 0.0 for t in times),
            *(t.sent or 0.0 for t in times),
            *(
                max(now - (job.created_at if job.created_at else now), 0.0)
                for t in times
                if t.status is SliceStatus.RUNNING
            ),
            0.001,
        ]
    )
    span = _WIDTH - _LEFT - 10
    scale = span / end

    def x(value: float) -> float:
        return _LEFT + min(max(value, 0.0), end) * scale

    running_end = max(end, 0.0)
    rows: list[str] = []
    for row, t in enumerate(times):
        y = _AXIS + row * _ROW
        rows.append(
            f'<text class="tl-label" x="{_LEFT - 6}" y="{y + _BAR - 1}" '
            f'text-anchor="end">slice {t.index}</text>'
        )
        last = t.done if t.done is not None else running_end
        first_step = t.sent if t.sent is not None else (t.accepted if t.accepted else last)
        rows.append(_seg("tl-wait", x(t.spooled), x(first_step), y, "spooled, waiting to be sent"))
        if t.sent is not None:
            to = t.accepted if t.accepted is not None else last
            rows.append(_seg("tl-post", x(t.sent), x(to), y, "POST to Octane"))
        if t.accepted is not None:
            rows.append(_seg("tl-octane", x(t.accepted), x(last), y, "queued/running in Octane"))
        for kind, start, secs in t.waits:
            cls = "tl-budget" if kind == "budget" else "tl-queuefull"
            word = "waiting for a queue budget slot" if kind == "budget" else "Octane queue full"
            rows.append(_seg(cls, x(start), x(start + secs), y, f"{word}: {seconds_text(secs)}"))
        if t.done is not None:
            cls = "tl-ok" if t.status is SliceStatus.SUCCESS else "tl-bad"
            rows.append(
                f'<rect class="{cls}" x="{x(t.done) - 1.5:.1f}" y="{y - 1}" width="3" '
                f'height="{_BAR + 2}"><title>slice {t.index} {t.status.value} at '
                f"{seconds_text(t.done)}</title></rect>"
            )
    height = _AXIS + len(times) * _ROW + 4
    ticks = []
    step = next((n for n in _TICK_STEPS if n * 5 >= end), end / 5)
    marks = [step * i for i in range(int(end // step) + 1)]
    for i, value in enumerate(marks):
        tx = x(value)
        anchor = "start" if i == 0 else ("end" if tx > _WIDTH - 30 else "middle")
        ticks.append(
            f'<line class="tl-grid" x1="{tx:.1f}" y1="{_AXIS - 4}" x2="{tx:.1f}" '
            f'y2="{height}"/><text class="tl-tick" x="{tx:.1f}" y="12" '
            f'text-anchor="{anchor}">{_e(seconds_text(value))}</text>'
        )
    summary = timeline_summary(times)
    return (
        f'<svg id="timeline" class="timeline" role="img" aria-labelledby="tl-title tl-desc" '
        f'viewBox="0 0 {_WIDTH} {height}" width="100%" preserveAspectRatio="xMinYMin meet">'
        f'<title id="tl-title">Slices of job {_e(job.job_id)} over time</title>'
        f'<desc id="tl-desc">{_e(summary)}</desc>' + "".join(ticks) + "".join(rows) + "</svg>"
    )


def _seg(cls: str, x1: float, x2: float, y: float, title: str) -> str:
    width = max(x2 - x1, 1.0)
    return (
        f'<rect class="{cls}" x="{x1:.1f}" y="{y:.0f}" width="{width:.1f}" height="{_BAR}">'
        f"<title>{_e(title)}</title></rect>"
    )


def timeline_summary(times: Sequence[SliceTimes]) -> str:
    """One sentence for screen readers: how many slices, how long, what waited."""
    done = [t for t in times if t.done is not None]
    longest = max((t.done or 0.0 for t in done), default=0.0)
    budget = sum(t.budget_wait for t in times)
    full = sum(t.queue_full_wait for t in times)
    text = f"{len(times)} slices, {len(done)} ended"
    if done:
        text += f", the last after {seconds_text(longest)}"
    if budget:
        text += f"; {seconds_text(budget)} waited for queue budget slots"
    if full:
        text += f"; {seconds_text(full)} waited while Octane's queue was full"
    return text + ". The table below lists each slice's times."
