"""Run coverage: link a job's suite-run runs to their stories after upload, and delink them again.

After every slice succeeded, the runs of the job's suite run are linked to the job-level
stories (``--octane-jira``) and, with ``updateAutoRuns``, to each test's own stories, by
appending to their ``covered_content``.  ``pytest-octane delink`` takes a story back off
exactly those runs.  Each step is written to the job's history.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from pytest_octane.errors import (
    ConfigError,
    InputError,
)
from pytest_octane.job.recorded import COVERAGE_EVENT, DELINK_EVENT, JobSuite, recorded_suite_id
from pytest_octane.job.spool import read_keys
from pytest_octane.model import JobRecord
from pytest_octane.octane.client import OctaneClient, quote_query_value
from pytest_octane.octane.schema import safe_parser
from pytest_octane.settings import MAX_SLICE_SIZE
from pytest_octane.store import TaskStore

__all__ = [
    "CoverageResult",
    "DelinkResult",
    "Identity",
    "delink_job",
    "find_suite_runs",
    "find_test_ids",
    "link_job_runs",
    "spooled_tests",
]

#: Characters of ``IN`` values per query: keeps URLs well under common 8 KB limits.
_QUERY_CHARS = 3000
#: Values per ``IN`` list at most, whatever their length.
_QUERY_ITEMS = 200

Warn = Callable[[str], None]
#: A test as Octane identifies it: (module/component, package, class, name).
Identity = tuple[str, str, str, str]


# ---------------------------------------------------------------- the job's runs


def _in_batches(values: Sequence[str]) -> Iterator[list[str]]:
    """Quoted ``IN`` values in batches bounded by count and by URL length."""
    batch: list[str] = []
    size = 0
    for value in values:
        if batch and (len(batch) >= _QUERY_ITEMS or size + len(value) > _QUERY_CHARS):
            yield batch
            batch, size = [], 0
        batch.append(value)
        size += len(value) + 1
    if batch:
        yield batch


def find_suite_runs(client: OctaneClient, suite_id: int, external_run_id: str) -> list[int]:
    """The job's suite run(s): subtype run_suite, of this suite, named after the run id."""
    query = (
        f"subtype EQ 'run_suite';test EQ {{id EQ {suite_id}}};"
        f"name EQ {quote_query_value(external_run_id)}"
    )
    return sorted(int(e["id"]) for e in client.iter_entities("runs", query=query, fields=["id"]))


def _suite_runs_filter(suite_run_ids: Sequence[int]) -> str:
    ids = ",".join(str(i) for i in suite_run_ids)
    inner = f"id EQ {ids}" if len(suite_run_ids) == 1 else f"id IN {ids}"
    return f"parent_suite EQ {{{inner}}}"


def _automated_runs(
    client: OctaneClient, suite_run_ids: Sequence[int], fields: Sequence[str], page_size: int
) -> list[dict[str, Any]]:
    if not suite_run_ids:
        return []
    return client.get_entities(
        "automated_runs",
        query=_suite_runs_filter(suite_run_ids),
        fields=list(fields),
        order_by="id",
        page_size=page_size,
    )


def _ref_ids(value: Any) -> set[int]:
    """Ids of a multi-reference field as Octane renders it (``{"data": [{id}]}``)."""
    items = value.get("data") if isinstance(value, dict) else value
    found: set[int] = set()
    for item in items or ():
        if isinstance(item, dict) and str(item.get("id", "")).isdigit():
            found.add(int(item["id"]))
    return found


def _ref_id(value: Any) -> int | None:
    if isinstance(value, dict) and str(value.get("id", "")).isdigit():
        return int(value["id"])
    return None


def _story_refs(ids: Iterable[int]) -> dict[str, Any]:
    # "work_item": the entity type Octane shows in covered_content (API-FACTS 6, 1d)
    return {"data": [{"type": "work_item", "id": str(i)} for i in sorted(ids)]}


def spooled_tests(job: JobRecord) -> list[tuple[Identity, tuple[str, ...]]]:
    """Identity and per-test JIRA keys of every run the job spooled, in slice order."""
    found: list[tuple[Identity, tuple[str, ...]]] = []
    for record in sorted(job.slices, key=lambda s: s.index):
        path = Path(record.path)
        try:
            root = etree.parse(str(path), safe_parser()).getroot()
        except (OSError, etree.XMLSyntaxError) as exc:
            raise InputError(
                f"spooled slice {path} of job {job.job_id} cannot be read ({exc}); "
                "the per-test stories need the spool"
            ) from None
        runs = root.findall("test_runs/test_run")
        keys = read_keys(path, len(runs))
        for i, run in enumerate(runs):
            identity = (
                run.get("module") or "",
                run.get("package") or "",
                run.get("class") or "",
                run.get("name") or "",
            )
            found.append((identity, keys[i]))
    return found


