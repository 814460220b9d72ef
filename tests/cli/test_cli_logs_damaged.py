"""``pytest-octane logs`` on a request log with bytes that are not UTF-8 (issue 17 point 10).

Another tool, a disk error or a hand edit can leave such bytes; the log is diagnostic, so
it is shown with U+FFFD in their place instead of a traceback. (PostgreSQL cannot store
them in a UTF-8 database, so only the folder and SQLite stores are damaged here.)
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from cli_harness import Octane, lines_without_traceback

BAD = b"proxy said \xff\xfe\xc3( here"


def upload_one_job(octane: Octane, junit_xml: Path) -> str:
    done = octane.upload(junit_xml)
    assert done.code == 0, done.text
    return octane.only_job().job_id


def damage(octane: Octane, job_id: str, backend: str) -> None:
    if backend == "json":
        log = Path(octane.store) / f"{job_id}.requests.jsonl"
        entry = {
            "time": 1.0, "method": "GET", "url": "http://x/y", "status": 502,
            "duration_ms": 1, "correlation_id": "c", "error": "@@",
        }  # fmt: skip
        line = json.dumps(entry).encode().replace(b"@@", BAD)
        # also a JSON escape that decodes to half a surrogate pair: not printable as UTF-8
        lone = json.dumps({**entry, "error": "lone \udcff half"}).encode()
        with log.open("ab") as fh:
            fh.write(line + b"\n" + lone + b"\n")
    else:
        database = octane.store.removeprefix("sqlite:///")
        with sqlite3.connect(database) as conn:
            conn.execute(
                "UPDATE octane_request_log SET error = CAST(? AS TEXT) WHERE job_id = ?",
                (BAD, job_id),
            )


@pytest.mark.parametrize("backend", ["json", "sqlite"], indirect=True)
def test_logs_shows_bytes_that_are_not_utf8_with_replacement(
    octane: Octane, junit_xml: Path, backend: str
) -> None:
    job_id = upload_one_job(octane, junit_xml)
    damage(octane, job_id, backend)
    shown = octane.cli_subprocess("logs", job_id, f"--task-store={octane.store}")
    assert shown.code == 0, shown.text
    lines = lines_without_traceback(shown.text)
    assert any("proxy said \ufffd\ufffd\ufffd( here" in line for line in lines), shown.text
    if backend == "json":
        assert any("lone \ufffd" in line and "half" in line for line in lines), shown.text
