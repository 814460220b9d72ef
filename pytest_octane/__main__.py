"""``python -m pytest_octane`` runs the CLI."""

from __future__ import annotations

import sys

from pytest_octane.cli import main

__all__ = []

sys.exit(main())
