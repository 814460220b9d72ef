"""Bad inputs, one test each: hostile strings in test results, malformed JIRA keys, hostile
results files and broken configuration (tests/data/bad/).

Hostile strings must end in XSD-valid Octane XML (nothing lost, nothing invalid written or
sent).  Everything else must end in one actionable line -- which input, what is wrong, what
to do -- with exit code 4 from pytest (usage error) or 2 from the CLI, no traceback, and no
XML written or sent.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

# Imported before any in-process pytester run: pytester drops modules first imported inside
# an inline run, and a second copy of requests/http.cookiejar breaks the client.
import pytest_octane.job.engine  # noqa: F401
from pytest_octane import cli
from pytest_octane.simulator import Simulator
from tests.octane_env import OctaneEnv

DATA = Path(__file__).resolve().parent.parent / "data" / "bad"
CORPUS = DATA / "strings.json"
RAW_BYTES = DATA / "invalid_utf8.bin"
STRING_CASES = sorted(json.loads(CORPUS.read_text(encoding="utf-8")))
RAW_IDS_INI = (
    "[pytest]\ndisable_test_id_escaping_and_forfeit_all_rights_to_community_support = true\n"
)


@pytest.fixture(autouse=True)
def _no_outer_octane_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("OCTANE_") and name != "OCTANE_XSD":
            monkeypatch.delenv(name)


@pytest.fixture
def simulator_defaults() -> dict[str, Any]:
    return {"processing_ms": 0}


# ---------------------------------------------------------------- hostile strings

_HOSTILE = """\
import json
import sys
from pathlib import Path

import pytest

S = {loader}
RAW = Path({raw!r}).read_bytes()


@pytest.fixture
def breaks_teardown():
    yield
    raise RuntimeError(S)


@pytest.mark.parametrize("value", [S], ids=[S])
def test_id(value):
    assert value == S


@pytest.mark.parametrize("value", [S])
def test_message_and_output(value):
    sys.stdout.buffer.write(value.encode("utf-8", "surrogatepass") + RAW)
    sys.stderr.buffer.write(RAW)
    assert False, value


def test_skip_reason():
    pytest.skip(S)


@pytest.mark.xfail(reason=S)
def test_xfail_reason():
    raise ValueError(S)


def test_teardown_error(breaks_teardown):
    pass


def test_exception_type_name():
    raise type(S.encode("ascii", "replace").decode() or "E", (Exception,), {{}})(S)
"""
_HOSTILE_ITEMS = 6

_LONG_NAMES = """\
import pytest

A = "p" * 299 + "a"
B = "p" * 299 + "b"


@pytest.mark.parametrize("v", [1, 2], ids=[A, B])
def test_long_ids(v):
    pass


def test_{fn}():
    pass


class Test{cls}:
    def test_method(self):
        assert False, "x" * 300
"""

_HUGE = """\
def test_ten_megabyte_traceback():
    raise AssertionError("ten megabytes " + "x" * (10 * 1024 * 1024))
