"""Fixtures of job/run's unit tests: ``octane_env`` with instant processing, and settings with
small slices and two workers, so each test sees several slices of a few runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pytest_octane.settings import Settings
from tests.octane_env import OctaneEnv

__all__ = ["SettingsFor"]

SettingsFor = Callable[..., Settings]

#: small slices, two workers, and short waits (a queue-full retry costs a twentieth of a second)
SMALL_SLICES = {"slice_size": "2", "max_parallel": "2", "queue_full_retry": "0.05"}


@pytest.fixture
def simulator_defaults() -> dict[str, Any]:
    return {"processing_ms": 0}


@pytest.fixture
def settings_for(octane_env: OctaneEnv) -> SettingsFor:
    """Settings aimed at the simulator, with more options as command-line values."""
    return lambda **options: octane_env.settings(**{**SMALL_SLICES, **options})


@pytest.fixture
def settings(settings_for: SettingsFor) -> Settings:
    return settings_for()
