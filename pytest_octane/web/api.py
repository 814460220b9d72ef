"""The jobs page's JSON (``/api/jobs``, ``/api/jobs/JOB``): the same data as the pages, for
scripts and for the pages' own live updates. Times are epoch seconds; absent ones are null."""

from __future__ import annotations

from typing import Any

from pytest_octane.model import JobRecord, SliceRecord, SliceStatus
from pytest_octane.store.query import JobPage, JobQuery
from pytest_octane.web.charts import outcomes_of
from pytest_octane.web.layout import job_href
from pytest_octane.web.render import job_is_live, job_version
from pytest_octane.web.render_list import list_version
from pytest_octane.web.retry import Notice

__all__ = ["job_json", "jobs_json"]


def _summary(job: JobRecord) -> dict[str, Any]:
    outcomes = outcomes_of(job)
    states = [s.status for s in job.slices]
    return {
        "job_id": job.job_id,
        "href": job_href(job.job_id),
        "status": job.status.value,
        "space_id": job.space_id,
        "workspace_id": job.workspace_id,
        "server": job.server,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
        "duration_s": (
            None if job.finished_at is None else max(job.finished_at - job.created_at, 0.0)
        ),
        "build": dict(job.build),
        "runs": {
            "total": outcomes.total,
            "passed": outcomes.passed,
            "failed": outcomes.failed,
            "skipped": outcomes.skipped,
        },
        "slices": {
            "total": len(states),
            "success": states.count(SliceStatus.SUCCESS),
            "failed": states.count(SliceStatus.FAILED),
            "running": states.count(SliceStatus.RUNNING),
        },
    }


def jobs_json(page: JobPage, query: JobQuery) -> dict[str, Any]:
    return {
        "total": page.total,
        "offset": query.offset,
        "limit": query.limit,
        "version": list_version(page),
        "live": True,  # new jobs can appear at any time
        "spaces": page.spaces,
        "jobs": [_summary(job) for job in page.jobs],
        "damaged": [{"job_id": d.job_id, "problem": d.problem} for d in page.damaged],
    }


def _slice(record: SliceRecord) -> dict[str, Any]:
    return {
        "index": record.index,
        "status": record.status.value,
        "task_id": record.task_id,
        "attempts": record.attempts,
        "run_count": record.run_count,
        "runs": {
            "passed": record.runs_passed,
            "failed": record.runs_failed,
            "skipped": record.runs_skipped,
        },
        "server_status": record.server_status,
        "last_error": record.last_error,
        "error_details": record.error_details,
        "spooled_at": record.created_at,
        "sent_at": record.sent_at,
        "accepted_at": record.accepted_at,
        "done_at": record.done_at,
        "updated_at": record.updated_at,
        "waits": [{"kind": w.kind, "start": w.start, "seconds": w.seconds} for w in record.waits],
    }


def job_json(job: JobRecord, *, busy: bool, notice: Notice | None) -> dict[str, Any]:
    slices = sorted(job.slices, key=lambda s: s.index)
    data = _summary(job)
    data.update(
        {
            "version": job_version(job, busy=busy, notice=notice),
            "live": job_is_live(job, busy),
            "busy": busy,
            "slice_list": [_slice(s) for s in slices],
            "failures": [
                {"slice": s.index, "name": f.name, "error_type": f.error_type, "message": f.message}
                for s in slices
                for f in s.failures
            ],
            "history": [dict(e) for e in job.history],
        }
    )
    return data
