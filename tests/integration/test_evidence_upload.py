"""Evidence on every run, end to end against the simulator: captured output, run links to the
CI build, a build context Octane knows, and attached files (issue 23)."""

from __future__ import annotations

import json
import zipfile
from io import BytesIO
from pathlib import Path

import pytest

import pytest_octane.job.engine
import pytest_octane.plugin.attach  # noqa: F401
from pytest_octane.cli import main as cli_main
from pytest_octane.simulator import Simulator
from pytest_octane.store import open_store
from pytest_octane.web.render import render_job
from tests.integration.test_plugin_upload import AUTOMATED
from tests.octane_env import OctaneEnv

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
GITHUB = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "org/repo",
    "GITHUB_WORKFLOW": "ci",
    "GITHUB_JOB": "test",
    "GITHUB_RUN_ID": "4242",
    "GITHUB_RUN_ATTEMPT": "1",
    "GITHUB_RUN_NUMBER": "17",
}
BUILD_URL = "https://github.com/org/repo/actions/runs/4242"
SERVER_ID = "https://github.com/org/repo"

NOISY = """
import logging, sys

def test_noisy_failure():
    print("stdout of the failure")
    print("stderr of the failure", file=sys.stderr)
    logging.getLogger("app").warning("a log record")
    assert 1 == 2

def test_noisy_pass():
    print("stdout of the pass")
"""

CONFTEST = """
import pytest

@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, "rep_" + report.when, report)
    return report
"""

ATTACHING = """
import pytest, pytest_octane

@pytest.fixture
def screenshot_on_failure(request, octane_attach):
    yield
    if request.node.rep_call.failed:
        octane_attach(PNG, name="failure.png", description="the page at failure")

PNG = {png!r}

@pytest.mark.parametrize("n", range(4))
def test_ui(n, tmp_path, screenshot_on_failure):
    trace = tmp_path / "trace.har"
    trace.write_text('{{"log": %d}}' % n)
    pytest_octane.attach(trace, description="network")
    trace.unlink()  # the spooled copy is what gets sent
    assert n % 2 == 0

def test_refused(octane_attach):
    octane_attach(b"not a png at all", name="broken.png")
"""


pytestmark = pytest.mark.octane_simulator(processing_ms=10)


@pytest.fixture(autouse=True)
def _no_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_ACTIONS", "GITLAB_CI", "TF_BUILD", "JENKINS_URL"):
        monkeypatch.delenv(name, raising=False)


def _by_name(sim: Simulator) -> dict[str, dict]:  # type: ignore[type-arg]
    return {run["name"]: run for run in sim.runs()}


# ---------------------------------------------------------------- captured output


def test_captured_output_follows_the_trace_of_failed_runs_under_xdist(
    pytester: pytest.Pytester, sim: Simulator, octane_env: OctaneEnv
) -> None:
    pytester.makepyfile(test_noisy=NOISY)
    result = pytester.runpytest(*octane_env.pytest_args(AUTOMATED, "-n", "2"))
    result.assert_outcomes(passed=1, failed=1)
    runs = _by_name(sim)
    trace = runs["test_noisy_failure"]["error"]["trace"]
    assert trace.index("assert 1 == 2") < trace.index(" Captured stdout call ")
    for text in ("stdout of the failure", "Captured stderr call", "stderr of the failure"):
        assert text in trace
    assert "Captured log call" in trace and "a log record" in trace
    assert runs["test_noisy_pass"]["description"] is None  # passed runs: only when asked


def test_capture_modes_choose_the_sections_and_passed_runs_can_have_theirs(
    pytester: pytest.Pytester, sim: Simulator, octane_env: OctaneEnv
) -> None:
    pytester.makepyfile(test_noisy=NOISY)
    args = octane_env.pytest_args(AUTOMATED, "--octane-capture=log", "--octane-capture-passed")
    pytester.runpytest(*args)
    runs = _by_name(sim)
    trace = runs["test_noisy_failure"]["error"]["trace"]
    assert "Captured log call" in trace and "Captured stdout" not in trace
    assert runs["test_noisy_pass"]["description"] is None  # it logged nothing
    pytester.runpytest(
        *octane_env.pytest_args(AUTOMATED, "--octane-capture=system-out", "--octane-capture-passed")
    )
    latest = {run["name"]: run for run in sim.runs()[2:]}
    assert "stdout of the pass" in latest["test_noisy_pass"]["description"]
    pytester.runpytest(*octane_env.pytest_args(AUTOMATED, "--octane-capture=no"))
    last = {run["name"]: run for run in sim.runs()[4:]}
    assert "Captured" not in last["test_noisy_failure"]["error"]["trace"]


