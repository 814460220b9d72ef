"""The verbs that finish a recorded job: ``retry`` (failed slices) and ``resume`` (unfinished)."""

from __future__ import annotations

import argparse
from typing import Any

from pytest_octane.cli.common import get_job, open_task_store, print_outcome
from pytest_octane.errors import UsageError
from pytest_octane.job import recorded
from pytest_octane.model import JobRecord, SliceStatus
from pytest_octane.settings import Settings, check_credentials, given_options

__all__ = ["cmd_resume", "cmd_retry", "job_settings"]

__all__ = ["cmd_resume", "cmd_retry", "job_settings"]


def job_settings(args: argparse.Namespace, job: JobRecord, *, store: Any = None) -> Settings:
    """Settings to retry or resume ``job``: its server, space and recorded options, with
    this command line's options on top (the jobs page's button uses the same rule).

    ``--url``/``--space``/``--workspace`` given here replace the recorded ones (said on
    stdout, and kept in the job's history when ``store`` is given).
    """
    return recorded.job_settings(given_options(args), job, store=store, say=print)


def _finish_job(args: argparse.Namespace, mode: str) -> int:
    from pytest_octane.job.engine import execute_job

    only_slice: int | None = getattr(args, "slice", None)
    store = open_task_store(args)
    try:
        job = get_job(store, args.job)
        if only_slice is not None:
            indexes = [s.index for s in job.slices]
            if only_slice not in indexes:
                have = f"{min(indexes)} to {max(indexes)}" if indexes else "none"
                raise UsageError(
                    f"job {job.job_id} has no slice {only_slice} (its slices: {have}); "
                    f"'pytest-octane status {job.job_id}' lists them"
                )
            if job.slice(only_slice).status is SliceStatus.SUCCESS:
                print(
                    f"slice {only_slice} of job {job.job_id} already succeeded; "
                    "nothing to re-upload"
                )
        settings = job_settings(args, job, store=store)
        wanted = SliceStatus.FAILED if mode == "retry" else SliceStatus.RUNNING
        if any(s.status is wanted and only_slice in (None, s.index) for s in job.slices):
            check_credentials(settings)
        outcome = execute_job(
            settings, store, job, mode=mode, only_slice=only_slice, progress=print
        )
    finally:
        store.close()
    if mode == "retry" and not any(s.status is not SliceStatus.SUCCESS for s in job.slices):
        print(f"job {job.job_id}: every slice already succeeded; nothing to re-upload")
    return print_outcome(outcome)


def cmd_retry(args: argparse.Namespace) -> int:
    return _finish_job(args, "retry")


def cmd_resume(args: argparse.Namespace) -> int:
    return _finish_job(args, "resume")
