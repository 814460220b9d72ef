"""Make the jobs page screenshots in docs/ (docs/jobs-page.md and the README show them).

    python benchmarks/screenshots_jobs_page.py            # writes docs/jobs-page-*.png

Seeds a SQLite task store with made-up jobs (``pytest_octane.web.demo``, fixed seed), serves
it with ``JobsServer`` on loopback, and has Debian's chromium (headless, ``--screenshot``)
take each page: the list, a running job with its timeline, the list in dark mode and the
upload form. Nothing is sent to Octane; the made-up server names are example.com.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pytest_octane.model import SliceStatus
from pytest_octane.store import open_store
from pytest_octane.web.demo import demo_job, seed_jobs
from pytest_octane.web.server import JobsServer

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
#: (file, path on the server, window height, dark)
SHOTS = (
    ("jobs-page-list.png", "/", 760, False),
    ("jobs-page-job.png", "/jobs/20261203-101500-release", 1180, False),
    ("jobs-page-list-dark.png", "/?status=Failed", 520, True),
    ("jobs-page-upload.png", "/upload", 520, False),
)


def _seed(location: str, now: float) -> None:
    store = open_store(location)
    try:
        seed_jobs(store, 120, now=now - 120, running=0)
        job = demo_job(
            "20261203-101500-release",
            created_at=now - 48,
            slices=12,
            rng=random.Random(7),
            state=SliceStatus.RUNNING,
        )
        store.create_job(job)
    finally:
        store.close()


def _shoot(url: str, out: Path, height: int, *, dark: bool) -> None:
    flags = [
        "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-extensions", "--no-first-run", "--no-default-browser-check",
        f"--window-size=1280,{height}", f"--screenshot={out}", "--virtual-time-budget=1500",
    ]  # fmt: skip
    if dark:
        flags.append("--force-dark-mode")  # prefers-color-scheme: dark
    with tempfile.TemporaryDirectory(prefix="octane-shots-profile-") as profile:
        subprocess.run(
            [CHROMIUM, *flags, f"--user-data-dir={profile}", url],
            check=True,
            capture_output=True,
            timeout=120,
        )
    if not out.is_file():
        raise RuntimeError(f"chromium wrote no screenshot of {url}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="make the jobs page screenshots in docs/")
    parser.add_argument("--out", type=Path, default=REPO / "docs", help="folder for the PNGs")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="octane-shots-") as tmp:
        location = f"sqlite:///{Path(tmp) / 'jobs.db'}"
        _seed(location, time.time())
        spaces = Path(tmp) / "spaces.json"
        spaces.write_text(
            json.dumps(
                {
                    "1001": {"url": "https://octane.example.com", "workspaceId": 1002},
                    "2001": {"url": "https://octane.example.com", "workspaceId": 2002},
                }
            ),
            encoding="utf-8",
        )
        store = open_store(location)
        args = argparse.Namespace(octane_config=str(spaces))
        try:
            with JobsServer(args, store, port=0, quiet=True) as server:
                for name, path, height, dark in SHOTS:
                    _shoot(server.url + path, options.out / name, height, dark=dark)
                    print(f"wrote {options.out / name}", file=sys.stderr)
        finally:
            store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
