"""The re-upload button's work: re-send a job's failed slices as ``pytest-octane retry`` does,
and the notice the job page shows afterwards."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_octane.job.recorded import job_settings
from pytest_octane.settings import given_options
from pytest_octane.store import TaskStore

if TYPE_CHECKING:
    from pytest_octane.job.engine import JobOutcome

__all__ = ["Notice", "retry_failed_slices"]


def retry_failed_slices(
    args: argparse.Namespace,
    store: TaskStore,
    job_id: str,
    *,
    progress: Callable[[str], None] | None = None,
) -> JobOutcome:
    """Re-send the job's Failed slices exactly as ``pytest-octane retry JOB`` would.

    The job's recorded settings are used, with the options ``serve`` was started with on
    top (``job.recorded.job_settings``), so a re-upload from the page and one from a terminal send
    the same bytes.  Raises StoreError for an unknown job, ConfigError for a bad setting.
    """
    from pytest_octane.job.engine import execute_job

    job = store.get_job(job_id)
    settings = job_settings(given_options(args), job)
    return execute_job(settings, store, job, mode="retry", progress=progress)


@dataclass(frozen=True, slots=True)
class Notice:
    """The outcome of the last upload or re-upload started from the page, shown on the job page."""

    when: float
    ok: bool
    lines: tuple[str, ...]
    progress: tuple[str, ...] = ()
    #: What was started from the page: "Re-upload" (the button) or "Upload" (the form).
    kind: str = "Re-upload"
