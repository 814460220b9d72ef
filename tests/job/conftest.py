"""Fixtures for the job engine's tests: ``octane_env`` with instant-ish processing, and
settings aimed at it (the suite flow's stories come from each module's ``pytestmark``)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from suite_support import SettingsFor

from pytest_octane.model import RunError, RunStatus, TestRun
from pytest_octane.octane.credentials import Credentials
from pytest_octane.settings import Settings
from pytest_octane.simulator import Simulator
from pytest_octane.store import TaskStore, open_store
from tests.octane_env import OctaneEnv

MakeRun = Callable[..., TestRun]


@pytest.fixture
def simulator_defaults() -> dict[str, Any]:
    return {"processing_ms": 10}


@pytest.fixture
def settings(octane_env: OctaneEnv) -> Settings:
    """The uploader's settings: slices of 10, two in flight."""
    return octane_env.settings(slice_size="10", max_parallel="2")


@pytest.fixture
def settings_for(octane_env: OctaneEnv) -> SettingsFor:
    """The suite flow's settings; keyword arguments are raw command-line values."""

    def make(**extra: Any) -> Settings:
        return octane_env.settings(**{"root_module": "Automated", "module_mode": "off", **extra})

    return make


@pytest.fixture
def credentials(sim: Simulator) -> Credentials:
    return Credentials.api_key(sim.client_id, sim.client_secret, source="test")


@pytest.fixture
def store(settings: Settings) -> Iterator[TaskStore]:
    with contextlib.closing(open_store(settings.task_store)) as opened:
        yield opened


@pytest.fixture
def make_run() -> MakeRun:
    """``make_run(i, **changes)``: test ``i`` of ``tests/test_m.py`` (every 3rd one fails)."""

    def make(i: int, **changes: Any) -> TestRun:
        failed = i % 3 == 0
        return TestRun(
            **{
                "nodeid": f"tests/test_m.py::test_{i}",
                "module": "",
                "package": "tests",
                "klass": "test_m",
                "name": f"test_{i}",
                "status": RunStatus.FAILED if failed else RunStatus.PASSED,
                "duration_ms": i,
                "started_ms": 1_700_000_000_000 + i,
                "error": RunError(type="AssertionError", message=f"no {i}", trace="t")
                if failed
                else None,
                **changes,
            }
        )

    return make
