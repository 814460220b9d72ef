"""The simulator is as strict as API-FACTS 1d: module tree, references, fields, DELETE, paging."""

from __future__ import annotations

import gzip
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
import requests

ROOT_QUERY = "\"logical_name EQ 'product_area.root'\""


def _modules(api: requests.Session, sim: Any, body: Any) -> requests.Response:
    return api.post(f"{sim.api_url}/application_modules", json={"data": [body]}, timeout=10)


def test_the_workspace_has_one_system_root(sim: Any, api: requests.Session) -> None:
    found = api.get(
        f"{sim.api_url}/application_modules",
        params={"query": ROOT_QUERY, "fields": "id,name,logical_name,parent"},
        timeout=10,
    ).json()
    assert found["total_count"] == 1
    root = found["data"][0]
    assert root["id"] == str(sim.system_root_id)
    assert root["logical_name"] == "product_area.root"
    assert root["parent"] is None
    assert root["type"] == "product_area"


def test_a_module_without_parent_is_refused(sim: Any, api: requests.Session) -> None:
    for body in ({"name": "Top"}, {"name": "Top", "parent": None}):
        answer = _modules(api, sim, body)
        assert answer.status_code == 400, body
        assert answer.json()["error_code"] == "platform.missing_required_field"
    assert sim.application_modules() == []
    made = _modules(
        api, sim, {"name": "Top", "parent": {"type": "product_area", "id": str(sim.system_root_id)}}
    )
    assert made.status_code == 201
    assert sim.application_modules()[0]["parent_id"] == sim.system_root_id
    module = made.json()["data"][0]["id"]
    orphan = {"data": [{"id": module, "parent": None}]}
    answer = api.put(f"{sim.api_url}/application_modules", json=orphan, timeout=10)
    assert answer.status_code == 400
    assert answer.json()["error_code"] == "platform.missing_required_field"


def test_logical_name_cannot_be_written(sim: Any, api: requests.Session) -> None:
    parent = {"type": "product_area", "id": str(sim.system_root_id)}
    answer = _modules(
        api, sim, {"name": "X", "parent": parent, "logical_name": "product_area.root"}
    )
    assert answer.status_code == 400


@pytest.mark.parametrize("alias", ["application_module", "module", "Product_Area"])
def test_only_real_entity_types_in_references(sim: Any, api: requests.Session, alias: str) -> None:
    answer = _modules(
        api, sim, {"name": "X", "parent": {"type": alias, "id": str(sim.system_root_id)}}
    )
    assert answer.status_code == 400
    assert answer.json()["error_code"] == "platform.invalid_reference"
    suite = {
        "name": "S",
        "subtype": "test_suite",
        "product_areas": {"data": [{"type": alias, "id": str(sim.system_root_id)}]},
    }
    answer = api.post(f"{sim.api_url}/tests", json={"data": [suite]}, timeout=10)
    assert answer.status_code == 400


def test_component_is_not_a_field_of_tests(sim: Any, api: requests.Session) -> None:
    asked = api.get(f"{sim.api_url}/tests", params={"fields": "id,name,component"}, timeout=10)
    assert asked.status_code == 400
    assert asked.json()["error_code"] == "platform.unknown_field"
    body = {"name": "S", "subtype": "test_suite", "component": "x"}
    answer = api.post(f"{sim.api_url}/tests", json={"data": [body]}, timeout=10)
    assert answer.status_code == 400
    assert "unknown field 'component'" in answer.json()["description"]


def test_limit_above_1000_is_400(sim: Any, api: requests.Session) -> None:
    assert (
        api.get(f"{sim.api_url}/stories", params={"limit": "1000"}, timeout=10).status_code == 200
    )
    answer = api.get(f"{sim.api_url}/stories", params={"limit": "1001"}, timeout=10)
    assert answer.status_code == 400
    assert answer.json()["error_code"] == "platform.invalid_page_size"


def _a_suite(api: requests.Session, sim: Any) -> str:
    body = {"name": "S", "subtype": "test_suite"}
    return str(
        api.post(f"{sim.api_url}/tests", json={"data": [body]}, timeout=10).json()["data"][0]["id"]
    )


def test_delete_is_allowed_by_default_and_refusable_by_fault(
    sim: Any, api: requests.Session
) -> None:
    first, second = _a_suite(api, sim), _a_suite(api, sim)
    assert api.delete(f"{sim.api_url}/tests/{first}", timeout=10).status_code == 200
    sim.faults.forbid_delete()
    refused = api.delete(f"{sim.api_url}/tests/{second}", timeout=10)
    assert refused.status_code == 403
    assert refused.json()["error_code"] == "platform.forbidden"
    sim.faults.forbid_delete(False)
    assert api.delete(f"{sim.api_url}/tests/{second}", timeout=10).status_code == 200


def test_forbid_delete_in_the_constructor_and_control_endpoint(
    octane_simulator_factory: Callable[..., Any], signed_in: Callable[[Any], requests.Session]
) -> None:
    sim = octane_simulator_factory(forbid_delete=True)
    api = signed_in(sim)
    suite = _a_suite(api, sim)
    assert api.delete(f"{sim.api_url}/tests/{suite}", timeout=10).status_code == 403
    sim.faults.apply({"action": "forbid_delete", "forbidden": False})
    assert api.delete(f"{sim.api_url}/tests/{suite}", timeout=10).status_code == 200


def test_the_system_root_cannot_be_deleted(sim: Any, api: requests.Session) -> None:
    answer = api.delete(f"{sim.api_url}/application_modules/{sim.system_root_id}", timeout=10)
    assert answer.status_code == 403


@pytest.mark.parametrize("encoding", ["application/gzip", "gzip"])
def test_gzip_uploads_with_either_encoding_name(
    sim: Any,
    api: requests.Session,
    make_xml: Callable[..., bytes],
    encoding: str,
) -> None:
    answer = api.post(
        f"{sim.api_url}/test-results",
        data=gzip.compress(make_xml([{"name": f"t_{encoding}"}])),
        headers={"Content-Type": "application/xml", "Content-Encoding": encoding},
        timeout=10,
    )
    assert answer.status_code == 202, answer.text


def test_cli_has_forbid_delete() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "pytest_octane", "simulator", "--help"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert "--forbid-delete" in shown.stdout
