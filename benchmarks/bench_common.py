"""Shared pieces of the benchmarks: result rows, medians of paired ratios, the machine.

Timings are only ever compared side by side within one run (the machines are shared and
noisy), so every goal is a ratio of runs that alternated, never an absolute time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: Environment variables that would switch pytest-octane on in a "bare" run.
OCTANE_ENV_PREFIXES = ("OCTANE_",)


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the results table: ``met`` is None for a value reported without a goal."""

    benchmark: str
    measured: str
    goal: str = "-"
    met: bool | None = None

    @property
    def verdict(self) -> str:
        if self.met is None:
            return "info"
        return "yes" if self.met else "NO"


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def paired_ratios(variant: Sequence[float], base: Sequence[float]) -> list[float]:
    """Per-round ratios ``variant[i] / base[i]`` of runs that ran next to each other."""
    return [v / b for v, b in zip(variant, base, strict=True)]


def clean_env(pycache: Path | None = None, **extra: str) -> dict[str, str]:
    """The current environment without any ``OCTANE_*`` variable, plus ``extra``.

    With ``pycache``, bytecode is cached there (``PYTHONPYCACHEPREFIX``) even when the caller
    runs with ``PYTHONDONTWRITEBYTECODE``: users' runs import cached bytecode, and compiling
    the plugin's modules on every run would be measured as plugin cost.  Nothing is written
    into the repository.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(OCTANE_ENV_PREFIXES)}
    for name in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS"):
        env.pop(name, None)
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    env.update(extra)
    return env


def machine() -> dict[str, str]:
    return {
        "platform": platform.platform(),
        "cpu_count": str(os.cpu_count()),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "executable": sys.executable,
    }


def now_text() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def render_table(rows: Sequence[Row]) -> str:
    """A Markdown table (also readable as plain text on a terminal)."""
    header = ("benchmark", "measured", "goal", "met")
    body = [(r.benchmark, r.measured, r.goal, r.verdict) for r in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(4)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule, *(line(b) for b in body)])


def fmt_s(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds < 10 else f"{seconds:.2f} s"


def fmt_ratio(ratio: float) -> str:
    return f"{ratio:.3f}x"


def tests_and_rounds(doc: str, rounds: int = 5) -> argparse.Namespace:
    """``--tests`` and ``--rounds`` of a benchmark whose docstring is ``doc``; prints the
    machine line its table goes under."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--tests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=rounds)
    options = parser.parse_args()
    print(now_text(), machine())
    return options
