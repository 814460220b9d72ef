"""job/run/links.py: JIRA keys to stories in batched queries, and each run's references."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pytest_octane.job.outcome import JobOutcome
from pytest_octane.job.run.context import JobContext, RequestLog, make_client
from pytest_octane.job.run.journaled import prepare_job
from pytest_octane.job.run.links import (
    KEYS_PER_QUERY,
    look_ahead,
    lookup_stories,
    map_jira_keys,
    references,
)
from pytest_octane.model import SpooledRun
from pytest_octane.octane.client import OctaneClient
from pytest_octane.octane.credentials import Credentials
from pytest_octane.octane.results_xml import RunRefs
from pytest_octane.settings import Settings
from pytest_octane.simulator import Simulator
from pytest_octane.store import TaskStore


@pytest.fixture
def client(settings: Settings, credentials: Credentials) -> Iterator[OctaneClient]:
    with make_client(settings, credentials=credentials) as made:
        yield made


def _story_queries(sim: Simulator) -> int:
    return sum(1 for r in sim.request_log if r.method == "GET" and r.path.endswith("/stories"))


def _ctx(
    settings: Settings, store: TaskStore, client: OctaneClient, lines: list[str]
) -> JobContext:
    job = prepare_job(settings, [], store)
    outcome = JobOutcome(job=job, store_location=store.location)
    return JobContext(settings, store, client, RequestLog(), outcome, lines.append)


def test_keys_are_looked_up_in_batches_of_fifty(client: OctaneClient, sim: Simulator) -> None:
    ids = {f"ABC-{n}": sim.add_story(f"ABC-{n}") for n in range(1, 121)}
    sim.add_story("ABC-7")  # a key on two stories: both ids, sorted
    found = map_jira_keys(client, sim.jira_field, [*ids, "NOPE-1", "ABC-1"])
    assert _story_queries(sim) == -(-121 // KEYS_PER_QUERY) == 3
    assert "NOPE-1" not in found
    assert found["ABC-1"] == [ids["ABC-1"]]
    assert len(found["ABC-7"]) == 2 and found["ABC-7"] == sorted(found["ABC-7"])


def test_a_key_is_queried_once_per_job_run_and_unmapped_only_once_a_run_carries_it(
    settings: Settings, store: TaskStore, client: OctaneClient, sim: Simulator
) -> None:
    story = sim.add_story("ABC-1")
    lines: list[str] = []
    ctx = _ctx(settings, store, client, lines)
    assert lookup_stories(ctx, {"ABC-1", "ABC-2"}, ahead=True) == {"ABC-1": [story]}
    assert ctx.outcome.unmapped_keys == []  # looked up ahead: not unmapped yet
    assert lines == [
        "looked up the JIRA keys of the collected tests: 1 of 2 have a story in Octane"
    ]
    queries = _story_queries(sim)
    assert lookup_stories(ctx, {"ABC-2"}) == {}
    assert _story_queries(sim) == queries  # answered from what was looked up
    assert ctx.outcome.unmapped_keys == ["ABC-2"]
    assert lines[-1] == "mapped 0 of 1 JIRA keys to Octane stories"


def test_references_give_each_run_its_stories_and_module(
    settings_for: Any, store: TaskStore, client: OctaneClient, sim: Simulator
) -> None:
    settings = settings_for(root_module="Automated")
    story = sim.add_story("ABC-1")
    ctx = _ctx(settings, store, client, [])
    runs = {
        1: [SpooledRun("tests.shop", "test_cart", ("ABC-1",))],
        2: [SpooledRun("tests.shop", "test_pay", ())],
    }
    refs = references(ctx, runs)
    modules = {m["name"]: int(m["id"]) for m in sim.application_modules()}
    assert refs == {
        1: [
            RunRefs(backlog_item_ids=(story,), product_area_ids=(modules["tests.shop.test_cart"],))
        ],
        2: [RunRefs(backlog_item_ids=(), product_area_ids=(modules["tests.shop.test_pay"],))],
    }
    assert "Automated" in modules


def test_look_ahead_signs_in_and_makes_the_modules_before_any_run_is_sent(
    settings_for: Any, store: TaskStore, client: OctaneClient, sim: Simulator
) -> None:
    settings = settings_for(root_module="Automated")
    ctx = _ctx(settings, store, client, [])
    look_ahead(ctx, [SpooledRun("tests", "test_a", ("XYZ-9",))])
    assert client.signed_in
    assert {"Automated", "tests.test_a"} <= {m["name"] for m in sim.application_modules()}
    assert ctx.queried_keys == {"XYZ-9"} and ctx.outcome.unmapped_keys == []
    assert not any(r.path.endswith("/test-results") for r in sim.request_log)
