"""open_store dispatch, missing optional dependencies, secrets, and JSON-folder failure modes."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_octane.errors import StoreError
from pytest_octane.model import JobRecord, SliceStatus
from pytest_octane.store import DEFAULT_LOCATION, describe_location, open_store
from pytest_octane.store.jsonfile import JsonFileStore

NewJob = Callable[..., JobRecord]


# ---- dispatch ----


def test_a_folder_path_opens_a_json_store(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "logs"))
    assert isinstance(store, JsonFileStore)
    assert store.location == str(tmp_path / "logs")
    assert not (tmp_path / "logs").exists(), "the folder is created on first write only"
    assert store.list_jobs() == []


def test_the_default_location_is_a_relative_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, new_job: NewJob
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store(DEFAULT_LOCATION)
    store.create_job(new_job())
    assert (tmp_path / "octane_task_logs" / "job-1.json").is_file()


def test_a_file_url_opens_a_json_store(tmp_path: Path, new_job: NewJob) -> None:
    store = open_store((tmp_path / "logs").as_uri())
    assert isinstance(store, JsonFileStore)
    store.create_job(new_job())
    assert (tmp_path / "logs" / "job-1.json").is_file()


def test_a_sqlite_url_opens_a_sql_store_and_creates_its_folder(
    tmp_path: Path, new_job: NewJob
) -> None:
    sql = pytest.importorskip("pytest_octane.store.sql")
    db = tmp_path / "nested" / "tasks.db"
    store = open_store(f"sqlite:///{db}")
    try:
        assert isinstance(store, sql.SqlStore)
        store.create_job(new_job())
        assert db.is_file()
    finally:
        store.close()
    import sqlite3

    with contextlib.closing(sqlite3.connect(db)) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT id, version FROM octane_schema_version").fetchall() == [(1, 1)]
        row = conn.execute(
            "SELECT job_id, slice_index, status, attempts FROM octane_upload_tasks "
            "ORDER BY slice_index"
        ).fetchall()
    assert tables >= {
        "octane_upload_jobs",
        "octane_upload_tasks",
        "octane_request_log",
        "octane_schema_version",
    }
    assert row == [("job-1", 0, "Running", 0), ("job-1", 1, "Running", 0)]


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("", "location is empty"),
        ("   ", "location is empty"),
        ("mysql://bob:hunter2@db/x", r"'mysql://bob:\*\*\*@db/x' has an unknown scheme 'mysql'"),
        ("postgresql+psycopg2://u@h/db", "unknown scheme 'postgresql\\+psycopg2'"),
        ("sqlite://", "names no database file"),
        ("sqlite:///:memory:", "names no database file"),
        ("file://", "names no folder"),
    ],
)
def test_unusable_locations_fail_with_one_line(location: str, message: str) -> None:
    with pytest.raises(StoreError, match=message) as info:
        open_store(location)
    assert "\n" not in str(info.value)
    assert "hunter2" not in str(info.value)


def _hide_module(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Make ``import name`` fail as if the package were not installed."""
    for loaded in list(sys.modules):
        if loaded == name or loaded.startswith(f"{name}."):
            monkeypatch.delitem(sys.modules, loaded)
    monkeypatch.delitem(sys.modules, "pytest_octane.store.sql", raising=False)
    monkeypatch.setitem(sys.modules, name, None)


def test_a_missing_sqlalchemy_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide_module(monkeypatch, "sqlalchemy")
    with pytest.raises(StoreError) as info:
        open_store("sqlite:///x.db")
    assert str(info.value) == (
        "the task store 'sqlite:///x.db' needs SQLAlchemy: pip install 'pytest-octane[db]'"
    )
    with pytest.raises(StoreError, match=r"needs SQLAlchemy: pip install 'pytest-octane\[postgres"):
        open_store("postgresql://u:hunter2@127.0.0.1/db")


def test_a_missing_psycopg_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide_module(monkeypatch, "psycopg")
    with pytest.raises(StoreError) as info:
        open_store("postgresql://bob:hunter2@127.0.0.1:1/db")
    assert str(info.value) == (
        "the task store 'postgresql://bob:***@127.0.0.1:1/db' needs psycopg: "
        "pip install 'pytest-octane[postgres]'"
    )


# ---- secrets ----


