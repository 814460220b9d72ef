"""The package's shape: layers that only import downwards, no circles, public names between modules.

A redesign is only worth having while it lasts, so the rules of docs/architecture.md are checked
here over the real import graph (every ``import`` in the package, read with ``ast``). Size is not
a rule: a module is as long as its one responsibility needs (docs/architecture.md says when a
long module or a crowded folder is worth a look).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "pytest_octane"

#: Each layer may import itself and the layers after it, never one before it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("plugin", "cli", "web", "testing", "__main__", "uploader"),
    ("hookspecs",),
    ("job",),
    ("octane", "store", "settings", "simulator"),
    ("model", "reported", "records", "errors", "logs", "__init__"),
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


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_imports(name: str, source: str, known: set[str]) -> list[str]:
    """Underscore names this module takes from another module of the package.

    Both spellings count: ``from pytest_octane.x import _y`` and ``import pytest_octane.x as x``
    followed by ``x._y``. A name a sibling needs is public, or the two belong in one module.
    """
    package = name if source.lstrip().startswith("#package") else name.rpartition(".")[0]
    tree = ast.parse(source)
    found: list[str] = []
    module_aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            if module not in known:
                continue
            for alias in node.names:
                if f"{module}.{alias.name}" in known:
                    module_aliases[alias.asname or alias.name] = f"{module}.{alias.name}"
                elif _is_private(alias.name) and module != name:
                    found.append(f"{name} imports {alias.name} from {module}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known and alias.asname:
                    module_aliases[alias.asname] = alias.name
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in module_aliases
            and _is_private(node.attr)
            and module_aliases[node.value.id] != name
        ):
            found.append(f"{name} uses {node.attr} of {module_aliases[node.value.id]}")
    return sorted(set(found))


def _source(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    # an __init__ module resolves relative imports against itself
    return "#package\n" + text if path.name == "__init__.py" else text


def test_no_private_name_is_imported_from_another_module() -> None:
    modules = _modules()
    known = set(modules)
    found = [
        line
        for name, path in modules.items()
        for line in private_imports(name, _source(path), known)
    ]
    assert not found, "\n".join(found)


def test_the_private_name_rule_finds_both_spellings() -> None:
    known = {"pytest_octane.a", "pytest_octane.a.b", "pytest_octane.c"}
    source = (
        "from pytest_octane.a.b import _hidden, shown\n"
        "from . import b\n"
        "import pytest_octane.c as c\n"
        "b._inner()\n"
        "c.__name__\n"
        "c._secret\n"
    )
    assert private_imports("pytest_octane.a.d", source, known) == [
        "pytest_octane.a.d imports _hidden from pytest_octane.a.b",
        "pytest_octane.a.d uses _inner of pytest_octane.a.b",
        "pytest_octane.a.d uses _secret of pytest_octane.c",
    ]


def _declares_all(path: Path) -> bool:
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            return True
    return False


def test_every_module_says_what_it_exports() -> None:
    """``__all__`` is the module's public surface: what a sibling may import, what docs show."""
    missing = [_module_name(p) for p in sorted(PACKAGE.rglob("*.py")) if not _declares_all(p)]
    assert not missing, "no __all__ in: " + ", ".join(missing)