"""


def _string_loader(case: str) -> str:
    return f"json.loads(Path({str(CORPUS)!r}).read_text(encoding='utf-8'))[{case!r}]"


def _write_hostile(pytester: pytest.Pytester, case: str) -> int:
    """Write the suite for one case; return how many runs it must produce."""
    pytester.makefile(".ini", pytest=RAW_IDS_INI)
    loader = (
        f"Path({str(RAW_BYTES)!r}).read_bytes().decode('utf-8', 'surrogateescape')"
        if case == "invalid_utf8_bytes"
        else _string_loader(case if case != "name_300_everywhere" else "name_300")
    )
    if case == "traceback_10mb":
        pytester.makepyfile(test_huge=_HUGE)
        return 1
    pytester.makepyfile(test_hostile=_HOSTILE.format(loader=loader, raw=str(RAW_BYTES)))
    items = _HOSTILE_ITEMS
    if case == "invalid_utf8_bytes":
        # a test module whose source is not UTF-8: a collection error, one failed run
        (pytester.path / "test_source_bytes.py").write_bytes(
            b"# caf\xe9 \xff\xfe\ndef test_never():\n    pass\n"
        )
        items += 1
    if case == "name_300_everywhere":
        pytester.makepyfile(test_long_names=_LONG_NAMES.format(fn="f" * 295, cls="C" * 296))
        items += 4
    return items


HOSTILE_CASES = [*STRING_CASES, "invalid_utf8_bytes", "traceback_10mb", "name_300_everywhere"]


@pytest.mark.parametrize("case", HOSTILE_CASES)
def test_hostile_strings_give_valid_xml(pytester: pytest.Pytester, bad_inputs, case: str) -> None:
    items = _write_hostile(pytester, case)
    out = pytester.path / "octane-out"
    result = pytester.runpytest("-p", "no:cacheprovider", f"--octane-dry-run={out}")
    text = result.stdout.str() + result.stderr.str()
    documents = [p.read_bytes() for p in sorted(out.glob("slice-*.xml"))]
    problems = [p for d in documents for p in bad_inputs.xsd_problems(d)]
    from pytest_octane.octane import schema

    runs = [r for d in documents if not problems for r in schema.parse(d).iter("test_run")]
    names = [str(r.get("name")) for r in runs]
    longest = max((len(n) for n in names), default=0)
    size = max((len(d) for d in documents), default=0)
    ok = (
        result.ret == pytest.ExitCode.TESTS_FAILED
        and "INTERNALERROR" not in text
        and not problems
        and len(runs) == items
        and len(set(zip(names, (r.get("class") for r in runs), strict=True))) == items
        and 1 <= longest <= 255
        and size < 200_000
    )
    bad_inputs.record(
        case.replace("_", " "),
        "pytest --octane-dry-run",
        int(result.ret),
        f"{len(runs)}/{items} runs, XSD-valid: {not problems}, longest name {longest}, "
        f"largest slice {size // 1024} KiB",
        ok,
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED, text[-3000:]
    assert "INTERNALERROR" not in text
    assert not problems, problems[:10]
    assert len(runs) == items, names
    assert 1 <= longest <= 255
    assert size < 200_000  # a 10 MB traceback is cut to --octane-max-trace


def test_hostile_strings_upload_and_arrive(
    pytester: pytest.Pytester, octane_env: OctaneEnv
) -> None:
    """Every hostile case in one job against the simulator, which validates every upload."""
    pytester.makefile(".ini", pytest=RAW_IDS_INI)
    expected = 0
    for case in STRING_CASES:
        pytester.makepyfile(
            **{
                f"test_case_{case}": _HOSTILE.format(
                    loader=_string_loader(case), raw=str(RAW_BYTES)
                )
            }
        )
        expected += _HOSTILE_ITEMS
    sim = octane_env.sim
    result = pytester.runpytest(
        *octane_env.pytest_args("--octane-slice-size=20", "--octane-root-module=Hostile")
    )
    sim.wait_for_tasks()
    tasks = sim.tasks()
    runs = sim.runs()
    invalid = [r for r in sim.request_log if r.status == 400]
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert not invalid, invalid
    assert all(t["status"] == "success" for t in tasks), tasks
    assert len(runs) == expected
    assert len({(r["class"], r["name"]) for r in runs}) == expected
    names = {r["name"] for r in runs}
    assert "test_id[שלום עולם مرحبا بالعالم]" in names  # readable text stays readable


# ---------------------------------------------------------------- malformed JIRA keys

BAD_KEYS = [
    "abc-1", "ABC_1", "ABC-", "-123", "ABC-1 ", " ABC-1", "", "ABC-1,ABC-2", "ÄBC-1",
    "ABC-\uff11", "ABC-1\x00", 123, None, b"ABC-1",
]  # fmt: skip


@pytest.mark.parametrize("mode", ["dry-run", "upload"])
@pytest.mark.parametrize("key", BAD_KEYS, ids=[repr(k) for k in BAD_KEYS])
def test_malformed_jira_key_is_a_usage_error(
    pytester: pytest.Pytester, bad_inputs, octane_env: OctaneEnv, key: object, mode: str
) -> None:
    pytester.makepyfile(
        test_keys=f"""
        import pytest

        def test_fine():
            pass

        @pytest.mark.jira("ABC-1", {key!r})
        def test_marked():
            pass
        """
    )
    out = pytester.path / "octane-out"
    sim = octane_env.sim
    if mode == "dry-run":
        args = ["-p", "no:cacheprovider", f"--octane-dry-run={out}"]
    else:
        args = octane_env.under(out).pytest_args()
    result = pytester.runpytest(*args)
    requests = sim.request_log
    lines = [line for line in result.stderr.lines if line.strip()]
    text = "\n".join(lines)
    written = sorted(str(p) for p in out.rglob("*.xml")) if out.exists() else []
    ok = (
        result.ret == pytest.ExitCode.USAGE_ERROR
        and len(lines) == 1
        and "test_keys.py::test_marked" in text
        and repr(key) in text
        and "Traceback" not in text
        and not written
        and not requests
    )
    bad_inputs.record(f"JIRA key {key!r}", f"pytest ({mode})", int(result.ret), text, ok)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    assert len(lines) == 1, lines
    assert "test_keys.py::test_marked" in text and repr(key) in text, text
    assert "ABC-123" in text  # says what a key looks like
    assert not written and not requests


# ---------------------------------------------------------------- hostile results files

JUNIT_CASES = {
    "junit_xxe.xml": "DOCTYPE",
    "junit_billion_laughs.xml": "DOCTYPE",
    "junit_external_dtd.xml": "DOCTYPE",
    "junit_truncated.xml": "not well-formed",
    "junit_wrong_root.xml": "<html>",
    "junit_invalid_utf8.xml": "junit_invalid_utf8.xml",
    "junit_not_xml.xml": "not well-formed",
    "junit_empty.xml": "junit_empty.xml",
    "junit_testcase_without_name.xml": "no name",
    "junit_bad_time.xml": "a while",
}
CANARY = "CANARY-7f3e9b1c-must-never-be-read"


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _file_command(command: str, path: Path, octane_env: OctaneEnv, out: Path) -> list[str]:
    """``pytest-octane convert|upload`` of one results file, writing only under ``out``."""
    if command == "convert":
        return ["convert", str(path), "-o", str(out)]
    return ["upload", str(path), *octane_env.under(out).cli_args()]


@pytest.mark.parametrize("command", ["convert", "upload"])
@pytest.mark.parametrize("name", sorted(JUNIT_CASES))
def test_hostile_results_file_is_refused_in_one_line(
    bad_inputs, capsys, octane_env: OctaneEnv, tmp_path: Path, name: str, command: str
) -> None:
    path = bad_inputs.copy(name)
    (tmp_path / "canary.txt").write_text(CANARY)  # what the XXE would read
    out = tmp_path / "out"
    sim = octane_env.sim
    args = _file_command(command, path, octane_env, out)
    code, stdout, stderr = _cli(args, capsys)
    requests = sim.request_log
    lines = [line for line in stderr.splitlines() if line.strip()]
    written = sorted(p.name for p in out.rglob("*") if p.is_file()) if out.exists() else []
    ok = (
        code == cli.EXIT_USAGE
        and len(lines) == 1
        and lines[0].startswith("pytest-octane: error: ")
        and str(path) in lines[0]
        and JUNIT_CASES[name] in lines[0]
        and "Traceback" not in stdout + stderr
        and CANARY not in stdout + stderr
        and not written
        and not requests
    )
    bad_inputs.record(name, f"pytest-octane {command}", code, lines[0] if lines else stdout, ok)
    assert code == cli.EXIT_USAGE, stdout + stderr
    assert len(lines) == 1 and lines[0].startswith("pytest-octane: error: "), stderr
    assert str(path) in lines[0] and JUNIT_CASES[name] in lines[0], lines[0]
    assert CANARY not in stdout + stderr
    assert not written, written
    assert not requests


@pytest.mark.parametrize("command", ["convert", "upload"])
def test_results_file_with_zero_tests_says_so(
    bad_inputs, capsys, octane_env: OctaneEnv, tmp_path: Path, command: str
) -> None:
    path = bad_inputs.copy("junit_zero_tests.xml")
    out = tmp_path / "out"
    sim = octane_env.sim
    args = _file_command(command, path, octane_env, out)
    code, stdout, stderr = _cli(args, capsys)
    requests = sim.request_log
    lines = [line for line in (stdout + stderr).splitlines() if line.strip()]
    xml = sorted(out.rglob("*.xml")) if out.exists() else []
    ok = (
        code in (cli.EXIT_OK, cli.EXIT_FAILED)
        and len(lines) == 1
        and re.search(r"\b(0|no) test runs\b", lines[0]) is not None
        and not xml
        and not requests
    )
    bad_inputs.record("junit_zero_tests.xml", f"pytest-octane {command}", code, lines[0], ok)
    assert len(lines) == 1 and re.search(r"\b(0|no) test runs\b", lines[0]), lines
    assert code in (cli.EXIT_OK, cli.EXIT_FAILED)
    assert not xml and not requests


# ---------------------------------------------------------------- configuration

FRONT_ENDS = [
    "pytest",
    "pytest-octane upload",
]


def _config_cases() -> list[tuple[str, list[str], str]]:
    """(case, arguments, text the one-line error must contain); {data}/{tmp} filled later."""
    spaces = "--octane-config={data}/"
    return [
        ("spaces file: invalid JSON", [spaces + "spaces_invalid_json.json"], "not valid JSON"),
        ("spaces file: wrong type (workspaceId)", [spaces + "spaces_wrong_types.json"],
         "workspaceId"),
        ("spaces file: wrong type (maxParallelUploads)", [spaces + "spaces_wrong_type_bool.json"],
         "maxParallelUploads"),
        ("spaces file: unknown keys", [spaces + "spaces_unknown_keys.json"], "workspaceID"),
        ("spaces file: not an object", [spaces + "spaces_not_an_object.json"], "JSON object"),
        ("spaces file: space id not a number", [spaces + "spaces_space_not_a_number.json"],
         "S-1001"),
        ("spaces file: missing", ["--octane-config={tmp}/no-such-spaces.json"], "does not exist"),
        ("spaces file: unknown space", [spaces + "spaces_ok.json", "--octane-space=4242"], "4242"),
        ("spaces file: URL without scheme", [spaces + "spaces_url_no_scheme.json"],
         "octane.example.com"),
        ("spaces file: URL path typo (shared_space)", [spaces + "spaces_url_path_typo.json"],
         "/shared_space/"),
        ("option: URL without scheme", ["--octane-url=octane.example.com",
                                        "--octane-workspace=1002"], "octane.example.com"),
        ("option: URL path typo (workspace)", [
            "--octane-url=https://octane.example.com/api/shared_spaces/1001/workspace/1002"],
         "/workspace/1002"),
    ]  # fmt: skip


CONFIG_CASES = _config_cases()


def _fill(args: list[str], tmp: Path) -> list[str]:
    return [a.format(data=DATA, tmp=tmp) for a in args]


def _nothing_written(root: Path) -> list[str]:
    found = [p for p in root.rglob("*") if p.suffix in (".xml", ".json") and "store" in str(p)]
    found += [p for p in root.rglob("*.xml") if "spool" in str(p) or "octane-out" in str(p)]
    return sorted({str(p) for p in found})


def _pytest_front_end(pytester: pytest.Pytester, args: list[str]) -> tuple[int, str, str]:
    pytester.makepyfile(test_ok="def test_ok():\n    pass\n")
    if not any(a.startswith("--octane-space") for a in args):
        args = ["--octane-space=1001", *args]
    result = pytester.runpytest(
        "-p", "no:cacheprovider", *args,
        f"--octane-task-store={pytester.path / 'store'}",
        f"--octane-spool-dir={pytester.path / 'spool'}",
    )  # fmt: skip
    return int(result.ret), result.stdout.str(), result.stderr.str()


def _cli_front_end(
    args: list[str], tmp: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    if not any(a.startswith("--octane-space") for a in args):
        args = ["--octane-space=1001", *args]
    return _cli(
        [
            "upload", str(DATA / "junit_ok.xml"), *args,
            f"--task-store={tmp / 'store'}", f"--spool-dir={tmp / 'spool'}",
        ],
        capsys,
    )  # fmt: skip


def _judge(
    bad_inputs,
    case: str,
    front: str,
    code: int,
    out: str,
    err: str,
    want: str | tuple[str, ...],
    expected_code: int,
    root: Path,
    requests: int = 0,
) -> None:
    """Exit code, exactly one line on stderr holding every ``want``, no traceback, nothing
    written, nothing sent; the row is recorded before the assertions."""
    wants = (want,) if isinstance(want, str) else want
    lines = [line for line in err.splitlines() if line.strip()]
    written = _nothing_written(root)
    said = [line.strip() for line in out.splitlines() if "error" in line.lower()]
    first = lines[0] if lines else (said or out.strip().splitlines() or [""])[0]
    ok = (
        code == expected_code
        and len(lines) == 1
        and all(w in lines[0] for w in wants)
        and "Traceback" not in out + err
        and not written
        and not requests
    )
    bad_inputs.record(case, front, code, first, ok)
    assert code == expected_code, out[-2000:] + err[-2000:]
    assert len(lines) == 1, lines
    assert all(w in lines[0] for w in wants), (wants, lines[0])
    assert "Traceback" not in out + err
    assert not written, written
    assert not requests, f"{requests} requests reached Octane"


@pytest.mark.parametrize(("case", "args", "want"), CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_bad_configuration_pytest(pytester, bad_inputs, case, args, want) -> None:
    code, out, err = _pytest_front_end(pytester, _fill(args, pytester.path))
    _judge(
        bad_inputs, case, "pytest", code, out, err, want, pytest.ExitCode.USAGE_ERROR, pytester.path
    )


@pytest.mark.parametrize(("case", "args", "want"), CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_bad_configuration_cli(bad_inputs, capsys, tmp_path, case, args, want) -> None:
    code, out, err = _cli_front_end(_fill(args, tmp_path), tmp_path, capsys)
    _judge(bad_inputs, case, "pytest-octane upload", code, out, err, want, cli.EXIT_USAGE, tmp_path)


CREDENTIAL_CASES = {
    "credentials file missing": "missing",
    "credentials file not JSON": "invalid JSON",
    "credentials file without a key pair": "client_id",
    "credentials path is a folder without credentials.json": "missing",
}


def _credentials_path(tmp: Path, case: str) -> Path:
    if case == "credentials file missing":
        return tmp / "no-such-credentials.json"
    if case == "credentials file not JSON":
        return DATA / "credentials_invalid_json.json"
    if case == "credentials file without a key pair":
        return DATA / "credentials_wrong_keys.json"
    folder = tmp / "S-1001"
    folder.mkdir()
    return folder


@pytest.mark.parametrize("front", FRONT_ENDS)
@pytest.mark.parametrize("case", sorted(CREDENTIAL_CASES))
def test_bad_credentials_fail_before_anything_is_written(
    pytester, bad_inputs, capsys, case: str, front: str
) -> None:
    tmp = pytester.path
    path = _credentials_path(tmp, case)
    with Simulator(processing_ms=0) as sim:
        args = [
            "--octane-space=1001", f"--octane-url={sim.url}", "--octane-workspace=1002",
            f"--octane-credentials-path={path}",
        ]  # fmt: skip
        if front == "pytest":
            # only --octane-strict stops before the tests (test_plugin_credentials.py has
            # the default: the tests run and the results wait for the credentials)
            code, out, err = _pytest_front_end(pytester, [*args, "--octane-strict"])
            expected = pytest.ExitCode.USAGE_ERROR
        else:
            code, out, err = _cli_front_end(args, tmp, capsys)
            expected = cli.EXIT_USAGE
        requests = len(sim.request_log)
    want = (str(path), CREDENTIAL_CASES[case])
    _judge(bad_inputs, case, front, code, out, err, want, expected, tmp, requests)


@pytest.mark.parametrize("front", FRONT_ENDS)
def test_unreadable_credentials_file(bad_inputs, tmp_path: Path, front: str) -> None:
    """Permission denied (as root: a process without the DAC-override capabilities)."""
    secret_dir = tmp_path / "secrets"
    secret_dir.mkdir()
    path = secret_dir / "S-1001"
    path.write_text('{"client_id": "ci-bot", "client_secret": "not-a-real-secret"}')
    path.chmod(0o000)
    secret_dir.chmod(0o555)
    try:
        prefix = bad_inputs.unprivileged_prefix(secret_dir)
        (tmp_path / "test_ok.py").write_text("def test_ok():\n    pass\n")
        with Simulator(processing_ms=0) as sim:
            args = [
                "--octane-space=1001", f"--octane-url={sim.url}", "--octane-workspace=1002",
                f"--octane-credentials-path={path}",
                f"--octane-task-store={tmp_path / 'store'}",
                f"--octane-spool-dir={tmp_path / 'spool'}",
            ]  # fmt: skip
            if front == "pytest":
                import sys

                argv = [
                    sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--octane-strict",
                    *args,
                ]  # fmt: skip
                expected = int(pytest.ExitCode.USAGE_ERROR)
            else:
                argv = bad_inputs.cli_argv(["upload", str(DATA / "junit_ok.xml"), *args])
                expected = cli.EXIT_USAGE
            done = bad_inputs.run([*prefix, *argv], cwd=tmp_path, env=bad_inputs.env())
            requests = len(sim.request_log)
    finally:
        path.chmod(0o600)
        secret_dir.chmod(0o755)
    _judge(
        bad_inputs,
        "credentials file unreadable (permission)",
        front,
        done.returncode,
        done.stdout,
        done.stderr,
        (str(path), "permission denied"),
        expected,
        tmp_path,
        requests,
    )
