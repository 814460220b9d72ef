"""OptionSpec: one setting and every name it has (flag, environment variable, ini, spaces key)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pytest_octane.settings.parsers import Parser


@dataclass(frozen=True, slots=True, kw_only=True)
class OptionSpec:
    """One setting and every name it has."""

    name: str
    help: str
    parse: Parser
    default: Any = None
    flag: str | None = None
    env: str | None = None
    ini: str | None = None
    spaces_key: str | None = None
    multiple: bool = False
    metavar: str | None = None
    is_switch: bool = False  # a CLI flag without a value (store_true)
    group: str = "connection"


def _opt(name: str, help: str, parse: Parser, **kw: Any) -> OptionSpec:
    dashed = name.replace("_", "-")
    kw.setdefault("flag", f"--octane-{dashed}")
    kw.setdefault("env", f"OCTANE_{name.upper()}")
    kw.setdefault("ini", f"octane_{name}")
    return OptionSpec(name=name, help=help, parse=parse, **kw)
