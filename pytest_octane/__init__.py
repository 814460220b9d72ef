"""Upload pytest results to OpenText ALM Octane as automated runs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

__version__ = "0.1.0"

__all__ = ["__version__", "attach"]


class AttachSink(Protocol):
    """Where ``attach`` sends a file: the pytest plugin's (plugin/attach.py), while it runs."""

    def __call__(
        self, data: str | os.PathLike[str] | bytes, name: str | None, description: str | None
    ) -> None: ...


_sinks: list[AttachSink] = []


def attach(
    path_or_bytes: str | os.PathLike[str] | bytes,
    name: str | None = None,
    description: str | None = None,
) -> None:
    """Attach a file (a path, or bytes with a ``name``) to the Octane run of the running test.

    Call it from the test, its fixtures, or a hook of its setup, call or teardown (e.g. a
    screenshot on failure).  The file is copied into the job's spool at once; after the run
    is in Octane it is sent to it (see the README, "Captured output and attachments").  Does
    nothing when pytest-octane is not uploading (or with ``--octane-attachments=off``).
    """
    __tracebackhide__ = True
    if _sinks:
        _sinks[-1](path_or_bytes, name, description)
    else:
        attached_file(path_or_bytes, name)  # misuse fails alike with and without an upload


def attached_file(
    data: str | os.PathLike[str] | bytes, name: str | None
) -> tuple[Path | None, str]:
    """The file to attach (None for bytes) and its given name; a clear error for misuse."""
    __tracebackhide__ = True
    if isinstance(data, bytes | bytearray):
        if not name:
            raise ValueError(
                "pytest_octane.attach(bytes) needs a name with an extension, e.g. "
                "attach(png_bytes, name='screenshot.png')"
            )
        return None, name
    if not isinstance(data, str | os.PathLike):
        raise TypeError(
            f"pytest_octane.attach() takes a file path or bytes, not {type(data).__name__}"
        )
    path = Path(data)
    if not path.is_file():
        raise FileNotFoundError(f"pytest_octane.attach({str(path)!r}): no such file")
    return path, name or path.name


def push_attach_sink(sink: AttachSink) -> None:
    """The plugin routes ``attach`` to its session (a stack: pytester runs nest sessions)."""
    _sinks.append(sink)


def pop_attach_sink(sink: AttachSink) -> None:
    if sink in _sinks:
        _sinks.remove(sink)
