"""Fixtures for the uploader's own tests: ``octane_env`` and settings aimed at it."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_octane.settings import Settings
from tests.octane_env import OctaneEnv


@pytest.fixture
def simulator_defaults() -> dict[str, Any]:
    return {"processing_ms": 10}


@pytest.fixture
def settings(octane_env: OctaneEnv) -> Settings:
    return octane_env.settings(slice_size="10", max_parallel="2")
