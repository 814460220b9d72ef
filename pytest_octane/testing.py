"""Opt-in pytest plugin with Octane simulator fixtures (``-p pytest_octane.testing``).

``octane_simulator`` gives a started :class:`~pytest_octane.simulator.Simulator` per test;
its keyword arguments can be set with ``@pytest.mark.octane_simulator(processing_ms=0)``.
``octane_simulator_factory(**kwargs)`` starts more, or differently configured, simulators.
Every simulator stops at teardown; a simulator bug seen during the test fails the teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pytest_octane.simulator import Simulator

__all__ = ["octane_simulator", "octane_simulator_factory"]

SimulatorFactory = Callable[..., Simulator]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "octane_simulator(**kwargs): keyword arguments for the octane_simulator fixture's "
        "Simulator (e.g. processing_ms=0, queue_limit=5).",
    )


@pytest.fixture
def octane_simulator_factory() -> Iterator[SimulatorFactory]:
    """Start simulators with any Simulator keyword arguments; all stop at teardown."""
    started: list[Simulator] = []

    def make(**kwargs: Any) -> Simulator:
        simulator = Simulator(**kwargs).start()
        started.append(simulator)
        return simulator

    yield make
    for simulator in started:
        simulator.stop()
    errors = [e for s in started for e in s.internal_errors]
    if errors:
        pytest.fail(
            "the Octane simulator hit an internal error (a simulator bug, please report it):\n"
            + errors[0],
            pytrace=False,
        )


@pytest.fixture
def octane_simulator(
    request: pytest.FixtureRequest, octane_simulator_factory: SimulatorFactory
) -> Simulator:
    """A started Octane simulator on 127.0.0.1 (see ``@pytest.mark.octane_simulator``)."""
    marker = request.node.get_closest_marker("octane_simulator")
    kwargs: dict[str, Any] = dict(marker.kwargs) if marker else {}
    return octane_simulator_factory(**kwargs)
