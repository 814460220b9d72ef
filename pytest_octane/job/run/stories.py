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


def lookup_stories(ctx: JobContext, keys: Iterable[str]) -> dict[str, list[int]]:
    """Story ids of ``keys``, querying only keys not looked up before in this job run."""
    keys = set(keys)
    new = keys - ctx.queried_keys
    if new:
        ctx.stories.update(map_jira_keys(ctx.client, ctx.settings.jira_field, new))
        ctx.queried_keys |= new
        found = set(ctx.stories) & ctx.queried_keys
        ctx.outcome.unmapped_keys = sorted(ctx.queried_keys - found)
        ctx.outcome.ambiguous_keys = {k: v for k, v in ctx.stories.items() if len(v) > 1}
        ctx.progress(f"mapped {len(found)} of {len(ctx.queried_keys)} JIRA keys to Octane stories")
    return {key: ctx.stories[key] for key in keys if key in ctx.stories}
