"""The loggers of the modules that run inside pytest's process, made when they first log.

Since pytest 9.1 each test phase walks every logger that exists (``catching_logs`` attaches
its handlers to the non-propagating ones), so a logger made at import, or for a message that
goes nowhere, costs every phase of every later test in the session (issue 28).  A message is
dropped without making its logger when no logger of its name or above it exists and the root
logger is not enabled for its level: it would have gone nowhere all the same.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["LazyLogger"]


class LazyLogger:
    """``logging.getLogger(name)``, looked up when a message would reach a handler."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def debug(self, msg: str, *args: Any) -> None:
        self._log(logging.DEBUG, msg, args)

    def info(self, msg: str, *args: Any) -> None:
        self._log(logging.INFO, msg, args)

    def warning(self, msg: str, *args: Any) -> None:
        self._log(logging.WARNING, msg, args)

    def exception(self, msg: str, *args: Any) -> None:
        self._log(logging.ERROR, msg, args, exc_info=True)

    def _log(self, level: int, msg: str, args: tuple[Any, ...], *, exc_info: bool = False) -> None:
        logger = self.logger(level)
        if logger is not None:
            logger.log(level, msg, *args, exc_info=exc_info, stacklevel=3)

    def logger(self, level: int) -> logging.Logger | None:
        """The logger, unless none of its name or above it exists and the root logger
        drops ``level`` (then None: the message would reach no handler)."""
        existing = logging.root.manager.loggerDict
        name = self.name
        while name:
            if isinstance(existing.get(name), logging.Logger):
                return logging.getLogger(self.name)
            name = name.rpartition(".")[0]
        return logging.getLogger(self.name) if logging.root.isEnabledFor(level) else None
