"""The verbs that take result files: ``convert`` (to Octane XML slices) and ``upload``."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from pytest_octane.cli.common import EXIT_FAILED, EXIT_OK, print_outcome
from pytest_octane.errors import UsageError
from pytest_octane.settings import Settings, check_credentials

__all__ = ["cmd_convert", "cmd_upload"]

__all__ = ["cmd_convert", "cmd_upload"]


def cmd_convert(args: argparse.Namespace) -> int:
    from pytest_octane.octane.inputs import read_inputs
    from pytest_octane.octane.results_xml import header_from_settings, write_slices

    settings = replace(Settings.from_argparse(args), from_pytest=False)  # any tool's files
    runs = read_inputs(args.files, settings)
    out = Path(args.output)
    try:
        files = write_slices(
            out,
            header_from_settings(settings),
            runs,
            slice_size=settings.slice_size,
            max_trace=settings.max_trace,
        )
    except OSError as exc:
        raise UsageError(
            f"cannot write the slices to {str(out)!r} ({exc.strerror}: {exc.filename}); "
            "pick a writable -o DIR"
        ) from None
    print(f"{len(runs)} test runs in {len(files)} slice(s) written to {out}")
    return EXIT_OK


def cmd_upload(args: argparse.Namespace) -> int:
    from pytest_octane.job.engine import upload_session
    from pytest_octane.octane.inputs import read_inputs

    settings = replace(Settings.from_argparse(args), from_pytest=False)  # any tool's files
    runs = read_inputs(args.files, settings)
    if not runs:
        print("no test runs in the given files; nothing to upload", file=sys.stderr)
        return EXIT_FAILED
    check_credentials(settings)
    return print_outcome(upload_session(settings, runs, progress=print))
