"""The seed's suite flow: a suite under a module path, one suite run per job, run coverage, delink.

A job with a suite path (``Team/Area/Nightly``) gets its application modules and its test
suite found or created (never duplicated, even by two uploaders at once), and every slice is
sent with ``<suite_ref id=… external_run_id=…/>`` so Octane keeps all slices in ONE suite run.
After every slice succeeded, the runs of that suite run are linked to the job-level stories
(``--octane-jira``) and, with ``updateAutoRuns``, to each test's own stories, by appending to
their ``covered_content``.  ``pytest-octane delink`` takes a story back off exactly those runs.

What the job needs later (suite path, external run id, job-level keys) is recorded with the
job, and each step is written to the job's history, so ``resume`` and ``delink`` work from the
task store alone.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from pytest_octane.errors import (
    ConfigError,
    CredentialsError,
    InputError,
    OctaneError,
    StoreError,
)
from pytest_octane.job.coord import Guard, creation_lock, taking_turns
from pytest_octane.job.module_tree import drop_duplicate, product_area
from pytest_octane.job.spool import read_keys
from pytest_octane.model import JobRecord, RequestLogEntry, SliceStatus
from pytest_octane.octane.client import OctaneClient, quote_query_value
from pytest_octane.octane.schema import safe_parser
from pytest_octane.settings import MAX_SLICE_SIZE, Settings, parse_jira_key
from pytest_octane.store import TaskStore

__all__ = [
    "COVERAGE_EVENT",
    "DELINK_EVENT",
    "SUITE_EVENT",
    "CoverageResult",
    "DelinkResult",
    "JobSuite",
    "configure_delink_parser",
    "coverage_pending",
    "creation_lock",
    "delink_job",
    "external_run_id_for",
    "find_suite_runs",
    "find_test_ids",
    "get_or_create_suite",
    "link_job_runs",
    "recorded_suite_id",
    "resolve_suite",
    "run_delink",
    "split_suite_path",
    "spooled_tests",
    "taking_turns",
    "with_suite_ref",
]

SUITE_EVENT = "suite"
COVERAGE_EVENT = "coverage"
DELINK_EVENT = "delink"

#: Characters of ``IN`` values per query: keeps URLs well under common 8 KB limits.
_QUERY_CHARS = 3000
#: Values per ``IN`` list at most, whatever their length.
_QUERY_ITEMS = 200

EnsureModule = Callable[[str, int | None], int]
Warn = Callable[[str], None]
#: A test as Octane identifies it: (module/component, package, class, name).
Identity = tuple[str, str, str, str]


def _now() -> float:
    return time.time()


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
            jira_field=str(recorded.get("jira_field") or "jira_key_udf"),
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


# ---------------------------------------------------------------- modules and the suite


def split_suite_path(path: str) -> tuple[list[str], str]:
    """``Team/Area/Nightly`` -> (["Team", "Area"], "Nightly")."""
    parts = [part.strip() for part in path.split("/")]
    if not parts or any(not part for part in parts):
        raise ConfigError(f"suite path {path!r} has an empty part; use e.g. Team/Area/Nightly")
    return parts[:-1], parts[-1]


def resolve_suite(
    client: OctaneClient,
    ensure_module: EnsureModule,
    root_module: str | None,
    path: str,
    warn: Warn,
    *,
    system_root: Callable[[], int] | None = None,
    guard: Guard | None = None,
) -> tuple[int, list[int]]:
    """Get or create the path's modules and its suite; return (suite id, module ids).

    The modules hang under the root module, itself directly under the workspace's system
    root (``ensure_module(name, None)``), or are top-level modules when no root module is
    configured.  A suite with no module of its own goes under ``system_root()``.
    """
    modules, suite_name = split_suite_path(path)
    parent = ensure_module(root_module, None) if root_module else None
    module_ids: list[int] = []
    for name in modules:
        parent = ensure_module(name, parent)
        module_ids.append(parent)
    if parent is None and system_root is not None:
        root = system_root()
        suite_id = get_or_create_suite(
            client, suite_name, root, warn, seed_unparented=True, guard=guard
        )
        return suite_id, []
    return get_or_create_suite(client, suite_name, parent, warn, guard=guard), module_ids


def _find_suites(client: OctaneClient, name: str, module_id: int | None) -> list[int]:
    area = (
        "product_areas EQ {null}"
        if module_id is None
        else f"product_areas EQ {{id EQ {module_id}}}"
    )
    query = f"subtype EQ 'test_suite';name EQ {quote_query_value(name)};{area}"
    return sorted(int(e["id"]) for e in client.iter_entities("tests", query=query, fields=["id"]))


def get_or_create_suite(
    client: OctaneClient,
    name: str,
    module_id: int | None,
    warn: Warn,
    *,
    seed_unparented: bool = False,
    guard: Guard | None = None,
) -> int:
    """The test suite ``name`` under ``module_id``, created when missing, never duplicated.

    Same rule as the application modules: query, create, query again; when another uploader
    created the same suite at the same moment, the lowest id wins and the loser deletes its
    own copy (or warns, when the API key may not delete).  Suites that were duplicated
    before are used (lowest id) and reported.  ``seed_unparented`` also finds a suite the
    seed made with no application module.
    """
    with taking_turns(client, guard):
        return _get_or_create_suite(client, name, module_id, warn, seed_unparented)


def _get_or_create_suite(
    client: OctaneClient, name: str, module_id: int | None, warn: Warn, seed_unparented: bool
) -> int:
    where = "with no application module" if module_id is None else f"under module {module_id}"
    ids = _find_suites(client, name, module_id)
    if not ids and seed_unparented and module_id is not None:
        ids = _find_suites(client, name, None)
    if len(ids) > 1:
        warn(
            f"duplicate test suites named {name!r} ({where}): ids {ids}; using {ids[0]} — "
            "clean up the others in Octane"
        )
    if ids:
        return ids[0]
    body: dict[str, Any] = {"name": name, "subtype": "test_suite"}
    if module_id is not None:
        body["product_areas"] = {"data": [product_area(module_id)]}
    created = int(client.create_entities("tests", [body])[0]["id"])
    ids = _find_suites(client, name, module_id)
    if created not in ids:
        ids = sorted([*ids, created])
    if ids[0] != created:  # another uploader won the race: use theirs
        drop_duplicate(client, "tests", "test suite", name, created, ids[0], warn)
    return ids[0]


def with_suite_ref(payload: bytes, suite_id: int, external_run_id: str) -> bytes:
    """The payload with the document-level ``<suite_ref>`` (right after ``<build>``)."""
    try:
        root = etree.fromstring(payload, safe_parser())
    except etree.XMLSyntaxError as exc:
        raise InputError(f"slice payload is not well-formed XML ({exc.msg})") from None
    for old in root.findall("suite_ref"):
        root.remove(old)
    suite = etree.Element("suite_ref", id=str(suite_id))
    suite.set("external_run_id", external_run_id[:255])
    build = root.find("build")
    root.insert(0 if build is None else root.index(build) + 1, suite)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True))


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
        "time": _now(),
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
        "time": _now(),
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


# ---------------------------------------------------------------- the delink command


def configure_delink_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``pytest-octane delink JOB [--jira KEY]`` (the lead wires the subcommand)."""
    from pytest_octane.cli import (  # cli may import this module
        add_settings_arguments,
        add_task_store_argument,
    )

    parser.add_argument("job", help="the job whose runs lose the story")
    parser.add_argument(
        "--jira",
        dest="delink_jira",
        action="append",
        metavar="KEY",
        help="JIRA key of the story to remove (repeatable; default: the job's --octane-jira "
        "stories)",
    )
    add_task_store_argument(parser)
    add_settings_arguments(parser, groups=["connection"])
    parser.set_defaults(func=run_delink)


