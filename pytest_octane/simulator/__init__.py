"""A bundled fake of OpenText ALM Octane's REST API for tests and local trials.

``Simulator`` serves sign-in, test-results upload and status, and the entity collections
pytest-octane uses, with faults on demand.  See docs/simulator.md.
"""

from __future__ import annotations

from pytest_octane.simulator.faults import Faults
from pytest_octane.simulator.server import Simulator
from pytest_octane.simulator.state import RequestRecord

__all__ = ["Faults", "RequestRecord", "Simulator"]
