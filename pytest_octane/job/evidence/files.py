"""Where attached files are kept, which runs of a slice have them, and what became of each.

The files are copied into ``<spool dir>/<job id>/attachments/`` while the tests run
(:func:`attachments_dir`).  Each spooled slice whose runs have files gets a sidecar
``slice-NNNN.attachments.json`` naming them per run; what happened to each file (sent,
refused with the reason) is recorded in the job's history in the task store, so any store
backend keeps it across a kill: a listed file without such an event is pending.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_octane.model import JobRecord, TestRun

__all__ = [
    "ATTACHMENT_EVENT",
    "AttachedFile",
    "attachment_states",
    "attachments_dir",
    "attachments_summary",
    "read_slice_files",
    "sidecar_path",
    "slice_counts",
    "write_slice_files",
]

#: History event of one file's outcome: ``state`` is "sent" (with the Octane ``id``) or
#: "refused" (with the ``reason``).
ATTACHMENT_EVENT = "attachment"


def attachments_dir(spool_dir: str, job_id: str) -> Path:
    """The job's folder of attached files (inside the job's spool folder)."""
    return Path(spool_dir) / job_id / "attachments"


def sidecar_path(slice_path: Path) -> Path:
    return slice_path.with_name(slice_path.stem + ".attachments.json")


@dataclass(frozen=True, slots=True)
class AttachedFile:
    """One file of one run of a spooled slice; ``identity`` names the run's test."""

    identity: tuple[str, str, str, str]  # module, package, class, name (as in the XML)
    path: str
    name: str
    description: str | None
    size: int


def write_slice_files(slice_path: Path, runs: Sequence[TestRun]) -> None:
    """Write the slice's sidecar when any of its runs has attachments."""
    entries = [
        {
            "test": [run.module, run.package, run.klass, run.name],
            "path": item.path,
            "name": item.name,
            "description": item.description,
            "size": item.size,
        }
        for run in runs
        if run.gherkin is None
        for item in run.attachments
    ]
    if entries:
        sidecar_path(slice_path).write_text(json.dumps(entries), encoding="utf-8")


def read_slice_files(slice_path: Path) -> list[AttachedFile]:
    """The files of a slice's runs (none without a sidecar; an unreadable sidecar is none)."""
    path = sidecar_path(slice_path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError):
        return []
    files = []
    for entry in raw if isinstance(raw, list) else ():
        try:
            module, package, klass, name = (str(part or "") for part in entry["test"])
            files.append(
                AttachedFile(
                    identity=(module, package, klass, name),
                    path=str(entry["path"]),
                    name=str(entry["name"]),
                    description=entry.get("description"),
                    size=int(entry.get("size", 0)),
                )
            )
        except (KeyError, TypeError, ValueError):
            continue
    return files


def attachment_states(history: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """The last recorded outcome of each file (by spooled path)."""
    return {
        str(event.get("file")): event for event in history if event.get("event") == ATTACHMENT_EVENT
    }


def slice_counts(job: JobRecord) -> dict[int, dict[str, int]]:
    """Per slice with attachments: how many files are pending, sent and refused."""
    states = attachment_states(job.history)
    counts: dict[int, dict[str, int]] = {}
    for record in job.slices:
        files = read_slice_files(Path(record.path))
        if not files:
            continue
        tally = counts[record.index] = {"pending": 0, "sent": 0, "refused": 0}
        for item in files:
            state = states.get(item.path, {}).get("state", "pending")
            tally[state if state in tally else "pending"] += 1
    return counts


def attachments_summary(job: JobRecord) -> list[str]:
    """For ``status`` and the jobs page: one line of totals, then each refused file and why
    (nothing for a job without attachments)."""
    counts = slice_counts(job)
    if not counts:
        return []
    totals = {
        state: sum(c[state] for c in counts.values()) for state in ("pending", "sent", "refused")
    }
    line = "attachments: " + ", ".join(f"{n} {state}" for state, n in totals.items() if n)
    lines = [line]
    states = attachment_states(job.history)
    for event in states.values():
        if event.get("state") == "refused":
            lines.append(
                f"attachment {event.get('name')!r} (slice {event.get('slice')}) refused: "
                f"{event.get('reason')}"
            )
    return lines
