"""The package's shape: layers that only import downwards, no circles, rooms of a readable size.

A redesign is only worth having while it lasts, so the rules of docs/architecture.md are checked
here over the real import graph (every ``import`` in the package, read with ``ast``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pytest_octane"
MAX_LINES = 400
MAX_MODULES_PER_FOLDER = 12

#: Each layer may import itself and the layers after it, never one before it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("plugin", "cli", "web", "testing", "__main__", "uploader"),
    ("hookspecs",),
    ("job",),
    ("octane", "store", "settings", "simulator"),
    ("model", "errors", "__init__"),
)
#: Front ends are independent of each other, except the CLI, which starts the other servers,
#: and ``python -m pytest_octane``, which is the CLI.
FRONT_ENDS_ALLOWED = {
    ("cli", "web"),
    ("cli", "simulator"),
    ("testing", "simulator"),
    ("__main__", "cli"),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> Iterator[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            targets = [f"{module}.{alias.name}" for alias in node.names] + [module]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: set(_imports(name, path, known)) for name, path in modules.items()}


def _room(module: str) -> str:
    """The top-level room a module lives in: ``pytest_octane.job.spool`` -> ``job``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _layer(room: str) -> int:
    for index, rooms in enumerate(LAYERS):
        if room in rooms:
            return index
    raise AssertionError(f"pytest_octane.{room} belongs to no layer: add it to LAYERS")


def test_every_module_has_a_layer() -> None:
    for module in _modules():
        _layer(_room(module))


def wrong_imports(graph: dict[str, set[str]]) -> list[str]:
    wrong = []
    for module, targets in graph.items():
        room = _room(module)
        for target in targets:
            other = _room(target)
            if other in (room, "__init__"):
                continue
            if _layer(other) < _layer(room):
                wrong.append(f"{module} imports {target}")
            elif _layer(other) == _layer(room) == 0 and (room, other) not in FRONT_ENDS_ALLOWED:
                wrong.append(f"{module} imports {target} (front ends stay apart)")
    return sorted(wrong)


def circles(graph: dict[str, set[str]]) -> list[str]:
    state: dict[str, int] = {}
    stack: list[str] = []
    found: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                found.append(" -> ".join([*stack[stack.index(target) :], target]))
            elif target not in state:
                visit(target)
        stack.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    return found


def test_layers_only_import_downwards() -> None:
    assert not wrong_imports(_graph()), "\n".join(wrong_imports(_graph()))


def test_there_is_no_import_circle() -> None:
    assert not circles(_graph()), "\n".join(circles(_graph()))


def test_the_rules_find_a_planted_upward_import_and_circle() -> None:
    planted = {
        "pytest_octane.job.engine": {"pytest_octane.plugin.reporter"},
        "pytest_octane.plugin.reporter": {"pytest_octane.job.engine"},
        "pytest_octane.web.server": {"pytest_octane.cli.common"},
    }
    assert wrong_imports(planted) == [
        "pytest_octane.job.engine imports pytest_octane.plugin.reporter",
        "pytest_octane.web.server imports pytest_octane.cli.common (front ends stay apart)",
    ]
    assert circles(planted) == [
        "pytest_octane.job.engine -> pytest_octane.plugin.reporter -> pytest_octane.job.engine"
    ]


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=_module_name)
def test_no_module_is_over_the_line_limit(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.name}: {lines} lines (at most {MAX_LINES})"


def test_no_folder_holds_more_than_twelve_modules() -> None:
    crowded = {
        str(folder.relative_to(PACKAGE.parent)): count
        for folder in [PACKAGE, *[p for p in PACKAGE.rglob("*") if p.is_dir()]]
        if (count := len([p for p in folder.glob("*.py") if p.name != "__init__.py"]))
        > MAX_MODULES_PER_FOLDER
    }
    assert not crowded, crowded
