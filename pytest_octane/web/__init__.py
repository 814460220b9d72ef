"""web: see docs/architecture.md."""

__all__ = []