class _Requests:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.entries: list[RequestLogEntry] = []

    def __call__(self, entry: RequestLogEntry) -> None:
        with self._lock:
            self.entries.append(entry)


def run_delink(args: argparse.Namespace) -> int:
    """``pytest-octane delink``: 0 done, 1 Octane or store failure, 2 usage/configuration."""
    from pytest_octane.cli import settings_from_args
    from pytest_octane.job.engine import make_client, map_jira_keys, settings_for_job
    from pytest_octane.store import open_store

    def fail(code: int, exc: BaseException) -> int:
        if getattr(args, "debug", False):
            raise exc
        print(f"pytest-octane: error: {exc}", file=sys.stderr)
        return code

    location = (
        getattr(args, "octane_task_store", None)
        or os.environ.get("OCTANE_TASK_STORE")
        or "octane_task_logs"
    )
    try:
        keys = tuple(parse_jira_key(k, "option --jira") for k in args.delink_jira or ())
        store = open_store(location)
    except (ConfigError, StoreError) as exc:
        return fail(2, exc)
    requests = _Requests()
    try:
        try:
            job = store.get_job(args.job)
        except StoreError:
            if any(j.job_id == args.job for j in store.list_jobs()):
                raise
            raise ConfigError(
                f"job {args.job!r} is not in the task store '{store.location}'; "
                "'pytest-octane jobs --task-store LOCATION' lists the jobs there"
            ) from None
        plan = JobSuite.of(job)
        settings = settings_for_job(settings_from_args(args, space=str(job.space_id)), job)
        client = make_client(settings, on_request=requests)
        field = plan.jira_field if plan else settings.jira_field
        with client:
            result = delink_job(
                client,
                store,
                job,
                keys,
                batch_size=settings.slice_size,
                map_keys=lambda missing: map_jira_keys(client, field, missing),
            )
    except (ConfigError, CredentialsError, InputError) as exc:
        return fail(2, exc)
    except OctaneError as exc:
        return fail(1, exc)
    finally:
        if requests.entries:
            try:
                store.append_requests(args.job, requests.entries)
            except StoreError:
                pass  # the request log is a diagnosis aid; the delink itself is recorded
        store.close()
    for line in result.summary_lines():
        print(line)
    return 0
