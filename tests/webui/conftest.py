"""Fixtures for the jobs page tests: ``world`` is a started simulator and an empty task store.

Credentials come from the environment (``OCTANE_CLIENT_ID``/``OCTANE_CLIENT_SECRET``) as
for a user; the outer shell's other Octane settings are hidden from the in-process CLI.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from webui_harness import World

from pytest_octane.simulator import Simulator

TEST_ENV = ("OCTANE_TEST_POSTGRES_URL", "OCTANE_XSD")


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    for name in list(os.environ):
        if name.startswith("OCTANE_") and name not in TEST_ENV:
            monkeypatch.delenv(name)
    sim = Simulator(processing_ms=0, client_secret=f"webui-secret-{uuid.uuid4().hex}")
    monkeypatch.setenv("OCTANE_CLIENT_ID", sim.client_id)
    monkeypatch.setenv("OCTANE_CLIENT_SECRET", sim.client_secret)
    monkeypatch.chdir(tmp_path)
    with sim:
        yield World(sim, tmp_path, str(tmp_path / "task_logs"), tmp_path / "spool")
    assert not sim.internal_errors, sim.internal_errors[0]
