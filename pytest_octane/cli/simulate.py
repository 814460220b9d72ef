"""The ``simulator`` verb: the bundled fake Octane (its options and loop are in ``simulator/``)."""

from __future__ import annotations

import argparse

__all__ = ["cmd_simulator"]


def cmd_simulator(args: argparse.Namespace) -> int:
    from pytest_octane.simulator.cli import run

    return run(args)