@pytest.mark.parametrize(
    ("location", "shown"),
    [
        ("octane_task_logs", "octane_task_logs"),
        ("sqlite:////var/lib/tasks.db", "sqlite:////var/lib/tasks.db"),
        ("postgresql+psycopg://ci@db:5432/tasks", "postgresql+psycopg://ci@db:5432/tasks"),
        (
            "postgresql+psycopg://ci:s3cr%40t@db:5432/tasks",
            "postgresql+psycopg://ci:***@db:5432/tasks",
        ),
        ("postgresql://ci:p@ss@db/tasks", "postgresql://ci:***@db/tasks"),
        ("postgresql://:onlypw@db/tasks", "postgresql://:***@db/tasks"),
        (
            "postgresql://ci@db/tasks?sslmode=require&password=s3cret&application_name=x",
            "postgresql://ci@db/tasks?sslmode=require&password=***&application_name=x",
        ),
        ("postgresql://ci:s3cret@[::1/tasks", "postgresql://***@[::1/tasks"),
    ],
)
def test_describe_location_hides_passwords(location: str, shown: str) -> None:
    assert describe_location(location) == shown


def test_a_refused_connection_names_the_url_without_its_password() -> None:
    pytest.importorskip("psycopg")
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://bob:hunter2@127.0.0.1:{port}/tasks?connect_timeout=5"
    with pytest.raises(StoreError) as info:
        open_store(url)
    message = str(info.value)
    assert "hunter2" not in message
    assert f"'postgresql://bob:***@127.0.0.1:{port}/tasks?connect_timeout=5'" in message
    assert "check the URL and that the database is reachable" in message
    assert "\n" not in message


def test_a_postgres_store_never_shows_its_password(pg_url: str, new_job: NewJob) -> None:
    # Trust auth ignores the password, so the real server accepts it.
    with_password = pg_url.replace(
        "postgresql+psycopg://postgres@", "postgresql://postgres:hunter2@"
    )
    assert "hunter2" in with_password, "the test URL has the expected shape"
    store = open_store(with_password)
    try:
        store.create_job(new_job())
        assert "hunter2" not in store.location
        assert "hunter2" not in repr(store)
        assert store.location.startswith("postgresql://postgres:***@127.0.0.1:")
        with pytest.raises(StoreError) as info:
            store.update_slice("job-1", 9, attempts=1)
        assert "hunter2" not in str(info.value)
        assert store.get_job("job-1").status is SliceStatus.RUNNING
    finally:
        store.close()


# ---- JSON folder failure modes ----


def test_a_corrupt_job_file_is_named(tmp_path: Path, new_job: NewJob) -> None:
    store = open_store(str(tmp_path))
    store.create_job(new_job())
    (tmp_path / "job-1.json").write_text('{"job_id": "job-1", "slices": [', encoding="utf-8")
    for call in (lambda: store.get_job("job-1"), store.list_jobs):
        with pytest.raises(StoreError, match=r"job-1\.json' is not valid JSON.*repair or delete"):
            call()
    with pytest.raises(StoreError, match=r"job-1\.json' is not valid JSON"):
        store.update_slice("job-1", 0, attempts=1)


@pytest.mark.parametrize(
    "content",
    [
        "[]",
        '{"job_id": "job-1"}',
        '{"job_id": "job-1", "slices": [{"index": 0}]}',
        '{"job_id": "job-1", "space_id": 1, "workspace_id": 2, "server": "s", "created_at": 1,'
        ' "slices": [{"index": 0, "path": "p", "run_count": 1, "status": "Weird"}]}',
    ],
)
def test_a_job_file_of_the_wrong_shape_is_named(tmp_path: Path, content: str) -> None:
    (tmp_path / "job-1.json").write_text(content, encoding="utf-8")
    with pytest.raises(StoreError, match=r"job-1\.json' is not .*pytest-octane job"):
        open_store(str(tmp_path)).get_job("job-1")


def test_files_that_are_not_jobs_are_ignored_by_list(tmp_path: Path, new_job: NewJob) -> None:
    store = open_store(str(tmp_path))
    store.create_job(new_job())
    (tmp_path / "notes about x.json").write_text("not json", encoding="utf-8")
    (tmp_path / ".job-1.abc.tmp").write_text("{", encoding="utf-8")
    assert [j.job_id for j in store.list_jobs()] == ["job-1"]