def find_test_ids(
    client: OctaneClient, identities: Iterable[Identity], warn: Warn
) -> dict[Identity, list[int]]:
    """Octane test ids of automated tests, looked up by name and matched on the identity.

    Tests carry the XML's package and class as ``package`` and ``class_name`` (VERIFIED);
    they have no field for the XML's module (``component`` is not a test field, API-FACTS
    1d), so the module part of an identity is not compared.  Should a server not know
    ``package``/``class_name`` (a 400), tests are matched on what it returns.
    """
    by_name: dict[str, list[Identity]] = {}
    for identity in set(identities):
        by_name.setdefault(identity[3], []).append(identity)
    found: dict[Identity, list[int]] = {}
    for batch in _in_batches([quote_query_value(name) for name in sorted(by_name)]):
        query = f"subtype EQ 'test_automated';name IN {','.join(batch)}"
        for test in client.iter_entities(
            "tests", query=query, fields=["id", "name"], optional_fields=["package", "class_name"]
        ):
            for identity in by_name.get(str(test.get("name") or ""), ()):
                if "package" in test and str(test["package"] or "") != identity[1]:
                    continue
                if "class_name" in test and str(test["class_name"] or "") != identity[2]:
                    continue
                found.setdefault(identity, []).append(int(test["id"]))
    return found


@dataclass(slots=True)
class CoverageResult:
    """What the coverage step did; ``event`` is what went into the job's history."""

    event: dict[str, Any]
    warnings: list[str]

    def summary(self) -> str:
        e = self.event
        return (
            f"coverage: {e['runs_linked']} of {e['runs_found']} runs of suite run(s) "
            f"{e['suite_run_ids']} got new story links (job-level stories "
            f"{e['job_story_ids']}, {e['runs_with_test_stories']} runs with per-test stories)"
        )


def link_job_runs(
    client: OctaneClient,
    job: JobRecord,
    suite_id: int,
    job_stories: Mapping[str, Sequence[int]],
    test_stories: Mapping[Identity, Iterable[int]],
    *,
    batch_size: int = MAX_SLICE_SIZE,
    warn: Warn | None = None,
) -> CoverageResult:
    """Append the job-level and per-test story ids to the ``covered_content`` of the job's runs.

    Only links a run lacks are sent (``PUT automated_runs`` with
    ``reference_update_mode=append``, at most ``batch_size`` runs per call), so links that
    other jobs made are never touched and running it again sends nothing new.
    """
    warnings: list[str] = []

    def note(text: str) -> None:
        warnings.append(text)
        if warn is not None:
            warn(text)

    plan = JobSuite.of(job)
    if plan is None:
        raise ConfigError(f"job {job.job_id} has no suite, so it has no suite run to link")
    suite_runs = find_suite_runs(client, suite_id, plan.external_run_id)
    job_ids = sorted({i for ids in job_stories.values() for i in ids})
    by_test: dict[int, set[int]] = {}
    if test_stories:
        wanted_tests = {identity: set(ids) for identity, ids in test_stories.items() if ids}
        for identity, test_ids in find_test_ids(client, wanted_tests, note).items():
            for test_id in test_ids:
                by_test.setdefault(test_id, set()).update(wanted_tests[identity])
    page = max(1, min(batch_size, MAX_SLICE_SIZE))
    runs = _automated_runs(client, suite_runs, ["id", "test", "covered_content"], page)
    updates: list[dict[str, Any]] = []
    with_test_stories = 0
    for run in runs:
        run_test = _ref_id(run.get("test"))
        own = by_test.get(run_test, set()) if run_test is not None else set()
        with_test_stories += bool(own)
        missing = (set(job_ids) | own) - _ref_ids(run.get("covered_content"))
        if missing:
            updates.append({"id": str(run["id"]), "covered_content": _story_refs(missing)})
    for start in range(0, len(updates), page):
        client.update_entities(
            "automated_runs", updates[start : start + page], reference_update_mode="append"
        )
    uploaded = sum(s.run_count for s in job.slices)
    if not suite_runs:
        note(
            f"no suite run named {plan.external_run_id!r} of suite {suite_id} was found; "
            "nothing was linked — check the suite and run ids in Octane"
        )
    elif len(runs) < uploaded:
        note(
            f"suite run(s) {suite_runs} hold {len(runs)} runs but job {job.job_id} uploaded "
            f"{uploaded}; Octane may have skipped some — only those found were linked"
        )
    elif len(runs) > uploaded:
        note(
            f"suite run(s) {suite_runs} hold {len(runs)} runs, more than the {uploaded} of job "
            f"{job.job_id}: another job used external run id {plan.external_run_id!r}; "
            "its runs were linked too"
        )
    event = {
        "time": time.time(),
        "event": COVERAGE_EVENT,
        "suite_id": suite_id,
        "external_run_id": plan.external_run_id,
        "suite_run_ids": suite_runs,
        "job_stories": {k: sorted(v) for k, v in sorted(job_stories.items())},
        "job_story_ids": job_ids,
        "runs_found": len(runs),
        "runs_uploaded": uploaded,
        "runs_linked": len(updates),
        "runs_with_test_stories": with_test_stories,
        "complete": bool(suite_runs) and len(runs) >= uploaded,
    }
    return CoverageResult(event=event, warnings=warnings)


