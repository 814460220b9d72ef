"""job/run/pipe.py: the inbox the uploader's reader fills, a message cut short, secret names
(named test_run_pipe: tests/uploader/test_pipe.py has the whole-message and environment tests)."""

from __future__ import annotations

import io
import threading

import pytest

from pytest_octane.job.run import pipe
from pytest_octane.model import SpooledRun


def _message(kind: str, **fields: object) -> bytes:
    buffer = io.BytesIO()
    pipe.Sender(buffer)(kind, **fields)
    return buffer.getvalue()


def test_a_message_cut_short_by_a_dying_writer_is_the_end_of_the_pipe() -> None:
    whole = _message("state", counters={"done": 1})
    assert pipe.receive(io.BytesIO(whole)) == ("state", {"counters": {"done": 1}})
    assert pipe.receive(io.BytesIO(whole[:-1])) is None
    assert pipe.receive(io.BytesIO(whole[:2])) is None
    assert pipe.receive(io.BytesIO(b"")) is None


def test_a_sender_after_close_sends_nothing() -> None:
    buffer = io.BytesIO()
    send = pipe.Sender(buffer)
    assert send("ready", location="x")
    send.close()
    assert send.broken and not send("end")


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("OCTANE_SPACE", True),
        ("octane_url", True),
        ("GITHUB_TOKEN", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("DB_PASSWORD", True),
        ("MY_API_KEY", True),
        ("PATH", False),
        ("HOME", False),
        ("CI", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert pipe.is_secret_name(name) is secret


def test_the_inbox_wakes_its_reader_on_the_end_and_keeps_what_pytest_said() -> None:
    inbox = pipe.Inbox()
    tests = [SpooledRun("tests", "test_a", ("ABC-1",))]
    inbox.expect(tests)
    assert inbox.collected == tuple(tests)
    assert not (inbox.ended or inbox.closed or inbox.stop.is_set)
    inbox.wait(0)  # the reader took that news: the next wait waits
    woke = threading.Event()

    def reader() -> None:
        inbox.wait(60)  # returns at once when told the end, not after a minute
        woke.set()

    thread = threading.Thread(target=reader)
    thread.start()
    inbox.end()
    thread.join(timeout=30)
    assert woke.is_set() and inbox.ended
    inbox.stop_sending()
    inbox.close()
    assert inbox.stop.is_set and inbox.closed
    inbox.wait(60)  # ended: no wait at all


def test_what_pytest_said_while_the_reader_was_busy_ends_its_next_wait_at_once() -> None:
    """Issue 28: a full slice is told once; the uploader, busy sending the previous one when
    it is told, must not miss it and sleep until its next look."""
    inbox = pipe.Inbox()
    inbox.journaled(1000)  # said while nobody waits
    done = threading.Event()

    def reader() -> None:
        inbox.wait(3600)
        done.set()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    thread.join(timeout=30)
    assert done.is_set() and inbox.journaled_runs == 1000
