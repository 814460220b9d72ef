"""The jobs page against a hostile browser or network (issue 17, points 12 and 13).

The token redirect must stay on this page whatever the path looks like; a token must be
long enough to resist guessing; Origin/Referer must match scheme, host and port.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from webui_harness import World

from pytest_octane import cli
from pytest_octane.errors import ConfigError
from pytest_octane.model import SliceStatus
from pytest_octane.web.access import local_path, same_origin
from pytest_octane.web.server import TOKEN_ENV, JobsServer

TIMEOUT = 30  # bounds a hang only
TOKEN = "hardening-token-7d2c0e91b4a6"


def raw_get(port: int, path: str) -> http.client.HTTPResponse:
    """GET with the path exactly as given (requests would normalise it)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    conn.request("GET", path)
    answer = conn.getresponse()
    answer.read()
    conn.close()
    return answer


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/\\evil.example/", "/%5Cevil.example/"),
        ("//evil.example/", "/evil.example/"),
        ("/\\/evil.example", "/%5C/evil.example"),
        ("/%5C%5Cevil.example/x", "/%5C%5Cevil.example/x"),
        ("/%2F%2Fevil.example", "/%2F%2Fevil.example"),
        ("/jobs/job-1", "/jobs/job-1"),
        ("/", "/"),
    ],
)
def test_token_redirect_goes_only_to_a_local_path(world: World, path: str, expected: str) -> None:
    with world.serve(token=TOKEN) as server:
        answer = raw_get(server.port, f"{path}?token={TOKEN}&x=1")
    assert answer.status == 303
    location = answer.getheader("Location") or ""
    assert location == f"{expected}?x=1"
    assert "\\" not in location and not location.startswith("//")


def test_local_path_never_leaves_the_server() -> None:
    for hostile in ("/\\evil", "///evil", "/\t/evil", "/%09/evil", "\\\\evil", "/\\\\evil/"):
        target = local_path(hostile)
        assert target.startswith("/") and target[1:2] not in ("/", "\\", "\t"), target
        assert "\\" not in target


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("Origin", "https://{host}"),  # right host and port, wrong scheme
        ("Origin", "http://127.0.0.1:{other}"),  # right host, wrong port
        ("Origin", "http://127.0.0.1"),  # port missing: 80
        ("Referer", "https://{host}/jobs/x"),
        ("Referer", "http://127.0.0.1:{other}/jobs/x"),
    ],
)
def test_origin_must_match_scheme_host_and_port(world: World, header: str, value: str) -> None:
    job = world.upload_with_a_failed_slice()
    posts = world.results_posts()
    with world.serve() as server:
        host = f"127.0.0.1:{server.port}"
        headers = {header: value.format(host=host, other=server.port + 1)}
        refused = requests.post(
            f"{server.url}/jobs/{job.job_id}/retry",
            data={"csrf": server.csrf},
            headers=headers,
            timeout=TIMEOUT,
            allow_redirects=False,
        )
        accepted = requests.post(
            f"{server.url}/jobs/{job.job_id}/retry",
            data={"csrf": server.csrf},
            headers={header: f"http://{host}/jobs/{job.job_id}"},
            timeout=TIMEOUT,
            allow_redirects=False,
        )
    assert refused.status_code == 403, refused.text
    assert accepted.status_code == 303, accepted.text
    assert world.results_posts() - posts == 1  # only the same-origin press uploaded
    assert world.job(job.job_id).status is SliceStatus.SUCCESS


def test_same_origin_rules() -> None:
    assert same_origin("http://127.0.0.1:8765", "127.0.0.1:8765")
    assert same_origin("http://LOCALHOST:8765/jobs/a", "localhost:8765")
    assert same_origin("http://jobs.example", "jobs.example:80")
    assert same_origin("http://[::1]:8765", "[::1]:8765")
    for foreign in ("null", "https://127.0.0.1:8765", "http://127.0.0.1:8766", "ftp://x", ""):
        assert not same_origin(foreign, "127.0.0.1:8765"), foreign


@pytest.mark.parametrize("source", ["--token", TOKEN_ENV])
def test_a_short_token_is_refused_before_listening(source: str, tmp_path: Path) -> None:
    short = "abcdefghijklmno"  # 15 characters
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCTANE_")}
    command = [sys.executable, "-m", "pytest_octane", "serve", "--host", "0.0.0.0", "--port", "0"]
    if source == "--token":
        command += ["--token", short]
    else:
        env[TOKEN_ENV] = short
    # a subprocess, so a server that wrongly starts is stopped by the timeout
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    err = done.stderr
    assert err.count("\n") == 1 and err.startswith(f"pytest-octane: error: {source} has 15 ")
    assert "at least 16" in err
    assert short not in err  # the length is said, never the secret


def test_the_server_itself_refuses_a_short_token(world: World) -> None:
    args = cli.build_parser().parse_args(["serve", f"--task-store={world.store}"])
    store = world.open_store()
    try:
        with pytest.raises(ConfigError, match="at least 16"):
            JobsServer(args, store, port=0, token="a")
    finally:
        store.close()
