"""job: see docs/architecture.md."""
