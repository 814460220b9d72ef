"""Generate ``docs/configuration.md`` from the option table, so the reference cannot drift.

Run ``python -m pytest_octane.cli.docgen > docs/configuration.md`` after changing
``settings.OPTIONS`` or the CLI; ``tests/ci/test_ci_docs.py`` fails until you do.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from pytest_octane.settings import OPTIONS, OptionSpec
from pytest_octane.settings.ci import CI_OPTION_NAMES

__all__ = ["GROUPS", "REGENERATE", "main", "render_configuration_reference"]

REGENERATE = "python -m pytest_octane.cli.docgen > docs/configuration.md"

#: Section title and introduction of each option group, in the order they are shown.
GROUPS: dict[str, tuple[str, str]] = {
    "connection": (
        "Connection",
        "Which Octane, which shared space and workspace, and how to reach it.",
    ),
    "upload": (
        "Upload",
        "How results are sliced, sent, retried and tracked, and how tests are linked.",
    ),
    "results": (
        "Results",
        "What the uploaded results say about themselves: release, build context, fields.",
    ),
}

_HEADER = f"""\
<!-- Generated from pytest_octane/settings/ by `{REGENERATE}`; do not edit. -->

# Configuration reference

Every setting has up to five names: a pytest command-line option, the same option for the
`pytest-octane` command-line tool (without the `octane-` prefix), an `OCTANE_*` environment
variable, an `octane_*` ini key (`pytest.ini`, `[tool.pytest.ini_options]` in
`pyproject.toml`, `tox.ini` or `setup.cfg`) and, for most, a key in the spaces file (the
seed's JSON file of per-space settings, selected with `--octane-config` and
`--octane-space`).

When a setting is given in several places, the first of these wins:

1. the command line;
2. the environment variable;
3. the ini key (the `pytest-octane` tool reads no ini file);
4. the spaces-file entry of the selected shared space;
5. the CI system, for the build context only (see [CI recipes](ci-recipes.md));
6. the default.

Values: a switch is the bare flag on the command line and `true` or `false` elsewhere (also
`1`/`0`, `yes`/`no`, `on`/`off`). A repeatable option is given once per value on the
command line, as a comma-separated list in an environment variable, one value per line in
an ini file, and as a JSON list in the spaces file. Errors name the place that held the bad
value, such as `environment variable OCTANE_SLICE_SIZE: 5000 is out of range`.

While the plugin is on, pytest's header says where the results go and where each of those
settings came from (`-q` and `--no-header` leave the header out, as for every plugin):

```text
octane: space 1001 (option --octane-space); workspace 1002 (pytest.ini key octane_workspace); \
url https://octane.example.com (environment variable OCTANE_URL); task store octane_task_logs \
(default); streaming on (default)
```

The "`pytest-octane`" column lists the subcommands that accept the option.
"""

_DRY_RUN = """\
## Dry run

| pytest option | `pytest-octane` | meaning |
|---|---|---|
| `--octane-dry-run[=DIR]` | `convert FILE... -o DIR` | Write the Octane XML slices to DIR \
(without DIR: print the first slice) and upload nothing. Needs no server and no credentials; \
use `--octane-dry-run=DIR` (with `=`) so DIR is not taken for a test path. |
"""

_COLUMNS = (
    "setting",
    "pytest option",
    "`pytest-octane`",
    "environment variable",
    "ini key",
    "spaces-file key",
    "default",
    "meaning",
)


def _cell(text: str) -> str:
    """A table cell: pipes escaped (also inside code spans, as GFM requires)."""
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str | None) -> str:
    return f"`{text}`" if text else ""


def _flag(spec: OptionSpec) -> str:
    if not spec.flag:
        return ""
    if spec.is_switch or not spec.metavar:
        return _code(spec.flag)
    return _code(f"{spec.flag}={spec.metavar}")


def _default(spec: OptionSpec) -> str:
    if spec.name in CI_OPTION_NAMES:
        return "detected in CI"
    value: Any = spec.default
    if value is None:
        return ""
    if isinstance(value, bool):
        return _code("true" if value else "false")
    if isinstance(value, float) and value.is_integer():
        return _code(str(int(value)))
    return _code(str(value))


def _prose(text: str) -> str:
    """Help text as Markdown: ``_default_`` must not turn into italics."""
    for special in ("\\", "`", "*", "_", "[", "]", "<", ">"):
        text = text.replace(special, "\\" + special)
    return text


def _meaning(spec: OptionSpec) -> str:
    text = _prose(spec.help.strip())
    if spec.multiple and "repeatable" not in text.lower():
        text += " Repeatable."
    return text


def tool_commands(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    """Destination -> the ``pytest-octane`` subcommands that have an option for it.

    Keyed by destination (``octane_<setting>``), so a subcommand's unrelated option of the
    same spelling (the simulator's own ``--jira-field``) is not counted.
    """
    accepted: dict[str, list[str]] = {}
    for action in parser._actions:  # argparse has no public way to list subcommands
        if isinstance(action, argparse._SubParsersAction):
            for command, sub in action.choices.items():
                for option in sub._actions:
                    if option.option_strings and command not in accepted.get(option.dest, []):
                        accepted.setdefault(option.dest, []).append(command)
    return accepted


def _tool_cell(spec: OptionSpec, accepted: dict[str, list[str]]) -> str:
    commands = accepted.get(spec.dest)
    if not spec.tool_flags or not commands:
        return ""
    return f"{_code(spec.tool_flags[0])} ({', '.join(commands)})"


def _table(specs: Iterable[OptionSpec], accepted: dict[str, list[str]]) -> list[str]:
    rows = [
        "| " + " | ".join(_COLUMNS) + " |",
        "|" + "---|" * len(_COLUMNS),
    ]
    for spec in specs:
        cells = (
            spec.name,
            _flag(spec),
            _tool_cell(spec, accepted),
            _code(spec.env),
            _code(spec.ini),
            _code(spec.spaces_key),
            _default(spec),
            _meaning(spec),
        )
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return rows


def render_configuration_reference(options: Sequence[OptionSpec] = OPTIONS) -> str:
    """The whole ``docs/configuration.md``, generated from ``options`` and the CLI's parser."""
    from pytest_octane.cli import build_parser

    accepted = tool_commands(build_parser())
    order = list(GROUPS) + sorted({s.group for s in options} - set(GROUPS))
    parts = [_HEADER, _DRY_RUN]
    for group in order:
        specs = [s for s in options if s.group == group]
        if not specs:
            continue
        title, intro = GROUPS.get(group, (group.capitalize(), ""))
        lines = [f"## {title}", ""]
        if intro:
            lines += [intro, ""]
        lines += _table(specs, accepted)
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_octane.cli.docgen",
        description=f"Print the configuration reference (Markdown). Usage: {REGENERATE}",
    )
    parser.parse_args(argv)
    sys.stdout.write(render_configuration_reference())
    return 0


if __name__ == "__main__":
    sys.exit(main())
