"""A lock's holder counts only while its process runs: a zombie holds nothing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pytest_octane.store.locks import pid_alive


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="zombies are read from /proc")
def test_a_killed_process_not_yet_reaped_is_not_alive() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert pid_alive(child.pid)
        child.kill()
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # dead, left unreaped
        os.kill(child.pid, 0)  # the zombie still answers a signal check
        assert not pid_alive(child.pid)
    finally:
        child.kill()
        child.wait()
    assert not pid_alive(child.pid)


def test_this_process_is_alive_and_no_pid_is_not() -> None:
    assert pid_alive(os.getpid())
    assert not pid_alive(0)
