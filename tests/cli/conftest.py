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
from pathlib import Path

import pytest
from cli_harness import SUBPROCESS_TIMEOUT, SUITE, Octane

from tests.octane_env import TEST_ENV, OctaneEnv

# ---------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI runs in-process: it must not see the outer shell's Octane settings."""
    for name in list(os.environ):
        if name.startswith("OCTANE_") and name not in TEST_ENV:
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
    octane_env: OctaneEnv,
    backend: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Octane:
    """``octane_env`` in the chosen store backend, recording every session cookie issued."""
    sim = octane_env.sim
    cookies: list[str] = []
    issue = sim._state.new_token  # no public hook: record every cookie value it hands out

    def recording_new_token() -> str:
        token = issue()
        cookies.append(token)
        return token

    sim._state.new_token = recording_new_token  # type: ignore[method-assign]
    root = octane_env.root
    if backend == "json":
        location = str(root / "task_logs")
    elif backend == "sqlite":
        location = f"sqlite:///{root / 'tasks.db'}"
    else:
        location = request.getfixturevalue("pg_url")
    monkeypatch.chdir(root)
    return Octane(sim, root, location, octane_env.spool, cookies)
