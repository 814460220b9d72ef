"""The verbs that only read the task store: ``jobs``, ``status`` and ``logs``."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from pytest_octane.cli.common import EXIT_FAILED, EXIT_OK, get_job, open_task_store, stamp
from pytest_octane.model import JobRecord, SliceStatus

__all__ = ["cmd_jobs", "cmd_logs", "cmd_status"]


def _job_counts(job: JobRecord) -> dict[str, int]:
    counts = {status.value: 0 for status in SliceStatus}
    for record in job.slices:
        counts[record.status.value] += 1
    return counts


def cmd_jobs(args: argparse.Namespace) -> int:
    store = open_task_store(args, must_exist=True)
    try:
        listing = store.scan_jobs()
    finally:
        store.close()
    jobs = listing.jobs
    for damaged in listing.damaged:  # the healthy jobs are still listed, on stdout
        print(f"pytest-octane: damaged job {damaged.job_id}: {damaged.problem}", file=sys.stderr)
    code = EXIT_FAILED if listing.damaged else EXIT_OK
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "job_id": j.job_id,
                        "space_id": j.space_id,
                        "workspace_id": j.workspace_id,
                        "created_at": j.created_at,
                        "status": j.status.value,
                        "slices": _job_counts(j),
                    }
                    for j in jobs
                ],
                indent=2,
            )
        )
        return code
    if not jobs:
        print(f"no readable jobs in {store.location}" if code else f"no jobs in {store.location}")
        return code
    print(f"{'JOB':<28} {'SPACE':>6} {'STARTED':<19} {'OK':>4} {'FAILED':>6} {'RUNNING':>7}")
    for job in jobs:
        c = _job_counts(job)
        print(
            f"{job.job_id:<28} {job.space_id:>6} {stamp(job.created_at):<19} "
            f"{c['Success']:>4} {c['Failed']:>6} {c['Running']:>7}"
        )
    return code


def cmd_status(args: argparse.Namespace) -> int:
    store = open_task_store(args, must_exist=True)
    try:
        job = get_job(store, args.job)
    finally:
        store.close()
    if args.json:
        data = asdict(job)
        data["status"] = job.status.value
        print(json.dumps(data, indent=2, default=str))
    else:
        print(
            f"job {job.job_id}: {job.status.value}; shared space {job.space_id}, workspace "
            f"{job.workspace_id} at {job.server}; created {stamp(job.created_at)}, "
            f"finished {stamp(job.finished_at)}"
        )
        for record in job.slices:
            detail = record.error_details or record.last_error or ""
            print(
                f"  slice {record.index:>4}: {record.status.value:<8} runs={record.run_count:<5}"
                f" task={record.task_id if record.task_id is not None else '-':<8}"
                f" attempts={record.attempts}" + (f"  {detail}" if detail else "")
            )
        from pytest_octane.job.evidence.files import ATTACHMENT_EVENT, attachments_summary

        for line in attachments_summary(job):  # issue 23: one line, not one per file
            print(f"  {line}")
        for event in job.history:
            if event.get("event") != ATTACHMENT_EVENT:
                print(f"  history: {stamp(event.get('time'))} {event.get('event')}")
    return EXIT_OK if job.status is SliceStatus.SUCCESS else EXIT_FAILED


def cmd_logs(args: argparse.Namespace) -> int:
    store = open_task_store(args, must_exist=True)
    try:
        get_job(store, args.job)
        entries = store.read_requests(args.job)
    finally:
        store.close()
    for e in entries:
        status = e.status if e.status is not None else "---"
        line = f"{stamp(e.time)} {e.method:<6} {status} {e.duration_ms:>6} ms {e.url}"
        print(line + (f"  [{e.correlation_id}]" if e.correlation_id else ""))
        if e.error:
            print(f"    error: {e.error}")
        if e.body and args.bodies:
            print(e.body)
    return EXIT_OK