def test_writes_leave_only_the_job_log_and_lock_files(tmp_path: Path, new_job: NewJob) -> None:
    from pytest_octane.model import RequestLogEntry

    store = open_store(str(tmp_path))
    store.create_job(new_job())
    store.update_slice("job-1", 0, status="Success", task_id=1)
    store.add_history("job-1", {"event": "retry"})
    entry = RequestLogEntry(
        time=1.0, method="GET", url="u", status=200, duration_ms=1, correlation_id="c"
    )
    store.append_requests("job-1", [entry, entry])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "job-1.json",
        "job-1.lock",
        "job-1.requests.jsonl",
    ]
    data = json.loads((tmp_path / "job-1.json").read_text(encoding="utf-8"))
    assert data["format"] == 1
    assert data["slices"][0]["status"] == "Success"
    lines = (tmp_path / "job-1.requests.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["correlation_id"] for line in lines] == ["c", "c"]


def test_a_request_line_still_being_written_is_not_read(tmp_path: Path, new_job: NewJob) -> None:
    store = open_store(str(tmp_path))
    store.create_job(new_job())
    log = tmp_path / "job-1.requests.jsonl"
    good = '{"time":1,"method":"GET","url":"u","status":200,"duration_ms":1,"correlation_id":"c"}'
    log.write_text(good + "\n" + good[:20], encoding="utf-8")
    assert [e.correlation_id for e in store.read_requests("job-1")] == ["c"]
    log.write_text(good + "\n{broken\n", encoding="utf-8")
    with pytest.raises(StoreError, match=r"job-1\.requests\.jsonl' has a bad line 2"):
        store.read_requests("job-1")


def test_listing_a_location_that_is_a_file_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "tasks"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(StoreError, match=f"cannot read the task store folder '{blocker}'"):
        open_store(str(blocker)).list_jobs()


def test_a_folder_path_below_a_file_is_refused(tmp_path: Path, new_job: NewJob) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    store = open_store(str(blocker / "logs"))
    with pytest.raises(StoreError) as info:
        store.create_job(new_job())
    message = str(info.value)
    assert f"cannot write the task store folder '{blocker / 'logs'}'" in message
    assert "choose another task store location" in message


@contextlib.contextmanager
def _shared_tmp() -> Iterator[Path]:
    """A temp folder every user can enter (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="octane-store-ro-"))
    try:
        folder.chmod(0o755)
        yield folder
    finally:
        for path in folder.rglob("*"):
            with contextlib.suppress(OSError):
                path.chmod(0o755 if path.is_dir() else 0o644)
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


def _without_write_access(folder: Path, action: Callable[[], str]) -> str:
    """Run ``action`` while ``folder`` is read-only for the caller; return what it returns.

    chmod does not stop root, so as root the action runs in a forked child that drops to
    the 'nobody' user (modules are already imported, so it needs no access to the venv).
    """
    folder.chmod(0o555)
    try:
        if os.geteuid() != 0:
            return action()
        import pwd

        try:
            nobody = pwd.getpwnam("nobody")
        except KeyError:
            pytest.skip("running as root and there is no 'nobody' user to drop to")
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # child
            code = 0
            try:
                os.close(read_end)
                os.setgid(nobody.pw_gid)
                os.setuid(nobody.pw_uid)
                result = action()
            except BaseException as exc:
                result = f"child failed: {type(exc).__name__}: {exc}"
                code = 1
            with os.fdopen(write_end, "w", encoding="utf-8") as out:
                out.write(result)
            os._exit(code)
        os.close(write_end)
        with os.fdopen(read_end, encoding="utf-8") as inp:
            result = inp.read()
        os.waitpid(pid, 0)
        return result
    finally:
        folder.chmod(0o755)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs POSIX permissions")
def test_a_read_only_folder_can_be_read_but_not_written(new_job: NewJob) -> None:
    with _shared_tmp() as root:
        folder = root / "logs"
        store = open_store(str(folder))
        store.create_job(new_job("job-1"))
        for path in folder.iterdir():
            path.chmod(0o644)

        def attempt() -> str:
            outcomes = [f"read:{store.get_job('job-1').status.value}"]
            calls: list[tuple[str, Callable[[], object]]] = [
                ("create", lambda: store.create_job(new_job("job-2"))),
                ("update", lambda: store.update_slice("job-1", 0, attempts=1)),
                ("history", lambda: store.add_history("job-1", {"e": 1})),
            ]
            for name, call in calls:
                try:
                    call()
                    outcomes.append(f"{name}:no error")
                except StoreError as exc:
                    outcomes.append(f"{name}:{exc}")
            return "\n".join(outcomes)

        outcome = _without_write_access(folder, attempt).split("\n")

        assert outcome[0] == "read:Running", outcome
        expected = (
            f"cannot write the task store folder '{folder}' (Permission denied): "
            "make it a writable folder or choose another task store location"
        )
        assert outcome[1:] == [f"create:{expected}", f"update:{expected}", f"history:{expected}"]
        assert store.get_job("job-1").slice(0).attempts == 0
        assert stat.S_IMODE(folder.stat().st_mode) == 0o755


def test_repr_and_location_of_a_json_store(tmp_path: Path) -> None:
    store: Any = open_store(str(tmp_path))
    assert repr(store) == f"JsonFileStore({str(tmp_path)!r})"
