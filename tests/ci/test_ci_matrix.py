"""The version matrix cannot drift: what pyproject.toml claims is what tox.ini defines, what
.ci/run runs, and what the `oldest` environment pins; a missing Python fails CI by name."""

from __future__ import annotations

import configparser
import itertools
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
CI_RUN = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
#: the packages whose floors the `oldest` environment installs exactly
FLOORED = {
    "pytest",
    "pluggy",
    "requests",
    "lxml",
    "tenacity",
    "sqlalchemy",
    "pytest-xdist",
    "pytest-rerunfailures",
    "pytest-bdd",
}


def _tox_envs() -> list[str]:
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini", encoding="utf-8")
    envs: list[str] = []
    for line in tox["tox"]["env_list"].split():
        parts = re.split(r"\{([^}]*)\}", line)  # py3{11,12} -> ["py3", "11,12", ""]
        choices = [[part] if i % 2 == 0 else part.split(",") for i, part in enumerate(parts)]
        envs += ["".join(combination) for combination in itertools.product(*choices)]
    return envs


def _ci_matrix() -> list[str]:
    block = re.search(r"^matrix=\(\n(.*?)^\)", CI_RUN, re.M | re.S)
    assert block, ".ci/run has no matrix=( ... ) block"
    return re.findall(r'^\s*"([\w.-]+)\|', block.group(1), re.M)


def _ci_pythons() -> list[str]:
    match = re.search(r'^octane_find_pythons "\$pythons" ((?:\d+\.\d+ ?)+)', CI_RUN, re.M)
    assert match, ".ci/run does not look for its Pythons with octane_find_pythons"
    return match.group(1).split()


def _floors() -> dict[str, str]:
    """Every `name>=X` of the run-time dependencies and of the `test` extra."""
    specs = [*PYPROJECT["project"]["dependencies"]]
    specs += PYPROJECT["project"]["optional-dependencies"]["test"]
    floors = {}
    for spec in specs:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^]]*\])?>=([\w.]+)", spec)
        if match:
            floors[match.group(1).lower()] = match.group(2)
    return floors


def test_classifiers_name_exactly_the_pythons_ci_tests() -> None:
    classified = [
        c.rsplit(" :: ", 1)[1]
        for c in PYPROJECT["project"]["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    ]
    assert classified == _ci_pythons() == ["3.11", "3.12", "3.13"]
    assert PYPROJECT["project"]["requires-python"] == f">={classified[0]}"


def test_ci_runs_every_test_environment_of_tox() -> None:
    """py311 (Python 3.11, newest pytest) is the whole suite in .ci/run's own venv."""
    tests = [env for env in _tox_envs() if env not in ("lint", "type")]
    assert sorted([*_ci_matrix(), "py311"]) == sorted(tests)
    pythons = {f"py{p.replace('.', '')}" for p in _ci_pythons()}
    assert {env.split("-")[0] for env in tests if env.startswith("py")} == pythons


def test_ci_installs_tox_from_the_project_files() -> None:
    ci_extra = PYPROJECT["project"]["optional-dependencies"]["ci"]
    assert any(spec.startswith("tox") for spec in ci_extra)
    assert '".[test,lint,type,ci]"' in CI_RUN


def test_oldest_installs_exactly_the_floors_pyproject_declares() -> None:
    pins = {}
    for line in (ROOT / ".ci" / "constraints" / "oldest.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[name.lower()] = version
    floors = {name: v for name, v in _floors().items() if name in FLOORED}
    assert set(floors) == FLOORED
    # "pytest>=7.4" is met first by 7.4.0: compare release numbers, padded with zeros
    padded = {name: (v + ".0.0").split(".")[:3] for name, v in floors.items()}
    assert {name: (v + ".0.0").split(".")[:3] for name, v in pins.items()} == padded


# ------------------------------------------------------------------ .ci/pythons.sh


def _fake_python(path: Path, works: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\nexit {0 if works else 1}\n")
    path.chmod(0o755)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_a_missing_python_fails_and_is_named(tmp_path: Path) -> None:
    root = tmp_path / "pyenv"
    _fake_python(root / "versions" / "3.42.0" / "bin" / "python3.42", works=True)
    _fake_python(root / "versions" / "3.42.10" / "bin" / "python3.42", works=True)
    bin_dir = tmp_path / "bin"
    _fake_python(bin_dir / "python3.43", works=False)  # a pyenv shim of a missing version
    (bin_dir / "pyenv").write_text(f"#!/bin/sh\necho {root}\n")
    (bin_dir / "pyenv").chmod(0o755)
    links = tmp_path / "links"
    script = (
        f"source {ROOT / '.ci' / 'pythons.sh'}; "
        f"octane_find_pythons {links} 3.42 3.43 3.44; "
        'echo "rc=$? missing=$OCTANE_MISSING_PYTHONS"'
    )
    env = {"PATH": f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    lines = done.stdout.splitlines()
    assert lines[0] == f"pythons: Python 3.42 is {root}/versions/3.42.10/bin/python3.42"
    assert lines[1].startswith("pythons: FAILED: Python 3.43 not found")
    assert "'pyenv install 3.43'" in lines[1]
    assert lines[2].startswith("pythons: FAILED: Python 3.44 not found")
    assert lines[3] == "rc=1 missing=3.43 3.44"
    assert (links / "python3.42").resolve() == root / "versions" / "3.42.10" / "bin" / "python3.42"
    assert not (links / "python3.43").exists()
