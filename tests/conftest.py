"""Fixtures for every folder: ``octane_env`` is a test's Octane, ``validate_xml`` its XML check.

It is built on the public ``pytest_octane.testing`` plugin (its ``octane_simulator`` marker and
``octane_simulator_factory``): a started simulator on 127.0.0.1 with a secret of this test only,
its credentials in the environment and every other ``OCTANE_*`` variable of the outer shell
hidden, a task store and a spool folder under ``tmp_path``. The simulator's keyword arguments
are the ``simulator_defaults`` fixture's (a folder's conftest may override it) updated by every
``@pytest.mark.octane_simulator(...)`` on the test, farthest first (module ``pytestmark``,
class, function), so a test adds to its module's.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from pytest_octane import testing
from pytest_octane.octane import schema
from pytest_octane.simulator import Simulator
from tests.octane_env import SIMULATOR_DEFAULTS, TEST_ENV, OctaneEnv

# SQLAlchemy's compiled extensions keep the classes of its first import: pytester's in-process
# sessions drop the modules they imported, and a later import would pair new classes with the
# old extensions ("'InternalTraversal' object is not callable" in whichever test came next).
# Imported once here, before any inner session, it is never dropped.
with contextlib.suppress(ImportError):
    import sqlalchemy.sql  # noqa: F401

__all__ = [
    "check_xml",
    "octane_env",
    "octane_simulator",
    "octane_simulator_factory",
    "pytest_configure",
    "sim",
    "simulator_defaults",
    "validate_xml",
]

# The opt-in plugin's fixtures and marker for every test folder (pytest_plugins is only
# allowed in the rootdir's conftest).
octane_simulator = testing.octane_simulator
octane_simulator_factory = testing.octane_simulator_factory
pytest_configure = testing.pytest_configure

_STATUSES = {"Passed", "Skipped", "Failed", "Planned"}


def _writer_problems(root: etree._Element) -> list[str]:
    """What our writer promises beyond the XSD: every run has a start time and a duration
    that is a whole, non-negative number of milliseconds."""
    problems = []
    for index, run in enumerate(root.iter("test_run"), start=1):
        where = f"test_run #{index} ({run.get('name')!r})"
        if not re.fullmatch(r"[0-9]+", run.get("duration", "")):
            problems.append(f"{where}: duration {run.get('duration')!r} is not an integer >= 0")
        if not re.fullmatch(r"[0-9]+", run.get("started", "")):
            problems.append(f"{where}: started {run.get('started')!r} is not an integer >= 0")
        if run.get("status") not in _STATUSES:
            problems.append(f"{where}: status {run.get('status')!r}")
        if not 1 <= len(run.get("name", "")) <= 255:
            problems.append(f"{where}: name has {len(run.get('name', ''))} characters")
    return problems


def check_xml(xml: bytes) -> etree._Element:
    """Parse and validate one Octane document; raise AssertionError listing every problem."""
    __tracebackhide__ = True
    problems = schema.validate(xml)
    if not problems:
        problems = _writer_problems(schema.parse(xml))
    if problems:
        listing = "\n".join(f"  - {p}" for p in problems)
        raise AssertionError(f"invalid Octane XML ({len(problems)} problems):\n{listing}")
    return schema.parse(xml)


@pytest.fixture
def validate_xml() -> Callable[[bytes], etree._Element]:
    """Octane XML checked by ``pytest_octane.octane.schema`` (the real XSD when
    ``../shared/octane/`` or ``$OCTANE_XSD`` has it, structural checks always) plus what our
    writer promises beyond the XSD; the parsed document, or AssertionError listing every
    problem."""
    return check_xml


@pytest.fixture
def simulator_defaults() -> dict[str, Any]:
    """``octane_env``'s simulator keyword arguments before the markers."""
    return dict(SIMULATOR_DEFAULTS)


@pytest.fixture
def octane_env(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    octane_simulator_factory: testing.SimulatorFactory,
    simulator_defaults: dict[str, Any],
) -> OctaneEnv:
    """A started simulator with its credentials in the environment, a store and a spool."""
    kwargs: dict[str, Any] = {
        **simulator_defaults,
        # a secret of this test only, so a hit in any file or output cannot be a coincidence
        "client_secret": f"test-secret-{uuid.uuid4().hex}",
    }
    for marker in reversed(list(request.node.iter_markers("octane_simulator"))):
        kwargs.update(marker.kwargs)
    for name in list(os.environ):
        if name.startswith("OCTANE_") and name not in TEST_ENV:
            monkeypatch.delenv(name)
    env = OctaneEnv(
        octane_simulator_factory(**kwargs), tmp_path, str(tmp_path / "store"), tmp_path / "spool"
    )
    for name, value in env.credentials().items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def sim(octane_env: OctaneEnv) -> Simulator:
    """``octane_env``'s simulator."""
    return octane_env.sim
