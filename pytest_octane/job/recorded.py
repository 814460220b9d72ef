"""The one place that turns a recorded job back into settings: its connection and its options.

A job records where it was uploaded and with which options.  When the place was wrong (a shared
space that does not exist, an old URL), ``retry JOB --space ID`` sends it to the corrected place,
says which recorded value it overrides, and records the change in the job's history so that a
later ``resume`` or the jobs page keep using it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from pytest_octane.model import JobRecord, SliceStatus
from pytest_octane.settings import OPTIONS_BY_NAME, Settings

if TYPE_CHECKING:  # the pytest process reads settings here, and opens no store
    from pytest_octane.store import TaskStore

__all__ = [
    "CONNECTION_EVENT",
    "CONNECTION_FIELDS",
    "COVERAGE_EVENT",
    "DELINK_EVENT",
    "SUITE_EVENT",
    "Connection",
    "JobSuite",
    "apply_overrides",
    "coverage_pending",
    "external_run_id_for",
    "job_settings",
    "recorded_connection",
    "recorded_options",
    "recorded_suite_id",
    "settings_for_job",
]

CONNECTION_EVENT = "connection"
SUITE_EVENT = "suite"
COVERAGE_EVENT = "coverage"
DELINK_EVENT = "delink"

#: (setting, the CLI flag, what it is called in messages)
CONNECTION_FIELDS = (
    ("url", "--url", "server"),
    ("space", "--space", "shared space"),
    ("workspace", "--workspace", "workspace"),
)


@dataclass(frozen=True, slots=True)
class Connection:
    url: str
    space: int
    workspace: int


def recorded_connection(job: JobRecord) -> Connection:
    """The job's own connection, with the last override from its history on top."""
    current = Connection(job.server, job.space_id, job.workspace_id)
    for event in job.history:
        if event.get("event") == CONNECTION_EVENT:
            current = Connection(
                str(event.get("url") or current.url),
                int(event.get("space") or current.space),
                int(event.get("workspace") or current.workspace),
            )
    return current


def _given_on_command_line(settings: Settings, name: str) -> bool:
    return settings.where(name).startswith("option ")


def apply_overrides(
    settings: Settings,
    job: JobRecord,
    *,
    space_given: bool,
    record: Callable[[dict[str, Any]], None] | None,
    say: Callable[[str], None],
) -> Settings:
    """``settings`` aimed at the job's recorded connection, or at what the command line gives.

    ``space_given``: whether ``--space`` was on the command line (the caller fills the space
    in from the job otherwise).  ``record`` stores the change in the job's history.
    """
    recorded = recorded_connection(job)
    wanted: dict[str, Any] = {}
    notes: list[str] = []
    for name, flag, label in CONNECTION_FIELDS:
        old = getattr(recorded, name)
        given = space_given if name == "space" else _given_on_command_line(settings, name)
        new = getattr(settings, name) if given else old
        wanted[name] = new
        if given and new != old:
            notes.append(f"using {flag} {new} instead of the job's recorded {label} {old}")
    for note in notes:
        say(f"job {job.job_id}: {note}")
    if notes and record is not None:
        record({"event": CONNECTION_EVENT, **wanted})
    return replace(settings, **wanted)


def recorded_options(job: JobRecord, given: Callable[[str], bool]) -> dict[str, Any]:
    """The job's own upload settings for every option the command line does not give.

    A re-upload must send what the first upload sent (skip-errors, application modules,
    JIRA field...): otherwise runs lose their links, and a re-sent slice whose answer was
    lost no longer matches Octane's copy byte for byte, so it is stored twice.
    ``given(name)``: whether this command line gives option ``name`` (it then wins).
    """
    recorded: dict[str, Any] = {}
    for name, value in job.settings.items():
        if name in ("url", "workspace") or name not in OPTIONS_BY_NAME or value is None:
            continue
        if given(name):
            continue  # given on this command line: it wins
        recorded[name] = ("true" if value else "false") if isinstance(value, bool) else value
    return recorded


def settings_for_job(settings: Settings, job: JobRecord) -> Settings:
    """Settings to finish an old job: its own server, space and workspace win (as last
    corrected by ``retry --space/--workspace/--url``, see ``apply_overrides``)."""
    where = recorded_connection(job)
    return replace(settings, url=where.url, space=where.space, workspace=where.workspace)


def job_settings(
    given: Mapping[str, Any],
    job: JobRecord,
    *,
    store: TaskStore | None = None,
    say: Callable[[str], None] = print,
) -> Settings:
    """Settings to retry or resume ``job`` (the CLI and the jobs page's button alike): its
    server, space and recorded options, with the front end's options (``given``) on top.

    ``--url``/``--space``/``--workspace`` given here replace the recorded ones (said through
    ``say``, and kept in the job's history when ``store`` is given).
    """
    space_given = given.get("space") is not None
    space = given["space"] if space_given else recorded_connection(job).space
    options = recorded_options(job, lambda name: given.get(name) not in (None, False))
    settings = Settings.from_options(given, space=str(space), **options)
    record = (lambda event: store.add_history(job.job_id, event)) if store is not None else None
    return apply_overrides(settings, job, space_given=space_given, record=record, say=say)


# ---------------------------------------------------------------- what the job recorded


def external_run_id_for(settings: Settings, job_id: str) -> str:
    """The suite run's name: the user's, else the CI build id, else the job id."""
    return settings.external_run_id or settings.build_id or job_id


@dataclass(frozen=True, slots=True)
class JobSuite:
    """The suite part of a job, read back from its record (the settings it was spooled with)."""

    path: str | None
    suite_id: int | None
    external_run_id: str
    jira_keys: tuple[str, ...]
    update_auto_runs: bool
    root_module: str | None
    jira_field: str

    @classmethod
    def of(cls, job: JobRecord) -> JobSuite | None:
        """None when the job has no suite (then it has no suite run to link or delink)."""
        recorded = job.settings
        path = recorded.get("suite") or None
        suite_id = recorded.get("suite_id")
        if not path and suite_id is None:
            return None
        return cls(
            path=str(path) if path else None,
            suite_id=int(suite_id) if suite_id is not None else None,
            external_run_id=str(recorded.get("external_run_id") or job.job_id),
            jira_keys=tuple(str(k) for k in recorded.get("jira") or ()),
            update_auto_runs=bool(recorded.get("update_auto_runs")),
            root_module=recorded.get("root_module") or None,
            jira_field=str(recorded.get("jira_field") or OPTIONS_BY_NAME["jira_field"].default),
        )

    def links_runs(self, update_auto_runs: bool = False) -> bool:
        """Whether the coverage step has anything to link for this job."""
        return bool(self.jira_keys) or self.update_auto_runs or update_auto_runs


def recorded_suite_id(job: JobRecord) -> int | None:
    """The suite id the job's slices carry: the explicit one, else the one resolved earlier."""
    if job.settings.get("suite_id") is not None:
        return int(job.settings["suite_id"])
    for event in reversed(job.history):
        if event.get("event") == SUITE_EVENT and event.get("suite_id") is not None:
            return int(event["suite_id"])
    return None


def coverage_pending(job: JobRecord, update_auto_runs: bool = False) -> bool:
    """True when every slice succeeded but the runs are not (completely) linked yet."""
    plan = JobSuite.of(job)
    if plan is None or not plan.links_runs(update_auto_runs) or not job.slices:
        return False
    if job.status is not SliceStatus.SUCCESS:
        return False
    for event in reversed(job.history):
        if event.get("event") == COVERAGE_EVENT:
            return not event.get("complete", False)
    return True
