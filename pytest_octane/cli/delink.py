"""The ``delink`` verb: take a job's JIRA stories back off exactly that job's automated runs."""

from __future__ import annotations

import argparse
import sys

from pytest_octane.cli.common import add_task_store_argument, get_job, open_task_store
from pytest_octane.errors import (
    ConfigError,
    CredentialsError,
    InputError,
    OctaneError,
    StoreError,
)
from pytest_octane.job.coverage import delink_job
from pytest_octane.job.recorded import JobSuite
from pytest_octane.settings import Settings, parse_jira_key

__all__ = ["configure_delink_parser", "run_delink"]


def configure_delink_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``pytest-octane delink JOB [--jira KEY]`` (the lead wires the subcommand)."""
    parser.add_argument("job", help="the job whose runs lose the story")
    parser.add_argument(
        "--jira",
        dest="delink_jira",
        action="append",
        metavar="KEY",
        help="JIRA key of the story to remove (repeatable; default: the job's --octane-jira "
        "stories)",
    )
    add_task_store_argument(parser)
    Settings.register_argparse_arguments(parser, groups=["connection"])
    parser.set_defaults(func=run_delink)


def run_delink(args: argparse.Namespace) -> int:
    """``pytest-octane delink``: 0 done, 1 Octane or store failure, 2 usage/configuration."""
    from pytest_octane.job.recorded import settings_for_job
    from pytest_octane.job.run.context import RequestLog, make_client
    from pytest_octane.job.run.links import map_jira_keys

    def fail(code: int, exc: BaseException) -> int:
        if getattr(args, "debug", False):
            raise exc
        print(f"pytest-octane: error: {exc}", file=sys.stderr)
        return code

    try:
        keys = tuple(parse_jira_key(k, "option --jira") for k in args.delink_jira or ())
        store = open_task_store(args)
    except (ConfigError, StoreError) as exc:
        return fail(2, exc)
    requests = RequestLog()
    try:
        job = get_job(store, args.job)
        plan = JobSuite.of(job)
        settings = settings_for_job(Settings.from_argparse(args, space=str(job.space_id)), job)
        client = make_client(settings, on_request=requests)
        field = plan.jira_field if plan else settings.jira_field
        with client:
            result = delink_job(
                client,
                store,
                job,
                keys,
                batch_size=settings.slice_size,
                map_keys=lambda missing: map_jira_keys(client, field, missing),
            )
    except (ConfigError, CredentialsError, InputError) as exc:
        return fail(2, exc)
    except OctaneError as exc:
        return fail(1, exc)
    finally:
        if entries := requests.drain():
            try:
                store.append_requests(args.job, entries)
            except StoreError:
                pass  # the request log is a diagnosis aid; the delink itself is recorded
        store.close()
    for line in result.summary_lines():
        print(line)
    return 0
