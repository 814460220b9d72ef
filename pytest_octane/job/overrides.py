"""``serve`` refuses connection flags: each job goes to its recorded server, space and workspace.

What a job records and how ``retry --space/--workspace/--url`` corrects it is in ``recorded``.
"""

from __future__ import annotations

import argparse

from pytest_octane.errors import ConfigError
from pytest_octane.job.recorded import CONNECTION_FIELDS

__all__ = ["refuse_connection_flags"]


def refuse_connection_flags(args: argparse.Namespace) -> None:
    """``serve`` handles many jobs: one server/space/workspace for all of them is a trap."""
    given = [flag for name, flag, _ in CONNECTION_FIELDS if getattr(args, f"octane_{name}", None)]
    if given:
        raise ConfigError(
            f"serve does not take {'/'.join(given)}: each job is re-uploaded to its recorded "
            "server, shared space and workspace; correct one job with "
            "'pytest-octane retry JOB --space ID --workspace ID --url URL'"
        )
