"""What one job run came to (JobOutcome, holding the error itself), and the summary lines the
front ends print."""

from __future__ import annotations

import pickle
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import groupby

from pytest_octane.errors import ConnectionFailed, OctaneError
from pytest_octane.job.events import UploadReport
from pytest_octane.job.recorded import recorded_connection
from pytest_octane.model import JobRecord, SliceStatus
from pytest_octane.settings import Settings

__all__ = ["JobOutcome"]


@dataclass(slots=True)
class JobOutcome:
    """What happened to one job, for the terminal summary and the CLI."""

    job: JobRecord
    store_location: str
    unmapped_keys: list[str] = field(default_factory=list)
    ambiguous_keys: dict[str, list[int]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    error: OctaneError | None = None
    #: what the user must change before a retry can work (permanent errors only)
    fix: str | None = None
    elapsed_s: float = 0.0
    #: Ctrl-C stopped the job; every slice's state is recorded, the summary says how to go on
    interrupted: bool = False
    #: the task store failed in mid-session: where the job went (one line, shown even by -q)
    moved: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.job.status is SliceStatus.SUCCESS

    @property
    def error_text(self) -> str | None:
        """The error line; a lost connection adds that the results stay on disk."""
        if isinstance(self.error, ConnectionFailed):
            return f"{self.error} — the results are kept on disk"
        return None if self.error is None else str(self.error)

    def hint(self, exc: OctaneError, settings: Settings) -> str:
        """``exc``'s hint for this job: the settings' space, workspace and URL, else the job's."""
        job = self.job
        space, workspace = settings.space or job.space_id, settings.workspace or job.workspace_id
        return exc.hint(space=space, workspace=workspace, server=settings.url or job.server)

    def resume_command(self) -> str:
        return self._command("resume")

    def retry_command(self) -> str:
        return self._command("retry")

    def _command(self, verb: str) -> str:
        """A command to paste into a shell; a masked database password cannot be pasted."""
        store = shlex.quote(self.store_location)
        if "***" in self.store_location:
            store = '"$OCTANE_TASK_STORE"  # the store URL with its password'
        return f"pytest-octane {verb} {self.job.job_id} --task-store {store}"

    def ui_link(self) -> str:
        """Octane's web UI for the job's workspace."""
        where = recorded_connection(self.job)
        return f"{where.url.rstrip('/')}/ui/?p={where.space}/{where.workspace}"

    def reason(self) -> str | None:
        """Why the job is not done, in one line: the job's error or the first slice's."""
        if self.error:
            return self.error_text
        for record in self.job.slices:
            if record.status is not SliceStatus.SUCCESS:
                detail = record.error_details or record.last_error
                if detail:
                    return f"slice {record.index}: {detail}"
        return None

    def next_command(self) -> str:
        """``resume`` while a slice is unfinished (transient trouble), else ``retry``."""
        unfinished = any(s.status is SliceStatus.RUNNING for s in self.job.slices)
        return self.resume_command() if unfinished else self.retry_command()

    def one_line(self) -> str:
        job = self.job
        ok = sum(1 for s in job.slices if s.status is SliceStatus.SUCCESS)
        text = f"job {job.job_id}: {ok}/{len(job.slices)} slices uploaded"
        if self.error or ok < len(job.slices):
            reason = self.reason()
            if reason:
                text += f": {reason}"
            if self.fix:
                text += f"; {self.fix}"
            text += f"; run: {self.next_command()}"
        return text

    def failure_reasons(self, *, strict: bool) -> list[str]:
        """Why this job counts as a failed upload (JIRA keys without a story only when
        ``strict``)."""
        reasons: list[str] = []
        slices = self.job.slices
        failed = sum(1 for s in slices if s.status is SliceStatus.FAILED)
        unfinished = sum(1 for s in slices if s.status is SliceStatus.RUNNING)
        if failed:
            reasons.append(f"{failed} of {len(slices)} slice(s) failed")
        if unfinished:
            reasons.append(f"{unfinished} of {len(slices)} slice(s) unfinished")
        if self.error and not (failed or unfinished):
            reasons.append(f"the upload failed: {self.error_text}")
        if strict and self.unmapped_keys:
            reasons.append("JIRA keys with no Octane story: " + ", ".join(self.unmapped_keys))
        return reasons

    def report(self, *, strict: bool) -> UploadReport:
        """What pytest's process prints of this job, made here (in the uploader)."""
        return UploadReport(
            job_id=self.job.job_id,
            summary=tuple(self.summary_lines()),
            one_line=self.one_line(),
            failures=tuple(self.failure_reasons(strict=strict)),
            moved=self.moved,
            interrupted=self.interrupted,
            outcome=pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL),
        )

    def summary_lines(self) -> list[str]:
        job = self.job
        by_status: dict[SliceStatus, list[int]] = {s: [] for s in SliceStatus}
        for record in job.slices:
            by_status[record.status].append(record.index)
        runs = sum(s.run_count for s in job.slices)
        where = recorded_connection(job)
        lines = [
            f"job {job.job_id}: {runs} runs in {len(job.slices)} slice(s) to shared space "
            f"{where.space}, workspace {where.workspace} ({self.elapsed_s:.1f} s)",
            f"slices: {len(by_status[SliceStatus.SUCCESS])} ok, "
            f"{len(by_status[SliceStatus.FAILED])} failed, "
            f"{len(by_status[SliceStatus.RUNNING])} unfinished",
        ]
        lines.append(f"Octane: {self.ui_link()}")
        tasks = [f"{s.index}:{s.task_id}" for s in job.slices if s.task_id is not None]
        if tasks:
            lines.append("task ids (slice:task): " + ", ".join(tasks))
        for state, word in ((SliceStatus.FAILED, "failed"), (SliceStatus.RUNNING, "unfinished")):
            problems: dict[str, list[int]] = {}  # one line per distinct error, not per slice
            for record in job.slices:
                if record.status is state:
                    detail = record.error_details or record.last_error
                    if detail or state is SliceStatus.FAILED:
                        problems.setdefault(detail or "no details", []).append(record.index)
            problems.pop(self.error_text or "", None)  # said once, on the error line
            for detail, indexes in problems.items():
                which = f"slice {indexes[0]}" if len(indexes) == 1 else f"slices {_ranges(indexes)}"
                lines.append(f"{which} {word}: {detail}")
        if self.unmapped_keys:
            lines.append(
                f"JIRA keys with no Octane story ({len(self.unmapped_keys)}): "
                + ", ".join(self.unmapped_keys)
            )
        for key, ids in sorted(self.ambiguous_keys.items()):
            lines.append(f"JIRA key {key} matches several stories: {ids} (linked to all)")
        if self.moved:
            lines.append(self.moved)
        lines.extend(self.warnings)
        if self.error:
            lines.append(f"error: {self.error_text}")
        if self.fix:
            lines.append(f"to fix: {self.fix}")
        if by_status[SliceStatus.RUNNING]:
            lines.append(f"to finish the upload later run: {self.resume_command()}")
        elif by_status[SliceStatus.FAILED]:
            if self.fix:
                lines.append(
                    f"to re-upload the failed slices after the fix run: {self.retry_command()}"
                )
            else:
                lines.append(f"to re-upload the failed slices run: {self.retry_command()}")
        return lines


def _ranges(indexes: Sequence[int]) -> str:
    """``[1, 2, 3, 5]`` -> ``1-3, 5``."""
    runs = [[i for _, i in run] for _, run in groupby(enumerate(indexes), lambda p: p[1] - p[0])]
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)
