"""Fixtures for the jobs page tests: ``world`` is a started simulator and an empty task store.

Credentials come from the environment (``OCTANE_CLIENT_ID``/``OCTANE_CLIENT_SECRET``) as
for a user; the outer shell's other Octane settings are hidden from the in-process CLI.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from webui_harness import World, in_ci

from tests.octane_env import OctaneEnv

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: Bounds a hang only: a page loads well under a second.
PAGE_LOAD_S = 20.0
CHROME_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
    "--window-size=1280,1024",
)


@pytest.fixture
def simulator_defaults() -> dict[str, Any]:
    return {"processing_ms": 0}


@pytest.fixture
def world(octane_env: OctaneEnv, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.chdir(octane_env.root)
    return World(
        octane_env.sim, octane_env.root, str(octane_env.root / "task_logs"), octane_env.spool
    )


def _missing() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (path.is_file() and os.access(path, os.X_OK)):
            return f"{path} is missing: apt-get install chromium chromium-driver"
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed: pip install 'selenium>=4.11'"
    return None


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Debian's chromium, headless, driven by Selenium (skipped without it outside CI)."""
    missing = _missing()
    if missing:
        if in_ci():
            pytest.fail(f"the browser test must run in CI: {missing} (source .ci/browser.sh)")
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    # an explicit driver path: Selenium Manager never runs, so nothing is downloaded
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(tmp_path / "driver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(PAGE_LOAD_S)
    try:
        yield driver
    finally:
        driver.quit()
