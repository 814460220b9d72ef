"""Settings to re-send a recorded job, shared by ``retry``/``resume`` and the jobs page's button.

Both front ends must send what the first upload sent, so this is the one place that puts a
job's recorded options under the options a front end was started with.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from pytest_octane.job.overrides import apply_overrides, recorded_connection
from pytest_octane.model import JobRecord
from pytest_octane.settings import OPTIONS, OPTIONS_BY_NAME, Settings, resolve_settings
from pytest_octane.settings.ci import ci_defaults, detect_ci
from pytest_octane.store import TaskStore

__all__ = ["given_options", "job_settings", "settings_from_options"]


def given_options(values: object) -> dict[str, Any]:
    """Every option's value as a front end parsed it (``octane_<name>`` attributes)."""
    return {spec.name: getattr(values, f"octane_{spec.name}", None) for spec in OPTIONS}


def settings_from_options(given: Mapping[str, Any], **overrides: Any) -> Settings:
    """Settings from a front end's options, OCTANE_* variables and the detected CI."""
    cli = dict(given)
    cli.update({k: v for k, v in overrides.items() if v is not None})
    info = detect_ci(os.environ)
    return resolve_settings(
        cli=cli, environ=os.environ, ini={}, detected=ci_defaults(info) if info else None
    )


def _recorded_settings(given: Mapping[str, Any], job: JobRecord) -> dict[str, Any]:
    """The job's own upload settings for every option this command line does not give.

    A re-upload must send what the first upload sent (skip-errors, application modules,
    JIRA field...): otherwise runs lose their links, and a re-sent slice whose answer was
    lost no longer matches Octane's copy byte for byte, so it is stored twice.
    """
    recorded: dict[str, Any] = {}
    for name, value in job.settings.items():
        if name in ("url", "workspace") or name not in OPTIONS_BY_NAME or value is None:
            continue
        if given.get(name) not in (None, False):
            continue  # given on this command line: it wins
        recorded[name] = ("true" if value else "false") if isinstance(value, bool) else value
    return recorded


def job_settings(
    given: Mapping[str, Any],
    job: JobRecord,
    *,
    store: TaskStore | None = None,
    say: Callable[[str], None] = print,
) -> Settings:
    """Settings to retry or resume ``job``: its server, space and recorded options, with
    the front end's options (``given``) on top.

    ``--url``/``--space``/``--workspace`` given here replace the recorded ones (said through
    ``say``, and kept in the job's history when ``store`` is given).
    """
    space_given = given.get("space") is not None
    space = given["space"] if space_given else recorded_connection(job).space
    settings = settings_from_options(given, space=str(space), **_recorded_settings(given, job))
    record = (lambda event: store.add_history(job.job_id, event)) if store is not None else None
    return apply_overrides(settings, job, space_given=space_given, record=record, say=say)