def test_the_cut_keeps_the_trace_whole_and_trims_the_captured_output(
    pytester: pytest.Pytester, sim: Simulator, octane_env: OctaneEnv
) -> None:
    pytester.makepyfile(
        test_loud="def test_loud():\n    print('x' * 50000)\n    assert False, 'END-OF-TRACE'\n"
    )
    pytester.runpytest(*octane_env.pytest_args(AUTOMATED, "--octane-max-trace=3000"))
    trace = sim.runs()[0]["error"]["trace"]
    assert "END-OF-TRACE" in trace and "Captured stdout call" in trace
    assert "pytest-octane cut" in trace and "of captured output" in trace
    assert len(trace) <= 3000


# ---------------------------------------------------------------- links and build context


def test_github_actions_without_a_registered_server_uploads_every_slice_linked_to_the_build(
    pytester: pytest.Pytester,
    sim: Simulator,
    octane_env: OctaneEnv,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in GITHUB.items():
        monkeypatch.setenv(name, value)
    pytester.makepyfile(
        test_many="import pytest\n"
        "@pytest.mark.parametrize('n', range(25))\ndef test_n(n):\n    pass\n"
    )
    result = pytester.runpytest(*octane_env.pytest_args(AUTOMATED, "--octane-slice-size=10"))
    result.stdout.fnmatch_lines(["*CI server 'https://github.com/org/repo' is not registered*"])
    assert [t["status"] for t in sim.tasks()] == ["success"] * 3
    runs = sim.runs()
    assert len(runs) == 25
    assert {run["external_report_url"] for run in runs} == {BUILD_URL}
    assert all(run["build"] is None for run in runs)
    lookups = [r for r in sim.request_log if r.path.endswith("/ci_servers")]
    assert len(lookups) == 1 and "instance_id" in lookups[0].query


@pytest.mark.parametrize("how", ["registered", "register-option"])
def test_a_known_ci_server_keeps_the_build_context(
    pytester: pytest.Pytester,
    sim: Simulator,
    octane_env: OctaneEnv,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    for name, value in GITHUB.items():
        monkeypatch.setenv(name, value)
    extra = ["--octane-register-ci-server"] if how == "register-option" else []
    if how == "registered":
        sim.add_ci_server(SERVER_ID, server_type="github_actions")
    pytester.makepyfile(test_one="def test_one():\n    pass\n")
    pytester.runpytest(*octane_env.pytest_args(AUTOMATED, *extra))
    (run,) = sim.runs()
    assert run["build"] == {
        "server_id": SERVER_ID,
        "job_id": "ci/test",
        "build_id": "4242-1",
        "job_name": "ci / test",
        "build_name": "17",
    }
    assert run["external_report_url"] == BUILD_URL
    (server,) = sim.ci_servers()
    assert server["instance_id"] == SERVER_ID and server["server_type"] == "github_actions"


def test_a_task_failing_on_its_build_context_is_sent_once_more_without_it(
    pytester: pytest.Pytester, sim: Simulator, octane_env: OctaneEnv
) -> None:
    sim.add_ci_server("ci-1")
    sim.faults.fail_next_tasks(1, error_details="unknown build context: ci_server 'ci-1' job x")
    pytester.makepyfile(test_one="def test_one():\n    pass\n")
    result = pytester.runpytest(
        *octane_env.pytest_args(
            AUTOMATED,
            "--octane-build-server-id=ci-1",
            "--octane-build-job-id=j",
            "--octane-build-id=1",
        )
    )
    result.stdout.fnmatch_lines(["*refused the build context*sent again without it*"])
    assert [t["status"] for t in sim.tasks()] == ["failed", "success"]
    assert sim.runs()[0]["build"] is None


def test_a_report_url_template_links_each_run_and_a_bad_one_is_left_out(
    pytester: pytest.Pytester, sim: Simulator, octane_env: OctaneEnv
) -> None:
    pytester.makepyfile(test_one="def test_one():\n    pass\n")
    template = "https://reports.example/{name}?id={nodeid}"
    pytester.runpytest(*octane_env.pytest_args(AUTOMATED, f"--octane-report-url={template}"))
    assert sim.runs()[0]["external_report_url"] == (
        "https://reports.example/test_one?id=test_one.py::test_one"
    )
    long = "https://reports.example/" + "x" * 600 + "/{name}"
    result = pytester.runpytest(*octane_env.pytest_args(AUTOMATED, f"--octane-report-url={long}"))
    assert sim.runs()[1]["external_report_url"] is None
    assert sim.tasks()[-1]["status"] == "success"
    bad = pytester.runpytest(
        *octane_env.pytest_args(AUTOMATED, "--octane-report-url=ftp://x/{name}")
    )
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*--octane-report-url*http*"])
    assert result.ret == pytest.ExitCode.OK


# ---------------------------------------------------------------- attachments


def test_attached_files_reach_their_runs_under_xdist_and_a_refused_one_is_said_once(
    pytester: pytest.Pytester, sim: Simulator, octane_env: OctaneEnv, tmp_path: Path
) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_ui=ATTACHING.format(png=PNG))
    result = pytester.runpytest(
        *octane_env.pytest_args(AUTOMATED, "-n", "2", "--octane-slice-size=2")
    )
    result.assert_outcomes(passed=3, failed=2)
    assert {t["status"] for t in sim.tasks()} == {"success"}
    result.stdout.fnmatch_lines(["*attachment 'broken.png' was refused*content does not match*"])
    runs = {run["id"]: run for run in sim.runs()}
    files = sim.attachments()
    by_run: dict[str, list[str]] = {}
    for item in files:
        by_run.setdefault(runs[item["run_id"]]["name"], []).append(item["name"])
    assert by_run == {
        "test_ui[0]": ["trace.har.zip"],
        "test_ui[1]": ["trace.har.zip", "failure.png"],
        "test_ui[2]": ["trace.har.zip"],
        "test_ui[3]": ["trace.har.zip", "failure.png"],
    }
    har = next(f for f in files if runs[f["run_id"]]["name"] == "test_ui[3]")
    assert zipfile.ZipFile(BytesIO(har["content"])).read("trace.har") == b'{"log": 3}'
    assert next(f for f in files if f["name"] == "failure.png")["content"] == PNG
    (job_file,) = (tmp_path / "store").glob("*.json")
    history = json.loads(job_file.read_text())["history"]
    states = sorted(e["state"] for e in history if e.get("event") == "attachment")
    assert states == ["refused"] + ["sent"] * 6
    status = _cli(["status", job_file.stem, "--task-store", str(tmp_path / "store")])
    assert "attachments: 6 sent, 1 refused" in status
    assert "attachment 'broken.png' (slice " in status
    assert "refused: attachment 'broken.png': the content does not match" in status
    store = open_store(str(tmp_path / "store"))
    try:
        page = render_job(
            store.get_job(job_file.stem), [], location=str(tmp_path / "store"), csrf="c"
        )
    finally:
        store.close()
    assert 'id="attachments">attachments: 6 sent, 1 refused' in page


def _cli(args: list[str]) -> str:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cli_main(args)
    return out.getvalue()


def test_attachments_left_pending_survive_and_resume_sends_them(
    pytester: pytest.Pytester, sim: Simulator, octane_env: OctaneEnv, tmp_path: Path
) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_ui=ATTACHING.format(png=PNG))
    sim.faults.fail_next("POST */attachments", 503, count=1000)
    result = pytester.runpytest(*octane_env.pytest_args(AUTOMATED, "--octane-backoff=0.01"))
    result.stdout.fnmatch_lines(["*attachments left pending*resume*"])
    assert sim.attachments() == []
    assert {t["status"] for t in sim.tasks()} == {"success"}
    sim.faults.clear()
    (job_file,) = (tmp_path / "store").glob("*.json")
    store = str(tmp_path / "store")
    assert "attachments: 7 pending" in _cli(["status", job_file.stem, "--task-store", store])
    _cli(["resume", job_file.stem, "--task-store", store])
    assert len(sim.attachments()) == 6
    assert "attachments: 6 sent, 1 refused" in _cli(
        ["status", job_file.stem, "--task-store", store]
    )


