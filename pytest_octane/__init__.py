"""Upload pytest results to OpenText ALM Octane as automated runs."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
