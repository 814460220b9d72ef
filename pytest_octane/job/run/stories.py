"""JIRA keys -> Octane story ids: batched queries, and what one job run looked up so far."""

from __future__ import annotations

from collections.abc import Iterable

from pytest_octane.job.run.context import JobContext
from pytest_octane.octane.client import OctaneClient, quote_query_value

__all__ = ["KEYS_PER_QUERY", "lookup_stories", "map_jira_keys"]

#: JIRA keys per story query: keeps URLs short and the query count at ceil(keys / 50).
KEYS_PER_QUERY = 50


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


# ---------------------------------------------------------------- application modules


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
