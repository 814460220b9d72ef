"""Shared data of the suite-flow tests: stories QZ-1..QZ-41 and generated test runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from pytest_octane.model import RunStatus, TestRun
from pytest_octane.octane.client import OctaneClient
from pytest_octane.settings import Settings

#: The ``settings_for`` fixture: raw command-line values in, resolved Settings out.
SettingsFor = Callable[..., Settings]

#: Story id of JIRA key QZ-n is 9000 + n.
STORIES = [{"id": 9000 + n, "name": f"story {n}", "jira_key_udf": f"QZ-{n}"} for n in range(1, 42)]


def race_creations(
    monkeypatch: pytest.MonkeyPatch, client: OctaneClient, competitor: Callable[[], int]
) -> list[int]:
    """Make ``competitor()`` create its copy between our query and our create; its ids."""
    made: list[int] = []
    create = client.create_entities

    def racing_create(collection: str, data: list[dict[str, Any]]) -> list[dict[str, Any]]:
        made.append(competitor())
        return create(collection, data)

    monkeypatch.setattr(client, "create_entities", racing_create)
    return made


def story_id(key: str) -> int:
    return 9000 + int(key.split("-")[1])


def make_runs(count: int) -> list[TestRun]:
    """Tests in 6 modules; 4 of 5 carry one per-test key among QZ-2..QZ-41 (never QZ-1)."""
    now = int(time.time() * 1000)
    return [
        TestRun(
            nodeid=f"tests/test_m{i % 6}.py::test_{i}",
            module="",
            package="tests",
            klass=f"test_m{i % 6}",
            name=f"test_{i}",
            status=RunStatus.FAILED if i % 97 == 0 else RunStatus.PASSED,
            duration_ms=i % 13,
            started_ms=now + i,
            jira_keys=() if i % 5 == 0 else (f"QZ-{2 + i % 40}",),
        )
        for i in range(count)
    ]


def per_test_ids(run: TestRun) -> set[int]:
    return {story_id(key) for key in run.jira_keys}
