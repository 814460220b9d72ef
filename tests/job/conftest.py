"""Fixtures for the job engine's tests: ``octane_env`` with instant-ish processing, and
settings aimed at it (the suite flow's stories come from each module's ``pytestmark``)."""

from __future__ import annotations

from typing import Any

import pytest
from suite_support import SettingsFor

from pytest_octane.settings import Settings
from tests.octane_env import OctaneEnv


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
