"""TLS: verification is on by default; a server whose CA is unknown gives one clear line that
names the option (and nothing is lost: the job resumes once the CA bundle is given); the CA
bundle path works; ``verifySSL: false`` works with exactly one warning.

The simulator serves HTTPS with a certificate for 127.0.0.1 from a throwaway ``trustme`` CA.
"""

from __future__ import annotations

import json
import re
import shlex
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Imported before any in-process pytester run: pytester drops modules first imported inside
# an inline run, and a second copy of requests/http.cookiejar breaks the client.
import pytest_octane.job.engine  # noqa: F401
from pytest_octane.simulator import Simulator
from tests.octane_env import OctaneEnv

trustme = pytest.importorskip("trustme")

TESTS = 20
SUITE = f"""
import pytest

@pytest.mark.parametrize("n", range({TESTS}))
def test_tls(n):
    assert n >= 0
"""


@dataclass(frozen=True)
class Tls:
    context: ssl.SSLContext
    ca_bundle: Path


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    bundle = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    return Tls(context, bundle)


@pytest.fixture
def simulator_defaults(tls: Tls) -> dict[str, Any]:
    """``octane_env``'s simulator serves HTTPS with a certificate of the test CA."""
    return {"ssl_context": tls.context, "processing_ms": 0}


def _spaces(root: Path, sim: Simulator, verify: object) -> str:
    path = root / "spaces.json"
    entry = {"url": sim.url, "workspaceId": 1002, "verifySSL": verify}
    path.write_text(json.dumps({"1001": entry}))
    return f"--octane-config={path}"


def test_unknown_ca_names_the_option_and_the_follow_up_with_the_bundle_finishes(
    pytester: pytest.Pytester, sim: Simulator, octane_env: OctaneEnv, tls: Tls
) -> None:
    from pytest_octane import cli

    pytester.makepyfile(test_tls=SUITE)
    result = pytester.runpytest(*octane_env.pytest_args())
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.OK  # the suite passed; the upload is not a test
    assert "Traceback" not in out + result.stderr.str()
    section = out[out.index(" octane ---") :].splitlines()
    errors = [line for line in section if "certificate" in line]
    assert errors, out
    for line in errors:  # one line per failed slice, each naming the option
        assert re.search(r"verifySSL|--octane-verify-ssl", line), line
    assert sim.runs() == []
    follow = re.findall(r"run: (pytest-octane (?:resume|retry) .+)$", out, re.M)
    assert follow, out
    argv = [*shlex.split(follow[0])[1:], f"--verify-ssl={tls.ca_bundle}"]
    assert cli.main(argv) == cli.EXIT_OK
    sim.wait_for_tasks()
    assert len(sim.runs()) == TESTS


@pytest.mark.parametrize("source", ["option", "spaces file"])
def test_ca_bundle_path_works(
    pytester: pytest.Pytester, sim: Simulator, octane_env: OctaneEnv, tls: Tls, source: str
) -> None:
    pytester.makepyfile(test_tls=SUITE)
    verify = (
        f"--octane-verify-ssl={tls.ca_bundle}"
        if source == "option"
        else _spaces(pytester.path, sim, str(tls.ca_bundle))
    )
    result = pytester.runpytest(*octane_env.pytest_args(verify))
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    sim.wait_for_tasks()
    assert len(sim.runs()) == TESTS
    assert "warning" not in result.stdout.str().lower()


@pytest.mark.parametrize("front", ["pytest", "pytest-octane upload"])
def test_verification_off_works_with_exactly_one_warning(
    pytester: pytest.Pytester, sim: Simulator, octane_env: OctaneEnv, front: str
) -> None:
    if front == "pytest":
        pytester.makepyfile(test_tls=SUITE)
        spaces = _spaces(pytester.path, sim, False)
        result = pytester.runpytest_subprocess(*octane_env.pytest_args(spaces))
        text = result.stdout.str() + result.stderr.str()
        warnings = result.parseoutcomes().get("warnings", 0)
    else:
        junit = pytester.path / "junit.xml"
        cases = "".join(f'<testcase classname="pkg.T" name="t{i}"/>' for i in range(TESTS))
        junit.write_text(f"<testsuite>{cases}</testsuite>")
        spaces = _spaces(pytester.path, sim, False)
        result = pytester.run(
            sys.executable, "-m", "pytest_octane", "upload", str(junit),
            "--octane-space=1001", spaces,
            f"--task-store={pytester.path / 'store'}", f"--spool-dir={pytester.path / 'spool'}",
        )  # fmt: skip
        text = result.stdout.str() + result.stderr.str()
        warnings = len(re.findall(r"^\S.*Warning: ", result.stderr.str(), re.M))
    sim.wait_for_tasks()
    assert result.ret == 0, text
    assert len(sim.runs()) == TESTS
    assert "InsecureConnectionWarning" in text
    assert warnings == 1, text
