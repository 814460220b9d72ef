"""The CLI hook (configure_parser/run) and the stories file reader."""

from __future__ import annotations

import argparse
import json
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from pytest_octane.errors import ConfigError
from pytest_octane.simulator import cli

RUNNER = (
    "import argparse, sys\n"
    "from pytest_octane.simulator import cli\n"
    "parser = argparse.ArgumentParser()\n"
    "cli.configure_parser(parser)\n"
    "sys.exit(cli.run(parser.parse_args(sys.argv[1:])))\n"
)


def test_parser_defaults() -> None:
    parser = argparse.ArgumentParser()
    cli.configure_parser(parser)
    args = parser.parse_args([])
    assert (args.host, args.port, args.queue_limit, args.processing_ms) == (
        "127.0.0.1",
        8080,
        50,
        500,
    )
    assert (args.space_id, args.workspace_id, args.client_id) == (1001, 1002, "sim-client")


def test_stories_file_as_list_or_object(tmp_path: Path) -> None:
    as_list = tmp_path / "list.json"
    as_list.write_text(json.dumps([{"key": "QZ-1", "id": 2001, "name": "A"}, "QZ-2"]))
    as_object = tmp_path / "object.json"
    as_object.write_text(json.dumps({"QZ-1": 2001}))
    assert cli.load_stories(str(as_list)) == [
        {"key": "QZ-1", "id": 2001, "name": "A"},
        {"key": "QZ-2", "id": None, "name": None},
    ]
    assert cli.load_stories(str(as_object)) == [{"key": "QZ-1", "id": 2001, "name": None}]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ("42", "expected a JSON list or object"),
        ('[{"id": 1}]', 'entry 1 has no string "key"'),
        ('{"QZ-1": "x"}', "entry 1 has a non-integer id"),
    ],
)
def test_bad_stories_files_name_the_problem(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "stories.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        cli.load_stories(str(path))


def test_missing_stories_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        cli.load_stories(str(tmp_path / "absent.json"))


def _read_until(process: subprocess.Popen[bytes], marker: str, seconds: float) -> str:
    """Read the child's stdout (unbuffered, bounded in time) until ``marker`` shows up."""
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    data = b""
    deadline = time.monotonic() + seconds
    while marker.encode() not in data and time.monotonic() < deadline:
        if selector.select(timeout=max(0.0, deadline - time.monotonic())):
            chunk = os.read(process.stdout.fileno(), 65536)
            if not chunk:
                break
            data += chunk
    selector.close()
    return data.decode()


#: What a background job of a non-interactive shell inherits: SIGINT ignored. Python then
#: installs no KeyboardInterrupt handler, which is how this test once hung in a fresh clone.
IGNORING_SIGINT = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"


@pytest.mark.parametrize("inherited", ["default", "sigint-ignored"])
def test_run_serves_until_interrupted(tmp_path: Path, inherited: str) -> None:
    stories = tmp_path / "stories.json"
    stories.write_text(json.dumps({"QZ-1": 2001, "QZ-2": 2002}))
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (IGNORING_SIGINT if inherited == "sigint-ignored" else "") + RUNNER,
            "--port",
            "0",
            "--stories",
            str(stories),
            "--processing-ms",
            "0",
            "--client-secret",
            "local-fake",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        banner = _read_until(process, "Press Ctrl-C", 20)
        url = re.search(r"listening on (http://127\.0\.0\.1:\d+)", banner)
        assert url, banner
        assert "export OCTANE_CLIENT_SECRET=local-fake" in banner
        spaces = json.loads(banner[banner.index("{") : banner.rindex("}") + 1])
        assert spaces["1001"]["url"] == url.group(1) and spaces["1001"]["workspaceId"] == 1002
        session = requests.Session()
        signed = session.post(
            f"{url.group(1)}/authentication/sign_in",
            json={"client_id": "sim-client", "client_secret": "local-fake"},
            timeout=10,
        )
        assert signed.status_code == 200
        found = session.get(
            f"{url.group(1)}/api/shared_spaces/1001/workspaces/1002/stories", timeout=10
        ).json()
        assert found["total_count"] == 2
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=20)
        assert process.returncode == 0
        assert b"stopped" in out
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_run_reports_a_bad_port_and_returns_2(capsys: pytest.CaptureFixture[str]) -> None:
    with socket_in_use() as port:
        parser = argparse.ArgumentParser()
        cli.configure_parser(parser)
        code = cli.run(parser.parse_args(["--port", str(port)]))
    assert code == 2
    assert "cannot listen on 127.0.0.1" in capsys.readouterr().err


class socket_in_use:  # a context manager named like a function
    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        return int(self.sock.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self.sock.close()
