"""Repository-wide test wiring: pytester for every end-to-end test."""

pytest_plugins = ["pytester", "tests.postgres_support"]
