"""``OctaneEnv``: one test's Octane, as the ``octane_env`` fixture (tests/conftest.py) gives it.

A started simulator (``pytest_octane.testing``) whose credentials are in the environment, a
task store and a spool folder, and what each front end needs to reach them: the pytest options,
the CLI's arguments, resolved settings, and a child process's environment.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_octane.settings import Settings, resolve_settings
from pytest_octane.simulator import Simulator

__all__ = [
    "CHILD_TIMEOUT",
    "SIMULATOR_DEFAULTS",
    "TEST_ENV",
    "OctaneEnv",
    "qz_stories",
    "run_child",
]

#: The simulator's keyword arguments unless ``@pytest.mark.octane_simulator(...)`` says otherwise.
SIMULATOR_DEFAULTS: dict[str, Any] = {"processing_ms": 20}
#: Variables of the test setup itself that stay visible; every other ``OCTANE_*`` is hidden.
TEST_ENV = ("OCTANE_TEST_POSTGRES_URL", "OCTANE_XSD")
#: Short waits, so a queue-full retry or a slow connection costs tenths of a second.
FAST_SETTINGS = {"queue_full_retry": "0.05", "connect_timeout": "2", "read_timeout": "10"}

#: Child processes (pytest sessions, the CLI) finish in seconds; this only bounds a hang.
CHILD_TIMEOUT = 120.0


def run_child(
    argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float = CHILD_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run a child process to its end, its output captured as text; a hang fails the test."""
    return subprocess.run(
        list(argv), cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=timeout,
        check=False,
    )  # fmt: skip


def qz_stories(*numbers: int) -> list[dict[str, Any]]:
    """Simulator stories ``QZ-n`` with id ``100 + n``, for ``octane_simulator(stories=...)``."""
    return [{"id": 100 + n, "name": f"s{n}", "jira_key_udf": f"QZ-{n}"} for n in numbers]


@dataclass(slots=True)
class OctaneEnv:
    """A started simulator, a task store location and a spool folder under ``root``."""

    sim: Simulator
    root: Path
    store: str
    spool: Path

    def under(self, folder: Path) -> OctaneEnv:
        """The same simulator with a folder store and a spool under ``folder``."""
        return OctaneEnv(self.sim, folder, str(folder / "store"), folder / "spool")

    def credentials(self) -> dict[str, str]:
        return {
            "OCTANE_CLIENT_ID": self.sim.client_id,
            "OCTANE_CLIENT_SECRET": self.sim.client_secret,
        }

    def env(self) -> dict[str, str]:
        """A child process's environment: this one without Octane or xdist settings, plus the
        simulator's credentials."""
        kept = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("OCTANE_", "PYTEST_XDIST_", "PYTEST_ADDOPTS"))
        }
        return {**kept, **self.credentials()}

    def _connection(self, prefix: str) -> list[str]:
        values = {
            "space": self.sim.space_id,
            "url": self.sim.url,
            "workspace": self.sim.workspace_id,
            "task-store": self.store,
            "spool-dir": self.spool,
        }
        return [f"--{prefix}{name}={value}" for name, value in values.items()]

    def pytest_args(self, *extra: str) -> list[str]:
        """``pytest`` options that upload to the simulator (no cache folder)."""
        return [*self._connection("octane-"), "-p", "no:cacheprovider", *extra]

    def cli_args(self, *extra: str) -> list[str]:
        """``pytest-octane`` arguments that reach the simulator and this store and spool."""
        return [*self._connection(""), *extra]

    def settings(self, **cli: str) -> Settings:
        """Settings for the simulator with short waits; keywords are raw command-line values."""
        values = {
            "space": str(self.sim.space_id),
            "url": self.sim.url,
            "workspace": str(self.sim.workspace_id),
            "task_store": self.store,
            "spool_dir": str(self.spool),
            **FAST_SETTINGS,
            **cli,
        }
        return resolve_settings(cli=values, environ={}, ini={})
