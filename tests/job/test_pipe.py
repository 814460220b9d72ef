"""The pipe between pytest and its uploader: whole messages, credentials, a clean environment."""

from __future__ import annotations

import os
import pickle
import threading

import pytest

from pytest_octane.job.run import pipe
from pytest_octane.octane.credentials import Credentials, Secret


def test_messages_arrive_whole_and_in_order_then_end_of_pipe_is_none() -> None:
    read_fd, write_fd = os.pipe()
    reader, writer = pipe.unbuffered(read_fd, "rb"), pipe.unbuffered(write_fd, "wb")
    send = pipe.Sender(writer)
    big = "x" * 200_000  # more than a pipe's buffer: written while the other end reads
    received: list[object] = []
    thread = threading.Thread(
        target=lambda: received.extend(iter(lambda: pipe.receive(reader), None))
    )
    thread.start()
    threads = [
        threading.Thread(target=lambda n=n: [send("text", line=f"{n}-{i}") for i in range(200)])
        for n in range(4)
    ]
    for t in threads:
        t.start()
    assert send("big", line=big)
    for t in threads:
        t.join()
    send.close()
    thread.join(timeout=30)
    assert len(received) == 801
    assert ("big", {"line": big}) in received
    for n in range(4):  # each thread's messages in its order, none torn
        mine = [
            m[1]["line"] for m in received if m[0] == "text" and m[1]["line"].startswith(f"{n}-")
        ]  # type: ignore[index]
        assert mine == [f"{n}-{i}" for i in range(200)]
    reader.close()


def test_a_send_after_the_other_end_is_gone_says_false_and_does_not_raise() -> None:
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    send = pipe.Sender(pipe.unbuffered(write_fd, "wb"))
    assert send("text", line="lost") is False
    assert send("text", line="again") is False


@pytest.mark.parametrize("kind", ["api_key", "user"])
def test_credentials_cross_as_plain_fields_and_are_secret_again(kind: str) -> None:
    if kind == "api_key":
        original = Credentials.api_key("id-1", "s3cr3t-value", source="hook")
    else:
        original = Credentials.user_password("ann", "pa55-value", source="credentialsCommand")
    fields = pipe.credentials_fields(original)
    with pytest.raises(TypeError):
        pickle.dumps(original)  # a Secret is never pickled by accident ...
    back = pipe.credentials_from(pickle.loads(pickle.dumps(fields)))  # ... only on purpose
    assert back == original and isinstance(back.secret, Secret)
    assert "value" not in repr(back)


def test_the_child_environment_has_no_octane_variable_and_no_secret() -> None:
    environ = {
        "PATH": "/usr/bin",
        "HOME": "/home/ann",
        "HTTPS_PROXY": "http://proxy:3128",
        "NO_PROXY": "localhost",
        "REQUESTS_CA_BUNDLE": "/etc/ca.pem",
        "PYTEST_CURRENT_TEST": "t.py::t (call)",
        "OCTANE_CLIENT_ID": "id",
        "OCTANE_CLIENT_SECRET": "s",
        "OCTANE_PASSWORD": "p",
        "OCTANE_USER": "u",
        "OCTANE_TASK_STORE": "postgresql://u:pw@db/x",
        "octane_space": "1001",
        "GITHUB_TOKEN": "ghp",
        "AWS_SECRET_ACCESS_KEY": "a",
        "DB_PASSWORD": "d",
        "MY_API_KEY": "k",
        "GOOGLE_APPLICATION_CREDENTIALS": "/c.json",
    }
    child = pipe.child_environment(environ)
    assert child == {
        "PATH": "/usr/bin",
        "HOME": "/home/ann",
        "HTTPS_PROXY": "http://proxy:3128",
        "NO_PROXY": "localhost",
        "REQUESTS_CA_BUNDLE": "/etc/ca.pem",
        "PYTEST_CURRENT_TEST": "t.py::t (call)",
    }
