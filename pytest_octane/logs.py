"""The loggers of the modules that run inside pytest's process, made when they first log.

Since pytest 9.1 each test phase walks every logger that exists (``catching_logs`` attaches
its handlers to the non-propagating ones), so a logger made at import costs every phase of
every test in the session, about 6 loop turns a test each (issue 28).  These modules log only
when something goes wrong, so their loggers are made then.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["LazyLogger"]


class LazyLogger:
    """``logging.getLogger(name)``, looked up at its first message."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def debug(self, msg: str, *args: Any) -> None:
        logging.getLogger(self.name).debug(msg, *args)

    def info(self, msg: str, *args: Any) -> None:
        logging.getLogger(self.name).info(msg, *args)

    def warning(self, msg: str, *args: Any) -> None:
        logging.getLogger(self.name).warning(msg, *args)

    def exception(self, msg: str, *args: Any) -> None:
        logging.getLogger(self.name).exception(msg, *args, stacklevel=2)