# ---------------------------------------------------------------- delink


@dataclass(slots=True)
class DelinkResult:
    """What delink did; ``event`` is what went into the job's history."""

    event: dict[str, Any]
    unmapped_keys: list[str]

    def summary_lines(self) -> list[str]:
        e = self.event
        lines = [
            f"job {e['job_id']}: removed stories {e['story_ids']} ({', '.join(e['keys'])}) "
            f"from {e['runs_delinked']} of {e['runs_found']} runs of suite run(s) "
            f"{e['suite_run_ids']}; every other link was kept"
        ]
        if self.unmapped_keys:
            lines.append("JIRA keys with no Octane story: " + ", ".join(self.unmapped_keys))
        return lines


def _job_story_ids(job: JobRecord, keys: Sequence[str]) -> dict[str, list[int]]:
    """Story ids the job's coverage step recorded for ``keys`` (no query needed)."""
    for event in reversed(job.history):
        if event.get("event") == COVERAGE_EVENT:
            recorded = event.get("job_stories") or {}
            return {k: [int(i) for i in recorded[k]] for k in keys if recorded.get(k)}
    return {}


def delink_job(
    client: OctaneClient,
    store: TaskStore,
    job: JobRecord,
    keys: Sequence[str] = (),
    *,
    batch_size: int = MAX_SLICE_SIZE,
    map_keys: Callable[[Sequence[str]], Mapping[str, Sequence[int]]] | None = None,
) -> DelinkResult:
    """Remove the stories of ``keys`` (default: the job-level ones) from this job's runs only.

    Each run that has one of them is PUT with its remaining ``covered_content`` (Octane
    replaces a multi-reference on PUT without ``reference_update_mode``); runs of other jobs
    and every other link stay as they are.  Recorded in the job's history.
    """
    plan = JobSuite.of(job)
    if plan is None:
        raise ConfigError(
            f"job {job.job_id} was uploaded without a suite, so its runs cannot be told apart "
            "from other jobs' runs; delink works on jobs uploaded with --octane-suite"
        )
    keys = tuple(dict.fromkeys(keys or plan.jira_keys))
    if not keys:
        raise ConfigError(
            f"job {job.job_id} has no job-level JIRA story (--octane-jira); "
            "name the story to remove with --jira KEY"
        )
    suite_id = recorded_suite_id(job)
    if suite_id is None:
        raise ConfigError(
            f"job {job.job_id} never sent a slice, so it has no suite run; nothing to delink"
        )
    stories = _job_story_ids(job, keys)
    missing = [k for k in keys if k not in stories]
    if missing and map_keys is not None:
        stories.update({k: list(v) for k, v in map_keys(missing).items() if v})
    unmapped = [k for k in keys if k not in stories]
    remove = {i for ids in stories.values() for i in ids}
    if not remove:
        raise ConfigError(
            f"JIRA key(s) {', '.join(keys)} match no Octane story (field {plan.jira_field}); "
            "check the keys"
        )
    suite_runs = find_suite_runs(client, suite_id, plan.external_run_id)
    page = max(1, min(batch_size, MAX_SLICE_SIZE))
    runs = _automated_runs(client, suite_runs, ["id", "covered_content"], page)
    updates: list[dict[str, Any]] = []
    for run in runs:
        current = _ref_ids(run.get("covered_content"))
        if current & remove:
            updates.append({"id": str(run["id"]), "covered_content": _story_refs(current - remove)})
    for start in range(0, len(updates), page):
        client.update_entities("automated_runs", updates[start : start + page])
    event = {
        "time": time.time(),
        "event": DELINK_EVENT,
        "job_id": job.job_id,
        "keys": list(keys),
        "story_ids": sorted(remove),
        "suite_id": suite_id,
        "external_run_id": plan.external_run_id,
        "suite_run_ids": suite_runs,
        "runs_found": len(runs),
        "runs_delinked": len(updates),
    }
    store.add_history(job.job_id, event)
    return DelinkResult(event=event, unmapped_keys=unmapped)
