"""What the suite flow added to the simulator: DELETE of application modules and tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from pytest_octane.simulator import Simulator


@pytest.fixture
def api(sim: Simulator) -> Iterator[requests.Session]:
    with requests.Session() as session:
        answer = session.post(
            f"{sim.url}/authentication/sign_in",
            json={"client_id": sim.client_id, "client_secret": sim.client_secret},
            timeout=10,
        )
        assert answer.status_code == 200
        yield session


def test_a_module_and_a_suite_can_be_deleted(sim: Simulator, api: requests.Session) -> None:
    module = sim.add_application_module("Team")
    suite = sim.add_test_suite("Nightly", product_area_id=module)
    assert api.delete(f"{sim.api_url}/tests/{suite}", timeout=10).status_code == 200
    assert api.delete(f"{sim.api_url}/application_modules/{module}", timeout=10).status_code == 200
    assert sim.tests() == [] and sim.application_modules() == []
    again = api.delete(f"{sim.api_url}/tests/{suite}", timeout=10)
    assert again.status_code == 404 and again.json()["error_code"] == "platform.entity_not_found"


def test_what_is_in_use_is_not_deleted(sim: Simulator, api: requests.Session) -> None:
    parent = sim.add_application_module("Team")
    sim.add_application_module("Area", parent)
    answer = api.delete(f"{sim.api_url}/application_modules/{parent}", timeout=10)
    assert answer.status_code == 409 and "child" in answer.json()["description"]
    suite = sim.add_test_suite("Nightly")
    xml = (
        f"<test_result><suite_ref id='{suite}' external_run_id='r1'/><test_runs>"
        "<test_run name='t' duration='1' status='Passed'/></test_runs></test_result>"
    )
    posted = api.post(
        f"{sim.api_url}/test-results",
        data=xml.encode(),
        headers={"Content-Type": "application/xml"},
        timeout=10,
    )
    assert posted.status_code == 202
    sim.wait_for_tasks()
    answer = api.delete(f"{sim.api_url}/tests/{suite}", timeout=10)
    assert answer.status_code == 409 and answer.json()["error_code"] == "platform.entity_in_use"
    assert len(sim.application_modules()) == 2 and len(sim.suite_runs()) == 1


def test_other_collections_still_refuse_delete(sim: Simulator, api: requests.Session) -> None:
    story = sim.add_story("QZ-99")
    for path in (f"stories/{story}", "runs/7001", "application_modules"):
        assert api.delete(f"{sim.api_url}/{path}", timeout=10).status_code == 405, path
    assert any(s["id"] == story for s in sim.stories())


def test_delete_takes_no_parameters(sim: Simulator, api: requests.Session) -> None:
    module = sim.add_application_module("Team")
    answer = api.delete(
        f"{sim.api_url}/application_modules/{module}", params={"force": "true"}, timeout=10
    )
    assert answer.status_code == 400 and len(sim.application_modules()) == 1
