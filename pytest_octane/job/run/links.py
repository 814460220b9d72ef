"""A job's references in Octane: its suite, each run's stories (JIRA keys to story ids, in
batched queries) and module, and run coverage."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence

from pytest_octane.job import coverage, recorded
from pytest_octane.job.module_tree import Placed, module_name_of, resolve_suite
from pytest_octane.job.run.context import JobContext, flush_log, guard, module_resolver
from pytest_octane.job.spool import SpooledRun
from pytest_octane.model import SliceStatus
from pytest_octane.octane.client import OctaneClient, quote_query_value
from pytest_octane.octane.results_xml import RunRefs

__all__ = [
    "KEYS_PER_QUERY",
    "link_runs",
    "look_ahead",
    "lookup_stories",
    "map_jira_keys",
    "references",
    "resolve_job_suite",
]

#: JIRA keys per story query: keeps URLs short and the query count at ceil(keys / 50).
KEYS_PER_QUERY = 50


def resolve_job_suite(ctx: JobContext) -> None:
    """Find or create the job's suite (once per job: the id goes into its history)."""
    job = ctx.outcome.job
    plan = recorded.JobSuite.of(job)
    if plan is None or plan.path is None:
        return  # no suite, or an explicit suite id already in the spooled header
    suite_id = recorded.recorded_suite_id(job)
    if suite_id is None:
        suite_id, module_ids = resolve_suite(
            ctx.client,
            module_resolver(ctx).ensure,
            plan.root_module,
            plan.path,
            ctx.outcome.warnings.append,
            system_root=module_resolver(ctx).system_root,
            guard=guard(ctx),
        )
        ctx.store.add_history(
            job.job_id,
            {
                "time": time.time(),
                "event": recorded.SUITE_EVENT,
                "path": plan.path,
                "suite_id": suite_id,
                "module_ids": module_ids,
                "external_run_id": plan.external_run_id,
            },
        )
        ctx.progress(f"suite {plan.path!r}: test suite {suite_id}, run {plan.external_run_id!r}")
    ctx.suite_ref = (suite_id, plan.external_run_id)


def map_jira_keys(
    client: OctaneClient, field_name: str, keys: Iterable[str]
) -> dict[str, list[int]]:
    """Story ids per JIRA key, queried in batches of ``KEYS_PER_QUERY`` (paging followed)."""
    unique = sorted(set(keys))
    found: dict[str, list[int]] = {}
    for start in range(0, len(unique), KEYS_PER_QUERY):
        batch = unique[start : start + KEYS_PER_QUERY]
        values = ",".join(quote_query_value(key) for key in batch)
        for story in client.iter_entities(
            "stories", query=f"{field_name} IN {values}", fields=["id", field_name]
        ):
            key = str(story.get(field_name) or "").strip()
            if key in batch:
                found.setdefault(key, []).append(int(story["id"]))
    return {key: sorted(ids) for key, ids in found.items()}


def lookup_stories(
    ctx: JobContext, keys: Iterable[str], *, ahead: bool = False
) -> dict[str, list[int]]:
    """Story ids of ``keys``, querying only keys not looked up before in this job run.

    ``ahead``: keys of tests that may still run (streaming looks them up at the end of
    collection); they count as unmapped in the summary only once a run that carries them
    is sent, so a test that never ran cannot fail ``--octane-strict``.
    """
    keys = set(keys)
    new = keys - ctx.queried_keys
    if new:
        ctx.stories.update(map_jira_keys(ctx.client, ctx.settings.jira_field, new))
        ctx.queried_keys |= new
    if ahead:
        if new:
            found = len(set(ctx.stories) & new)
            ctx.progress(
                f"looked up the JIRA keys of the collected tests: {found} of {len(new)} have a "
                "story in Octane"
            )
    elif not keys <= ctx.linked_keys:
        ctx.linked_keys |= keys
        found_keys = set(ctx.stories) & ctx.linked_keys
        ctx.outcome.unmapped_keys = sorted(ctx.linked_keys - found_keys)
        ctx.outcome.ambiguous_keys = {
            k: v for k, v in ctx.stories.items() if len(v) > 1 and k in ctx.linked_keys
        }
        ctx.progress(
            f"mapped {len(found_keys)} of {len(ctx.linked_keys)} JIRA keys to Octane stories"
        )
    return {key: ctx.stories[key] for key in keys if key in ctx.stories}


