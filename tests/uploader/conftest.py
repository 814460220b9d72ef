"""Fixtures for the uploader's own tests: a simulator and settings aimed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_octane.settings import Settings, resolve_settings
from pytest_octane.simulator import Simulator


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(processing_ms=10) as simulator:
        yield simulator
        assert not simulator.internal_errors, simulator.internal_errors[0]


@pytest.fixture
def settings(sim: Simulator, tmp_path: Path) -> Settings:
    cli: dict[str, Any] = {
        "space": str(sim.space_id),
        "url": sim.url,
        "workspace": str(sim.workspace_id),
        "task_store": str(tmp_path / "store"),
        "spool_dir": str(tmp_path / "spool"),
        "slice_size": "10",
        "max_parallel": "2",
        "queue_full_retry": "0.05",
        "connect_timeout": "2",
        "read_timeout": "10",
    }
    return resolve_settings(cli=cli, environ={}, ini={})