def test_attachments_off_sends_nothing_and_copies_nothing(
    pytester: pytest.Pytester, sim: Simulator, octane_env: OctaneEnv, tmp_path: Path
) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_ui=ATTACHING.format(png=PNG))
    pytester.runpytest(*octane_env.pytest_args(AUTOMATED, "--octane-attachments=off"))
    assert sim.attachments() == []
    assert not list((tmp_path / "spool").glob("*/attachments"))
    assert not [r for r in sim.request_log if "attachments" in r.path]


def test_a_module_that_fails_to_import_sends_what_it_printed(
    pytester: pytest.Pytester, sim: Simulator, octane_env: OctaneEnv
) -> None:
    pytester.makepyfile(test_broken="print('importing the module')\nraise ImportError('nope')\n")
    pytester.runpytest(*octane_env.pytest_args(AUTOMATED))
    (run,) = sim.runs()
    assert "nope" in run["error"]["trace"]
    assert "Captured stdout" in run["error"]["trace"]
    assert "importing the module" in run["error"]["trace"]


def test_an_unfit_link_is_said_once_in_the_summary(
    pytester: pytest.Pytester, sim: Simulator, octane_env: OctaneEnv
) -> None:
    pytester.makepyfile(test_two="def test_a():\n    pass\n\ndef test_b():\n    pass\n")
    template = "https://reports.example/" + "x" * 600 + "/{name}"
    result = pytester.runpytest(
        *octane_env.pytest_args(AUTOMATED, f"--octane-report-url={template}")
    )
    assert result.stdout.str().count("not an http(s) URL of 6 to 512 characters") == 1
    assert all(run["external_report_url"] is None for run in sim.runs())


