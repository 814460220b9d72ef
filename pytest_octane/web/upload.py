"""The upload form's work: read the posted JUnit/Octane XML files as ``pytest-octane upload``
does, record a job and start it in the background through the same engine.

The files are written to a private temporary folder and read by
``octane.inputs.read_inputs``, as ``pytest-octane upload`` reads them (DOCTYPEs refused, no
entity expansion, no network access); their runs are spooled and the job is recorded before
this returns, so the page can show it at once; the upload itself runs in a thread and the job
page follows it live.
"""

from __future__ import annotations

import argparse
import email.parser
import email.policy
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from pytest_octane.errors import ConfigError, InputError, OctaneError
from pytest_octane.model import TestRun
from pytest_octane.settings import Settings, load_spaces_file
from pytest_octane.store import TaskStore
from pytest_octane.web.retry import Notice

__all__ = [
    "MAX_FILES",
    "MAX_UPLOAD_BYTES",
    "Posted",
    "SpaceChoice",
    "parse_multipart",
    "space_choices",
    "start_upload",
]

#: The whole posted form, files included; a bigger one is refused before it is read.
MAX_UPLOAD_BYTES = 32 * 1024 * 1024
MAX_FILES = 100


@dataclass(frozen=True, slots=True)
class Posted:
    """The upload form as posted: its text fields and its files (name, bytes)."""

    fields: dict[str, str]
    files: list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class SpaceChoice:
    space: int
    label: str


def parse_multipart(content_type: str, body: bytes) -> Posted:
    """A ``multipart/form-data`` body; ValueError (one line) for anything else."""
    if not content_type.lower().startswith("multipart/form-data") or "boundary=" not in (
        content_type.lower()
    ):
        raise ValueError("expected the upload form (multipart/form-data with a boundary)")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise ValueError("the upload form's body is not multipart/form-data")
    fields: dict[str, str] = {}
    files: list[tuple[str, bytes]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            if name == "files" and (data or filename):
                files.append((Path(filename.replace("\\", "/")).name or "file", data))
        else:
            fields[name] = data.decode("utf-8", "replace")
    if len(files) > MAX_FILES:
        raise ValueError(f"{len(files)} files posted; give at most {MAX_FILES} at once")
    return Posted(fields, files)


def _base_settings(args: argparse.Namespace) -> Settings:
    return Settings.from_argparse(args)


def space_choices(args: argparse.Namespace) -> tuple[list[SpaceChoice], str | None]:
    """The shared spaces of the spaces file ``serve`` was given (``--config`` or
    ``OCTANE_CONFIG``), or why there are none."""
    try:
        path = _base_settings(args).config
        if not path:
            return [], (
                "no spaces file: start 'pytest-octane serve' with --config spaces.json "
                "(or OCTANE_CONFIG) to upload from this page"
            )
        spaces = load_spaces_file(path, "the jobs page's --config")
    except ConfigError as exc:
        return [], str(exc)
    choices = []
    for key, entry in sorted(spaces.items(), key=lambda item: int(item[0])):
        where = ", ".join(
            str(v) for v in (entry.get("url"), entry.get("workspaceId")) if v is not None
        )
        choices.append(SpaceChoice(int(key), f"{key} ({where})" if where else key))
    return choices, None


def _runs(posted: Posted, settings: Settings, folder: Path) -> list[TestRun]:
    from pytest_octane.octane.inputs import read_inputs

    runs: list[TestRun] = []
    for number, (name, data) in enumerate(posted.files, 1):
        path = folder / f"upload-{number}.xml"
        path.write_bytes(data)
        try:
            runs += read_inputs([str(path)], settings)
        except InputError as exc:
            raise InputError(str(exc).replace(str(path), name)) from None
    return runs


def start_upload(
    args: argparse.Namespace,
    store: TaskStore,
    posted: Posted,
    *,
    lock_of: Callable[[str], threading.Lock],
    done: Callable[[str, Notice], None],
    threads: list[threading.Thread],
) -> str:
    """Record a job of the posted files and start uploading it; return its id.

    Raises ConfigError, CredentialsError, InputError or StoreError (one line each) when the
    form's values or files are wrong; nothing is recorded then.
    """
    from pytest_octane.job.engine import execute_job, prepare_job
    from pytest_octane.settings import check_credentials

    choices, problem = space_choices(args)
    space = posted.fields.get("space", "").strip()
    if problem:
        raise ConfigError(problem)
    if space not in {str(c.space) for c in choices}:
        known = ", ".join(str(c.space) for c in choices)
        raise ConfigError(f"shared space {space!r} is not in the spaces file (it has: {known})")
    if not posted.files:
        raise InputError("no files: choose one or more JUnit or Octane XML files")
    suite = posted.fields.get("suite", "").strip() or None
    story = posted.fields.get("jira", "").strip() or None
    settings = Settings.from_argparse(
        args, space=space, suite=suite, jira=[story] if story else None
    )
    settings = replace(settings, from_pytest=False)  # any tool's files, as 'upload' reads them
    check_credentials(settings)
    with tempfile.TemporaryDirectory(prefix="pytest-octane-form-") as folder:
        runs = _runs(posted, settings, Path(folder))
    if not runs:
        raise InputError("no test runs in the given files; nothing to upload")
    job = prepare_job(settings, runs, store)
    lock = lock_of(job.job_id)
    lock.acquire()

    def upload() -> None:
        progress: list[str] = []
        try:
            try:
                outcome = execute_job(settings, store, job, progress=progress.append)
                lines, ok = tuple(outcome.summary_lines()), outcome.ok
            except OctaneError as exc:
                lines, ok = (f"error: {exc}",), False
            done(job.job_id, Notice(time.time(), ok, lines, tuple(progress), "Upload"))
        finally:
            lock.release()

    thread = threading.Thread(target=upload, name=f"octane-form-upload-{job.job_id}", daemon=True)
    threads.append(thread)
    thread.start()
    return job.job_id


def join_uploads(threads: Sequence[threading.Thread], timeout_s: float) -> None:
    """Wait (bounded) for uploads started from the page, e.g. when the server stops."""
    deadline = time.monotonic() + timeout_s
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0.0))
