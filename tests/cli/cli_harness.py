"""The CLI tests' world: a simulator, a task store, a spool, and the commands that use them.

Kept out of ``conftest.py`` so test modules can import it by a name no other folder uses.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pytest_octane import cli
from pytest_octane.model import JobRecord
from pytest_octane.store import TaskStore, open_store
from tests.octane_env import OctaneEnv, run_child

__all__ = [
    "CLI_FAST",
    "FAST_RETRIES",
    "SUBPROCESS_TIMEOUT",
    "SUITE",
    "CliResult",
    "Octane",
    "in_ci",
    "lines_without_traceback",
    "printed",
    "wait_until",
]

#: Inner pytest sessions and subprocess CLIs finish in seconds; this only bounds a hang.
SUBPROCESS_TIMEOUT = 120.0
#: Short waits so a queue-full or transient retry costs tenths of a second, not minutes.
FAST_RETRIES = ("--octane-queue-full-retry=0.1", "--octane-poll-timeout=30")
#: The same for the CLI.
CLI_FAST = ("--queue-full-retry=0.1",)

SUITE = """
import pytest


@pytest.mark.parametrize("n", range({params}))
def test_number(n):
    assert n >= 0


class TestBasket:
    def test_empty(self):
        assert [] == []

    def test_discount_fails(self):
        assert 1 + 1 == 3, "discount must never be negative"

    @pytest.mark.skip(reason="payment sandbox unreachable")
    def test_pay(self):
        pass
"""


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@dataclass(frozen=True, slots=True)
class CliResult:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@dataclass(slots=True)
class Octane(OctaneEnv):
    """``octane_env`` with the session cookies the simulator issued, and the commands."""

    cookies: list[str] = field(default_factory=list)

    # -- what must never leak

    @property
    def secrets(self) -> list[str]:
        return [self.sim.client_secret, *self.cookies]

    def assert_no_secret(self, *texts: str) -> None:
        """No secret in ``texts`` nor in any file under the test's folder (stores, spool)."""
        __tracebackhide__ = True
        assert self.cookies, "the simulator issued no session cookie: nothing was checked"
        for text in texts:
            for secret in self.secrets:
                assert secret not in text, "a secret appeared in command output"
        for path in self.root.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                for secret in self.secrets:
                    assert secret.encode() not in data, f"a secret was written to {path}"

    # -- the store

    def open_store(self) -> TaskStore:
        return open_store(self.store)

    def jobs(self) -> list[JobRecord]:
        store = self.open_store()
        try:
            return store.list_jobs()
        finally:
            store.close()

    def only_job(self) -> JobRecord:
        jobs = self.jobs()
        assert len(jobs) == 1, f"expected one job in the store, found {[j.job_id for j in jobs]}"
        return jobs[0]

    # -- inner pytest sessions

    def write_suite(self, params: int = 4, name: str = "test_shop.py") -> Path:
        folder = self.root / "suite"
        folder.mkdir(exist_ok=True)
        (folder / name).write_text(textwrap.dedent(SUITE.format(params=params)))
        return folder

    def pytest_command(self, suite: Path, *args: str, upload: bool = True) -> list[str]:
        return [
            sys.executable, "-m", "pytest", str(suite), "-p", "no:randomly",
            *(self.pytest_args(*FAST_RETRIES) if upload else ["-p", "no:cacheprovider"]), *args,
        ]  # fmt: skip

    def run_pytest(
        self, suite: Path, *args: str, upload: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return run_child(
            self.pytest_command(suite, *args, upload=upload), cwd=suite, env=self.env()
        )

    def start_pytest(
        self, suite: Path, *args: str, output: int = subprocess.DEVNULL
    ) -> subprocess.Popen[bytes]:
        """Start pytest in its own session; ``output=subprocess.PIPE`` to read what it says."""
        return subprocess.Popen(
            self.pytest_command(suite, *args),
            cwd=suite,
            env=self.env(),
            stdout=output,
            stderr=output,
            start_new_session=True,
        )

    # -- the CLI

    def cli(self, *args: str) -> CliResult:
        """``pytest-octane ARGS`` in-process; argparse exits become exit codes."""
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(list(args))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
        return CliResult(code, out.getvalue(), err.getvalue())

    def cli_subprocess(self, *args: str) -> CliResult:
        done = run_child(
            [sys.executable, "-m", "pytest_octane", *args], cwd=self.root, env=self.env()
        )
        return CliResult(done.returncode, done.stdout, done.stderr)

    def upload(self, *files: Path | str, args: Sequence[str] = ()) -> CliResult:
        """``pytest-octane upload FILES`` to this test's simulator and store."""
        return self.cli("upload", *map(str, files), *self.cli_args(*CLI_FAST), *args)

    # -- the simulator

    def posts(self) -> int:
        """POSTs of test results the simulator has answered so far."""
        return sum(
            1
            for r in self.sim.request_log
            if r.method == "POST" and r.path.endswith("/test-results")
        )

    def assert_every_run_once(self, expected: int) -> None:
        __tracebackhide__ = True
        runs = self.sim.runs()
        counted = Counter((r["module"], r["package"], r["class"], r["name"]) for r in runs)
        duplicates = sorted(identity for identity, n in counted.items() if n > 1)
        assert not duplicates, f"runs arrived twice: {duplicates[:5]}"
        assert len(runs) == expected, f"{len(runs)} runs arrived, expected {expected}"
        assert self.sim.counters["duplicate_runs"] == 0


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def lines_without_traceback(text: str) -> Sequence[str]:
    assert "Traceback" not in text, f"a traceback was printed:\n{text}"
    return text.strip().splitlines()


def printed(output: str, verb: str) -> list[str]:
    """The arguments of the ``pytest-octane VERB ...`` command a summary printed."""
    match = re.search(rf"run: (pytest-octane {verb} .*)$", output, re.MULTILINE)
    assert match, f"no '{verb}' command printed:\n{output}"
    return shlex.split(match.group(1))[1:]