@pytest.mark.parametrize("stream", ["on", "off"])
def test_attachment_requests_are_retried_like_every_other(
    pytester: pytest.Pytester, sim: Simulator, octane_env: OctaneEnv, stream: str
) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_ui=ATTACHING.format(png=PNG))
    sim.faults.fail_next("POST */attachments", 503, count=2)
    pytester.runpytest(
        *octane_env.pytest_args(AUTOMATED, "--octane-backoff=0.01", f"--octane-stream={stream}")
    )
    assert len(sim.attachments()) == 6
    posts = [r for r in sim.request_log if r.method == "POST" and r.path.endswith("/attachments")]
    assert len(posts) == 7 + 2  # every file once, plus the two refused by the fault


def test_files_over_the_size_caps_are_not_kept_and_that_is_said_once(
    pytester: pytest.Pytester, sim: Simulator, octane_env: OctaneEnv
) -> None:
    pytester.makepyfile(
        test_big="""
import pytest_octane

def test_big():
    pytest_octane.attach(b"x" * (2 * 2**20), name="big.log")
    pytest_octane.attach(b"y" * (2 * 2**20), name="big2.log")
    pytest_octane.attach(b"small", name="small.log")
"""
    )
    result = pytester.runpytest(*octane_env.pytest_args(AUTOMATED, "--octane-attachment-max-mb=1"))
    assert result.stdout.str().count("is over --octane-attachment-max-mb=1 and was not kept") == 1
    assert [a["name"] for a in sim.attachments()] == ["small.log"]
    result = pytester.runpytest(*octane_env.pytest_args(AUTOMATED, "--octane-attachments-max-mb=3"))
    assert [a["name"] for a in sim.attachments()[1:]] == ["big.log", "small.log"]
    assert result.stdout.str().count("'big2.log' of test_big.py::test_big and later ones") == 1


def test_attachment_states_live_in_an_sql_task_store_too(
    pytester: pytest.Pytester, sim: Simulator, octane_env: OctaneEnv, tmp_path: Path
) -> None:
    pytest.importorskip("sqlalchemy")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_ui=ATTACHING.format(png=PNG))
    store = f"sqlite:///{tmp_path / 'jobs.db'}"
    sim.faults.fail_next("POST */attachments", 503, count=1000)
    args = [
        a
        for a in octane_env.pytest_args(AUTOMATED, "--octane-backoff=0.01")
        if "task-store" not in a
    ]
    pytester.runpytest(*args, f"--octane-task-store={store}")
    sim.faults.clear()
    from pytest_octane.store import open_store

    opened = open_store(store)
    try:
        (job,) = opened.list_jobs()
    finally:
        opened.close()
    _cli(["resume", job.job_id, "--task-store", store])
    assert len(sim.attachments()) == 6
    assert "attachments: 6 sent, 1 refused" in _cli(["status", job.job_id, "--task-store", store])


