"""examples/demo.py does what its docstring says and leaves the job where ``jobs`` finds it."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from tests.octane_env import run_child

REPO = Path(__file__).resolve().parents[2]


def test_the_demo_shows_jobs_and_status_and_keeps_the_job(tmp_path: Path) -> None:
    (tmp_path / "examples").mkdir()
    for name in ("demo.py", "test_shop.py"):
        shutil.copy(REPO / "examples" / name, tmp_path / "examples" / name)
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")  # its "-ra" addopts
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OCTANE_", "PYTEST_"))}
    done = run_child(
        [sys.executable, str(tmp_path / "examples" / "demo.py")], cwd=tmp_path, env=env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "$ pytest-octane jobs" in done.stdout and "$ pytest-octane status " in done.stdout
    assert "XPASSES" not in done.stdout  # no empty section header
    afterwards = run_child([sys.executable, "-m", "pytest_octane", "jobs"], cwd=tmp_path, env=env)
    assert afterwards.returncode == 0, afterwards.stderr
    assert "no jobs" not in afterwards.stdout
    assert len(afterwards.stdout.strip().splitlines()) == 2, afterwards.stdout  # header + job
