"""Fixtures for the suite flow: a simulator with stories QZ-1..QZ-41, credentials, settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from suite_support import STORIES, SettingsFor

from pytest_octane.settings import Settings, resolve_settings
from pytest_octane.simulator import Simulator


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(stories=STORIES, processing_ms=10) as simulator:
        yield simulator
        assert not simulator.internal_errors, simulator.internal_errors[0]


@pytest.fixture
def creds(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCTANE_CLIENT_ID", sim.client_id)
    monkeypatch.setenv("OCTANE_CLIENT_SECRET", sim.client_secret)


@pytest.fixture
def settings_for(sim: Simulator, tmp_path: Path) -> SettingsFor:
    """Settings for the simulator; keyword arguments are raw command-line values."""

    def make(**extra: Any) -> Settings:
        cli: dict[str, Any] = {
            "space": str(sim.space_id),
            "url": sim.url,
            "workspace": str(sim.workspace_id),
            "task_store": str(tmp_path / "store"),
            "spool_dir": str(tmp_path / "spool"),
            "root_module": "Automated",
            "module_mode": "off",
            "queue_full_retry": "0.05",
            "connect_timeout": "2",
            "read_timeout": "10",
            **extra,
        }
        return resolve_settings(cli=cli, environ={}, ini={})

    return make
