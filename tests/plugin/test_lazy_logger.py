"""The plugin's loggers are made only when a message would reach a handler (issue 28)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import pytest

from pytest_octane.logs import LazyLogger

PARENT = f"octane_lazy_{uuid.uuid4().hex}"
NAME = f"{PARENT}.child"


@pytest.fixture
def clean_names() -> Iterator[None]:
    """Loggers of names no one else uses, removed after the test."""
    yield
    existing = logging.root.manager.loggerDict
    for name in [name for name in existing if name.startswith(PARENT)]:
        del existing[name]


@pytest.mark.usefixtures("clean_names")
def test_a_message_that_goes_nowhere_makes_no_logger() -> None:
    root = logging.getLogger()
    previous = root.level
    root.setLevel(logging.WARNING)
    try:
        LazyLogger(NAME).info("nobody listens")
        assert NAME not in logging.root.manager.loggerDict
    finally:
        root.setLevel(previous)


@pytest.mark.usefixtures("clean_names")
def test_a_message_the_root_logger_takes_is_logged_under_the_modules_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO):
        LazyLogger(NAME).info("sent %s", "x")
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        (NAME, logging.INFO, "sent x")
    ]
    assert isinstance(logging.root.manager.loggerDict[NAME], logging.Logger)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.usefixtures("clean_names")
def test_a_parent_logger_set_lower_than_the_root_still_gets_the_message() -> None:
    parent = logging.getLogger(PARENT)
    parent.setLevel(logging.DEBUG)
    handler = _Records()
    parent.addHandler(handler)
    try:
        LazyLogger(NAME).debug("deep")
    finally:
        parent.removeHandler(handler)
    assert [(r.name, r.getMessage()) for r in handler.records] == [(NAME, "deep")]


@pytest.mark.usefixtures("clean_names")
def test_exception_keeps_the_traceback(caplog: pytest.LogCaptureFixture) -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        LazyLogger(NAME).exception("failed")
    (record,) = caplog.records
    assert record.levelno == logging.ERROR and record.exc_info is not None
    assert record.exc_info[0] is ValueError
