"""Made-up jobs for the jobs page's browser tests, its benchmark and the screenshots in the
docs: varied outcomes, slice states, timelines with queue waits, builds with CI links.

Deterministic for a given ``seed``; nothing here talks to Octane.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from pytest_octane.model import FailedTest, JobRecord, SliceRecord, SliceStatus, SliceWait
from pytest_octane.store import TaskStore

__all__ = ["demo_job", "seed_jobs"]

_SPACES = ((1001, 1002), (2001, 2002), (3001, 3002))
_AREAS = ("checkout", "basket", "payments", "search", "accounts", "shipping")
_MESSAGES = (
    ("AssertionError", "assert 2 == 3"),
    ("AssertionError", "discount must never be negative"),
    ("TimeoutError", "the payment gateway did not answer within 30 s"),
    ("KeyError", "'shipping_address'"),
    ("ValueError", "invalid literal for int() with base 10: 'N/A'"),
)


def _failures(rng: random.Random, area: str, count: int) -> tuple[FailedTest, ...]:
    result = []
    for n in range(count):
        error_type, message = rng.choice(_MESSAGES)
        result.append(
            FailedTest(
                name=f"tests/test_{area}.py::Test{area.title()}::test_case_{rng.randrange(400)}_{n}",
                message=message,
                error_type=error_type,
            )
        )
    return tuple(result)


def demo_job(
    job_id: str,
    *,
    created_at: float,
    slices: int,
    rng: random.Random,
    state: SliceStatus = SliceStatus.SUCCESS,
    space: tuple[int, int] = _SPACES[0],
    runs_per_slice: int = 200,
    server: str = "https://octane.example.com",
) -> JobRecord:
    """One job of ``slices`` slices whose overall state is ``state``: Success (every slice
    ended well), Failed (one slice's task failed) or Running (the last slices are still
    queued or unsent)."""
    area = rng.choice(_AREAS)
    build_no = rng.randrange(100, 9999)
    records: list[SliceRecord] = []
    clock = created_at + rng.uniform(0.5, 3.0)
    for index in range(1, slices + 1):
        failed_runs = rng.choice((0, 0, 0, 1, 2, 5)) if runs_per_slice > 5 else 0
        skipped = rng.choice((0, 0, 1, 3))
        passed = max(runs_per_slice - failed_runs - skipped, 0)
        spooled = created_at + (index - 1) * rng.uniform(0.05, 0.4)
        waits: list[SliceWait] = []
        start = max(clock, spooled) + rng.uniform(0.0, 0.5)
        if rng.random() < 0.15:
            seconds = rng.uniform(2.0, 8.0)
            waits.append(SliceWait(kind="budget", start=start, seconds=seconds))
            start += seconds
        sent = start
        accepted = sent + rng.uniform(0.2, 0.8)
        if rng.random() < 0.1:
            seconds = rng.uniform(3.0, 10.0)
            waits.append(SliceWait(kind="queue-full", start=sent + 0.1, seconds=seconds))
            accepted += seconds
        done = accepted + rng.uniform(1.5, 6.0)
        clock = sent + rng.uniform(0.3, 1.2)
        status = SliceStatus.SUCCESS
        task_id: int | None = 1000 + index
        server_status: str | None = "success"
        last_error = None
        done_at: float | None = done
        if state is SliceStatus.FAILED and index == max(slices // 2, 1):
            status, server_status = SliceStatus.FAILED, "failed"
            last_error = f"Octane task {task_id} ended 'failed'"
        if state is SliceStatus.RUNNING and index > slices - max(slices // 3, 1):
            status, server_status, done_at = SliceStatus.RUNNING, None, None
            if index == slices:  # not sent yet
                task_id, sent_f, accepted_f = None, None, None
            else:
                sent_f, accepted_f = sent, accepted
        else:
            sent_f, accepted_f = sent, accepted
        records.append(
            SliceRecord(
                index=index,
                path=f"/var/spool/octane/{job_id}/slice-{index:04d}.xml",
                run_count=passed + failed_runs + skipped,
                status=status,
                task_id=task_id,
                attempts=1 if task_id else 0,
                last_error=last_error,
                server_status=server_status,
                created_at=spooled,
                updated_at=done_at or accepted_f or spooled,
                runs_passed=passed,
                runs_failed=failed_runs,
                runs_skipped=skipped,
                failures=_failures(rng, area, failed_runs),
                sent_at=sent_f,
                accepted_at=accepted_f,
                done_at=done_at,
                waits=tuple(waits) if sent_f is not None else (),
            )
        )
    finished = (
        None
        if state is SliceStatus.RUNNING
        else max(r.done_at or r.updated_at for r in records)
        if records
        else created_at
    )
    return JobRecord(
        job_id=job_id,
        space_id=space[0],
        workspace_id=space[1],
        server=server,
        created_at=created_at,
        finished_at=finished,
        build={
            "server_id": "https://ci.example.com",
            "job_id": f"{area}-nightly",
            "job_name": f"{area} nightly",
            "build_id": str(build_no),
            "build_name": f"#{build_no}",
            "url": f"https://ci.example.com/{area}-nightly/{build_no}",
        },
        settings={"slice_size": runs_per_slice},
        slices=tuple(records),
    )


def seed_jobs(
    store: TaskStore,
    count: int,
    *,
    now: float,
    seed: int = 27,
    slices: Sequence[int] = (2, 3, 4, 6),
    running: int = 1,
) -> list[str]:
    """Record ``count`` jobs, one a minute back from ``now`` (the newest first in the
    list): about one in seven Failed, the ``running`` newest Running; return their ids."""
    rng = random.Random(seed)
    ids = []
    for n in range(count):
        created = now - (count - n) * 60.0
        job_id = f"job-{n + 1:05d}"
        newest = count - n <= running
        state = (
            SliceStatus.RUNNING
            if newest
            else SliceStatus.FAILED
            if rng.random() < 0.15
            else SliceStatus.SUCCESS
        )
        job = demo_job(
            job_id,
            created_at=created,
            slices=rng.choice(list(slices)),
            rng=rng,
            state=state,
            space=_SPACES[n % len(_SPACES)],
        )
        store.create_job(job)
        ids.append(job_id)
    return ids
