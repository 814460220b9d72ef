"""Fixtures of the job engine's unit tests: a simulator (``pytest_octane.testing``), settings
aimed at it, its credentials, a task store and results to upload."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_octane.model import RunError, RunStatus, TestRun
from pytest_octane.octane.credentials import Credentials
from pytest_octane.settings import Settings, resolve_settings
from pytest_octane.simulator import Simulator
from pytest_octane.store import TaskStore, open_store
from pytest_octane.testing import SimulatorFactory, octane_simulator_factory

__all__ = ["octane_simulator_factory"]

MakeRun = Callable[..., TestRun]
SettingsFor = Callable[..., Settings]


@pytest.fixture
def sim(octane_simulator_factory: SimulatorFactory) -> Simulator:
    return octane_simulator_factory(processing_ms=0)


#: small slices, two workers, and short waits (a queue-full retry costs a twentieth of a second)
FAST = {"slice_size": "2", "max_parallel": "2", "queue_full_retry": "0.05", "read_timeout": "10"}


@pytest.fixture
def settings_for(sim: Simulator, tmp_path: Path) -> SettingsFor:
    """Settings aimed at the simulator, with more options as command-line values."""
    where = {"space": str(sim.space_id), "url": sim.url, "workspace": str(sim.workspace_id)}
    where |= {"task_store": str(tmp_path / "store"), "spool_dir": str(tmp_path / "spool")}
    return lambda **options: resolve_settings(cli={**where, **FAST, **options}, environ={}, ini={})


@pytest.fixture
def settings(settings_for: SettingsFor) -> Settings:
    return settings_for()


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
