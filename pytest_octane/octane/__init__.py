"""octane: see docs/architecture.md."""
