"""Task stores: JSON files (default), SQLite and PostgreSQL."""

from __future__ import annotations

from pytest_octane.store.base import TaskStore

__all__ = ["TaskStore"]
