"""Fixtures for the CLI's end-to-end tests: a real simulator, real pytest runs, real stores.

``octane`` is one test's world (see ``cli_harness.Octane``): a started :class:`Simulator` with
a secret of its own, a task store (JSON folder by default; ``@pytest.mark.parametrize(
"backend", [...], indirect=True)`` for SQLite and PostgreSQL), a spool folder, and helpers
to run an inner pytest session (subprocess) or the ``pytest-octane`` CLI (in-process through
``cli.main``).  Every session cookie the simulator issues is recorded so tests can prove
none of them leaks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_harness import PG_ENV, SUBPROCESS_TIMEOUT, SUITE, Octane

from pytest_octane.simulator import Simulator

# ---------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI runs in-process: it must not see the outer shell's Octane settings."""
    for name in list(os.environ):
        if name.startswith("OCTANE_") and name not in (PG_ENV, "OCTANE_XSD"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def junit_xml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pytest's own ``--junitxml`` report of ``SUITE`` (7 parameters: 10 items, 1 failing)."""
    folder = tmp_path_factory.mktemp("junit")
    (folder / "test_shop.py").write_text(textwrap.dedent(SUITE.format(params=7)))
    report = folder / "junit.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OCTANE_", "PYTEST_"))}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(folder), "-p", "no:cacheprovider", "-q",
         f"--junitxml={report}"],
        cwd=folder, env=env, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )  # fmt: skip
    assert done.returncode == 1 and report.is_file(), done.stdout + done.stderr
    return report


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """Store backend name; ``json`` unless parametrized indirectly."""
    return str(getattr(request, "param", "json"))


@pytest.fixture
def octane(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    backend: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Octane]:
    marker = request.node.get_closest_marker("octane_simulator")
    options: dict[str, object] = {"processing_ms": 20}
    options.update(marker.kwargs if marker else {})
    # a secret of this test only, so a hit in any file or output cannot be a coincidence
    options.setdefault("client_secret", f"cli-secret-{uuid.uuid4().hex}")
    sim = Simulator(**options)  # type: ignore[arg-type]
    cookies: list[str] = []
    issue = sim._state.new_token  # no public hook: record every cookie value it hands out

    def recording_new_token() -> str:
        token = issue()
        cookies.append(token)
        return token

    sim._state.new_token = recording_new_token  # type: ignore[method-assign]
    if backend == "json":
        location = str(tmp_path / "task_logs")
    elif backend == "sqlite":
        location = f"sqlite:///{tmp_path / 'tasks.db'}"
    else:
        location = request.getfixturevalue("pg_url")
    monkeypatch.setenv("OCTANE_CLIENT_ID", sim.client_id)
    monkeypatch.setenv("OCTANE_CLIENT_SECRET", sim.client_secret)
    monkeypatch.chdir(tmp_path)
    with sim:
        yield Octane(sim, tmp_path, location, tmp_path / "spool", cookies)
    assert not sim.internal_errors, sim.internal_errors[0]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "octane_simulator(**kwargs): Simulator keyword arguments for `octane`"
    )