@pytest.mark.parametrize("where", ["root conftest, xdist", "conftest of a test folder"])
def test_a_plugin_attaches_through_the_hook(
    pytester: pytest.Pytester, sim: Simulator, octane_env: OctaneEnv, where: str
) -> None:
    """The hook is looked for once the tests are collected: a conftest that collection loads
    (a test folder's) counts as much as one loaded at the start."""
    hook = """
def pytest_octane_attachments(item, report):
    if report.when == "call" and report.failed:
        return [(b"console says hi", "console.log", "browser console")]
"""
    two = "def test_ok():\n    pass\n\ndef test_bad():\n    assert 0\n"
    if where.startswith("root"):
        pytester.makeconftest(hook)
        pytester.makepyfile(test_two=two)
        pytester.runpytest(*octane_env.pytest_args(AUTOMATED, "-n", "2"))
    else:
        folder = pytester.mkpydir("ui")
        (folder / "conftest.py").write_text(hook)
        (folder / "test_two.py").write_text(two)
        pytester.runpytest(*octane_env.pytest_args(AUTOMATED, "-p", "no:xdist"))
    runs = {run["id"]: run["name"] for run in sim.runs()}
    (item,) = sim.attachments()
    assert (runs[item["run_id"]], item["name"], item["content"]) == (
        "test_bad",
        "console.log",
        b"console says hi",
    )
    assert item["description"] == "browser console"


def test_attaching_wrongly_fails_the_test_clearly_and_without_octane_it_does_nothing(
    pytester: pytest.Pytester, sim: Simulator, octane_env: OctaneEnv
) -> None:
    pytester.makepyfile(
        test_misuse="""
import pytest_octane

def test_bytes_without_a_name():
    pytest_octane.attach(b"x")

def test_missing_file(octane_attach):
    octane_attach("nowhere/shot.png")
"""
    )
    result = pytester.runpytest(*octane_env.pytest_args(AUTOMATED))
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*needs a name with an extension, e.g. attach(png_bytes, name='screenshot.png')*",
            "*pytest_octane.attach('nowhere/shot.png'): no such file*",
        ]
    )
    without_octane = pytester.runpytest("-p", "no:cacheprovider")
    without_octane.assert_outcomes(failed=2)  # the same errors when nothing is uploaded
    pytester.makepyfile(test_misuse="import pytest_octane\n\ndef test_off():\n"
                        "    pytest_octane.attach(b'x', name='x.txt')\n")  # fmt: skip
    assert pytester.runpytest("-p", "no:cacheprovider").ret == pytest.ExitCode.OK


def test_attaching_outside_a_running_test_says_where_to_call_it(
    pytester: pytest.Pytester, sim: Simulator, octane_env: OctaneEnv
) -> None:
    """Before the first test and after the last there is no run to attach to: a clear error,
    not a file on the wrong run."""
    pytester.makeconftest(
        """
import pytest_octane

def _attach(when):
    try:
        pytest_octane.attach(b"x", name="x.txt")
    except RuntimeError as exc:
        print(f"ATTACH-ERROR {when}: {exc}")

def pytest_collection_finish(session):
    _attach("before")

def pytest_sessionfinish(session):
    _attach("after")
"""
    )
    pytester.makepyfile(test_first="def test_first():\n    pass\n")
    result = pytester.runpytest(*octane_env.pytest_args(AUTOMATED, "-p", "no:xdist", "-s"))
    result.stdout.fnmatch_lines(
        [
            "*ATTACH-ERROR before: pytest_octane.attach() was called outside a running test*",
            "*ATTACH-ERROR after: pytest_octane.attach() was called outside a running test*",
        ]
    )
    assert len(sim.runs()) == 1 and sim.attachments() == []
