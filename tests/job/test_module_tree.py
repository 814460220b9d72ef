"""Issue 12: the module tree as Octane has it, and no failed job when DELETE is refused."""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from suite_support import STORIES, SettingsFor, make_runs, race_creations

from pytest_octane.job.engine import make_client, upload_session
from pytest_octane.job.module_tree import ModuleResolver, get_or_create_suite, resolve_suite
from pytest_octane.octane.client import OctaneClient
from pytest_octane.simulator import Simulator

pytestmark = pytest.mark.octane_simulator(stories=STORIES)


@pytest.fixture
def client(sim: Simulator, settings_for: SettingsFor) -> Iterator[OctaneClient]:
    with make_client(settings_for()) as octane:
        yield octane


def race_every_job(patch: pytest.MonkeyPatch, competitor: Callable[[str, Any], None]) -> None:
    """Before each create of any client, ``competitor(collection, item)`` makes its copy."""
    create = OctaneClient.create_entities

    def racing_create(
        self: OctaneClient, collection: str, data: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        competitor(collection, data[0])
        return create(self, collection, data)

    patch.setattr(OctaneClient, "create_entities", racing_create)


def module_posts(sim: Simulator) -> list[Any]:
    return [
        r for r in sim.request_log if r.method == "POST" and r.path.endswith("/application_modules")
    ]


def test_the_root_module_goes_directly_under_the_system_root(
    sim: Simulator, client: OctaneClient
) -> None:
    resolver = ModuleResolver(client, lambda _: None)
    root = resolver.ensure("Automated", None)
    child = resolver.ensure("Team", root)
    tree = {m["id"]: m["parent_id"] for m in sim.application_modules()}
    assert tree == {root: sim.system_root_id, child: root}
    gets = [r.query for r in sim.request_log if r.method == "GET"]
    assert any("product_area.root" in q for q in gets)


def test_the_system_roots_own_name_is_the_system_root(sim: Simulator, client: OctaneClient) -> None:
    resolver = ModuleResolver(client, lambda _: None)
    assert resolver.ensure("Application Modules", None) == sim.system_root_id
    assert module_posts(sim) == []


def test_a_seed_era_parentless_module_is_used(sim: Simulator, client: OctaneClient) -> None:
    old = sim.add_application_module("Automated")  # parent null, as the seed made it
    warnings: list[str] = []
    assert ModuleResolver(client, warnings.append).ensure("Automated", None) == old
    assert module_posts(sim) == [] and not warnings


def test_without_logical_name_the_parentless_module_is_the_system_root(
    sim: Simulator, client: OctaneClient
) -> None:
    sim.faults.fail_next("GET */application_modules", 400, error_code="platform.query_error")
    resolver = ModuleResolver(client, lambda _: None)
    assert resolver.system_root() == sim.system_root_id


def test_a_suite_without_modules_hangs_under_the_system_root(
    sim: Simulator, client: OctaneClient
) -> None:
    resolver = ModuleResolver(client, lambda _: None)
    suite, modules = resolve_suite(
        client, resolver.ensure, None, "Smoke", lambda _: None, system_root=resolver.system_root
    )
    [made] = [t for t in sim.tests() if t["name"] == "Smoke"]
    assert modules == [] and made["id"] == suite and made["product_areas"] == [sim.system_root_id]


def test_names_with_every_special_character_are_found_again(
    sim: Simulator, client: OctaneClient
) -> None:
    path = "Team's \\area\\ (\"x\")/Nightly 'full' ^(1)^"
    for _ in range(2):
        resolver = ModuleResolver(client, lambda _: None)
        resolve_suite(client, resolver.ensure, None, path, lambda _: None)
    assert len(sim.application_modules()) == 1
    assert len([t for t in sim.tests() if t["subtype"] == "test_suite"]) == 1


def test_a_refused_delete_of_a_lost_module_race_is_a_warning(
    sim: Simulator, client: OctaneClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim.faults.forbid_delete()
    root = sim.add_application_module("Automated", sim.system_root_id)
    competitor = race_creations(
        monkeypatch, client, lambda: sim.add_application_module("Team", root)
    )
    warnings: list[str] = []
    assert ModuleResolver(client, warnings.append).ensure("Team", root) == competitor[0]
    [ours] = [m["id"] for m in sim.application_modules() if m["name"] == "Team"][1:]
    assert len(warnings) == 1
    assert f"application module 'Team' {ours} is a duplicate of {competitor[0]}" in warnings[0]
    assert (
        "HTTP 403" in warnings[0] and f"delete application module {ours} in Octane" in warnings[0]
    )


def test_a_refused_delete_of_a_lost_suite_race_is_a_warning(
    sim: Simulator, client: OctaneClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim.faults.forbid_delete()
    area = sim.add_application_module("Area", sim.system_root_id)
    competitor = race_creations(
        monkeypatch, client, lambda: sim.add_test_suite("Nightly", product_area_id=area)
    )
    warnings: list[str] = []
    assert get_or_create_suite(client, "Nightly", area, warnings.append) == competitor[0]
    [ours] = [t["id"] for t in sim.tests() if t["name"] == "Nightly"][1:]
    assert len(warnings) == 1
    assert f"test suite 'Nightly' {ours} is a duplicate of {competitor[0]}" in warnings[0]
    assert f"delete test suite {ours} in Octane" in warnings[0]


def test_a_job_with_delete_refused_that_loses_every_race_uploads_everything_once(
    sim: Simulator, settings_for: SettingsFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another job (no shared store) creates each module and the suite just before we do."""
    sim.faults.forbid_delete()

    def competitor(collection: str, item: Any) -> None:
        if collection == "application_modules":
            sim.add_application_module(item["name"], int(item["parent"]["id"]))
        else:
            area = int(item["product_areas"]["data"][0]["id"])
            sim.add_test_suite(item["name"], product_area_id=area)

    race_every_job(monkeypatch, competitor)
    runs = make_runs(300)
    outcome = upload_session(settings_for(suite="Team/Nightly", slice_size="100"), runs)
    assert outcome.ok, outcome.summary_lines()
    stored = sim.runs()
    assert len(stored) == 300
    assert len({(r["package"], r["class"], r["name"]) for r in stored}) == 300
    refused = [w for w in outcome.warnings if "may not delete it (HTTP 403)" in w]
    made = collections.Counter(m["name"] for m in sim.application_modules())
    assert len(refused) == sum(made.values()) - len(made) + 1  # each module, and the suite
    assert any(w in line for line in outcome.summary_lines() for w in refused[:1])


def test_a_later_job_reuses_every_module_and_the_suite_left_by_a_lost_race(
    sim: Simulator, settings_for: SettingsFor, tmp_path: Path
) -> None:
    """The loser's undeletable copy stays; later jobs use the winner and create nothing."""
    sim.faults.forbid_delete()

    def competitor(collection: str, item: Any) -> None:
        if item["name"] == "Automated":
            sim.add_application_module("Automated", sim.system_root_id)

    with pytest.MonkeyPatch.context() as patch:
        race_every_job(patch, competitor)
        first = upload_session(settings_for(suite="Team/Nightly"), make_runs(20))
    assert first.ok, first.summary_lines()
    [winner, loser] = [m["id"] for m in sim.application_modules() if m["name"] == "Automated"]
    assert any(f"delete application module {loser} in Octane" in w for w in first.warnings)

    def posts() -> collections.Counter[str]:
        return collections.Counter(
            r.path.rsplit("/", 1)[-1] for r in sim.request_log if r.method == "POST"
        )

    before = posts()
    later = upload_session(
        settings_for(suite="Team/Nightly", task_store=str(tmp_path / "s2")), make_runs(20)
    )
    assert later.ok, later.summary_lines()
    assert posts()["application_modules"] == before["application_modules"]
    assert posts()["tests"] == before["tests"]
    assert any(f"ids [{winner}, {loser}]; using {winner}" in w for w in later.warnings)
    assert len(sim.runs()) == 40