def references(
    ctx: JobContext, runs_by_slice: Mapping[int, list[SpooledRun]]
) -> dict[int, list[RunRefs]]:
    """Look up story ids and module ids for every run of the slices to send."""
    mode = ctx.settings.module_mode
    # a run's references follow from its place and keys alone, so the runs of one test
    # class (often a whole slice) share one set, worked out once (issue 28)
    distinct = list(dict.fromkeys(run for runs in runs_by_slice.values() for run in runs))
    stories, modules = _look_up(ctx, distinct)
    shared: dict[SpooledRun, RunRefs] = {}
    for run in distinct:
        story_ids = sorted({i for key in run.jira_keys for i in stories.get(key, [])})
        module = module_name_of(run, mode) if modules else None
        shared[run] = RunRefs(
            backlog_item_ids=tuple(story_ids),
            product_area_ids=(modules[module],) if module in modules else (),
        )
    return {index: [shared[run] for run in runs] for index, runs in runs_by_slice.items()}


def look_ahead(ctx: JobContext, expected: Sequence[Placed]) -> None:
    """Streaming, at the end of collection: sign in, look up the collected tests' stories,
    make their modules and the job's suite while the first tests run, so the first slice
    is sent the moment it is full."""
    if not ctx.client.signed_in:
        ctx.client.sign_in()
    _look_up(ctx, expected, ahead=True)
    resolve_job_suite(ctx)


def _look_up(
    ctx: JobContext, runs: Sequence[Placed], *, ahead: bool = False
) -> tuple[dict[str, list[int]], dict[str, int]]:
    """Story ids per JIRA key and module ids per module name of ``runs`` (each once per job
    run: later calls are answered from what was looked up or made before)."""
    settings = ctx.settings
    plan = recorded.JobSuite.of(ctx.outcome.job)
    # job-level keys are looked up now too (one query), but linked only to runs, afterwards
    keys = {key for run in runs for key in run.jira_keys} | set(plan.jira_keys if plan else ())
    stories = lookup_stories(ctx, keys, ahead=ahead) if keys else {}
    modules: dict[str, int] = {}
    if settings.root_module and settings.module_mode != "off":
        names = {n for run in runs if (n := module_name_of(run, settings.module_mode))}
        if names or not ahead:
            resolver = module_resolver(ctx)
            root = resolver.ensure(settings.root_module, None)
            for name in sorted(names):
                modules[name] = resolver.ensure(name, root)
    return stories, modules


def link_runs(ctx: JobContext) -> None:
    """After every slice succeeded: link the suite run's runs to the job's stories."""
    job = ctx.store.get_job(ctx.outcome.job.job_id)
    ctx.outcome.job = job
    plan = recorded.JobSuite.of(job)
    if plan is None or not plan.links_runs(ctx.settings.update_auto_runs):
        return
    if job.status is not SliceStatus.SUCCESS:
        ctx.progress("runs are linked to their stories once every slice succeeded")
        return
    suite_id = recorded.recorded_suite_id(job)
    if suite_id is None:
        resolve_job_suite(ctx)
        assert ctx.suite_ref is not None
        suite_id = ctx.suite_ref[0]
    job_stories = lookup_stories(ctx, plan.jira_keys)
    test_stories: dict[coverage.Identity, set[int]] = {}
    if plan.update_auto_runs or ctx.settings.update_auto_runs:
        spooled = coverage.spooled_tests(job)
        stories = lookup_stories(ctx, {key for _, keys in spooled for key in keys})
        for identity, keys in spooled:
            ids = {i for key in keys for i in stories.get(key, [])}
            if ids:
                test_stories.setdefault(identity, set()).update(ids)
    try:
        result = coverage.link_job_runs(
            ctx.client,
            job,
            suite_id,
            job_stories,
            test_stories,
            batch_size=ctx.settings.slice_size,
            warn=ctx.outcome.warnings.append,
        )
    finally:
        flush_log(ctx)
    ctx.store.add_history(job.job_id, result.event)
    ctx.progress(result.summary())
