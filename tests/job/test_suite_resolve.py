"""Suite paths against the simulator: modules and suites found or created once, suite_ref."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from lxml import etree
from suite_support import STORIES, SettingsFor, race_creations

from pytest_octane.errors import ConfigError
from pytest_octane.job.engine import make_client
from pytest_octane.job.module_tree import (
    ModuleResolver,
    get_or_create_suite,
    resolve_suite,
    split_suite_path,
    with_suite_ref,
)
from pytest_octane.octane.client import OctaneClient
from pytest_octane.octane.schema import validate
from pytest_octane.simulator import Simulator

pytestmark = pytest.mark.octane_simulator(stories=STORIES)


@pytest.fixture
def client(sim: Simulator, settings_for: SettingsFor) -> Iterator[OctaneClient]:
    with make_client(settings_for()) as octane:
        yield octane


def suites_named(sim: Simulator, name: str) -> list[dict[str, Any]]:
    return [t for t in sim.tests() if t["subtype"] == "test_suite" and t["name"] == name]


def test_the_path_becomes_modules_under_the_root_and_a_suite_under_the_leaf(
    sim: Simulator, client: OctaneClient
) -> None:
    warnings: list[str] = []
    resolver = ModuleResolver(client, warnings.append)
    suite, module_ids = resolve_suite(
        client, resolver.ensure, "Automated", "Team/Area/Nightly", warnings.append
    )
    modules = {(m["name"], m["parent_id"]): m["id"] for m in sim.application_modules()}
    root = modules[("Automated", sim.system_root_id)]
    assert module_ids == [modules[("Team", root)], modules[("Area", module_ids[0])]]
    [created] = suites_named(sim, "Nightly")
    assert created["id"] == suite and created["product_areas"] == [module_ids[1]]
    # a second resolution finds everything and creates nothing
    again = resolve_suite(
        client, ModuleResolver(client, warnings.append).ensure, "Automated",
        "Team/Area/Nightly", warnings.append,
    )  # fmt: skip
    assert again == (suite, module_ids)
    assert len(sim.application_modules()) == 3 and len(suites_named(sim, "Nightly")) == 1
    assert not warnings


def test_a_suite_of_the_same_name_under_another_module_is_not_used(
    sim: Simulator, client: OctaneClient
) -> None:
    other = sim.add_application_module("Elsewhere")
    foreign = sim.add_test_suite("Nightly", product_area_id=other)
    resolver = ModuleResolver(client, lambda _: None)
    suite, _ = resolve_suite(client, resolver.ensure, None, "Team/Nightly", lambda _: None)
    assert suite != foreign and len(suites_named(sim, "Nightly")) == 2


def test_without_a_root_module_the_first_module_is_a_top_level_one(
    sim: Simulator, client: OctaneClient
) -> None:
    resolver = ModuleResolver(client, lambda _: None)
    resolve_suite(client, resolver.ensure, None, "Team/Nightly", lambda _: None)
    assert [(m["name"], m["parent_id"]) for m in sim.application_modules()] == [
        ("Team", sim.system_root_id)
    ]


def test_a_suite_path_of_one_name_puts_the_suite_under_the_root(
    sim: Simulator, client: OctaneClient
) -> None:
    resolver = ModuleResolver(client, lambda _: None)
    suite, modules = resolve_suite(client, resolver.ensure, "Automated", "Smoke", lambda _: None)
    [root] = sim.application_modules()
    assert modules == [] and suites_named(sim, "Smoke")[0]["product_areas"] == [root["id"]]
    assert suites_named(sim, "Smoke")[0]["id"] == suite


def test_losing_a_creation_race_deletes_the_own_suite(
    sim: Simulator, client: OctaneClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process creates the suite between our query and our create: theirs wins."""
    area = sim.add_application_module("Area")
    competitor = race_creations(
        monkeypatch, client, lambda: sim.add_test_suite("Nightly", product_area_id=area)
    )
    warnings: list[str] = []
    assert get_or_create_suite(client, "Nightly", area, warnings.append) == competitor[0]
    assert [t["id"] for t in suites_named(sim, "Nightly")] == competitor
    assert sim.counters["requests_per_endpoint"]["DELETE /tests/{id}"] == 1
    assert not warnings  # a race is not a pre-existing duplicate


def test_losing_a_creation_race_deletes_the_own_module(
    sim: Simulator, client: OctaneClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = sim.add_application_module("Automated")
    competitor = race_creations(
        monkeypatch, client, lambda: sim.add_application_module("Team", root)
    )
    resolver = ModuleResolver(client, lambda _: None)
    assert resolver.ensure("Team", root) == competitor[0]
    assert [m["id"] for m in sim.application_modules() if m["name"] == "Team"] == competitor


def test_existing_duplicate_suites_use_the_lowest_id_and_warn(
    sim: Simulator, client: OctaneClient
) -> None:
    area = sim.add_application_module("Area")
    first = sim.add_test_suite("Nightly", product_area_id=area)
    second = sim.add_test_suite("Nightly", product_area_id=area)
    warnings: list[str] = []
    assert get_or_create_suite(client, "Nightly", area, warnings.append) == first
    assert len(warnings) == 1 and f"[{first}, {second}]" in warnings[0]
    assert len(suites_named(sim, "Nightly")) == 2  # reported, never deleted


def test_names_with_quotes_are_found_again(sim: Simulator, client: OctaneClient) -> None:
    resolver = ModuleResolver(client, lambda _: None)
    path = "Team's/Nightly 'full'"
    first = resolve_suite(client, resolver.ensure, None, path, lambda _: None)
    second = resolve_suite(
        client, ModuleResolver(client, lambda _: None).ensure, None, path, lambda _: None
    )
    assert first == second and len(sim.application_modules()) == 1


def test_split_suite_path() -> None:
    assert split_suite_path("Team/Area/Nightly") == (["Team", "Area"], "Nightly")
    assert split_suite_path("Nightly") == ([], "Nightly")
    with pytest.raises(ConfigError, match="empty part"):
        split_suite_path("Team//Nightly")


SLICE = (
    b"<?xml version='1.0' encoding='UTF-8' standalone='yes'?>"
    b"<test_result><build server_id='s' job_id='j' build_id='1'/><release name='_default_'/>"
    b"<test_runs><test_run name='t' duration='1' status='Passed'/></test_runs></test_result>"
)


def test_suite_ref_goes_right_after_build_and_stays_valid() -> None:
    payload = with_suite_ref(SLICE, 4001, "nightly-481")
    root = etree.fromstring(payload)
    assert [child.tag for child in root] == ["build", "suite_ref", "release", "test_runs"]
    suite = root.find("suite_ref")
    assert suite is not None
    assert (suite.get("id"), suite.get("external_run_id")) == ("4001", "nightly-481")
    assert len(suite.attrib) == 2
    assert validate(payload) == []
    # applied twice (a re-sent slice) it still holds one suite_ref
    assert with_suite_ref(payload, 4001, "nightly-481") == payload


def test_suite_ref_without_build_is_the_first_element() -> None:
    bare = b"<test_result><test_runs><test_run name='t' duration='1' status='Passed'/>" + (
        b"</test_runs></test_result>"
    )
    root = etree.fromstring(with_suite_ref(bare, 7, "x" * 300))
    assert root[0].tag == "suite_ref" and len(root[0].get("external_run_id", "")) == 255
