"""The jobs list, a job page and the upload form in Debian's chromium (Selenium).

Each test saves a screenshot of every page it checks under its ``tmp_path`` and attaches
the path to the test report with ``record_property`` (a ``<property>`` in JUnit XML). The
live updates are checked without reloading: a marker set on ``window`` must survive them.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from webui_harness import JUNIT, World

from pytest_octane.model import SliceStatus
from pytest_octane.web.demo import seed_jobs
from pytest_octane.web.handler import PAGE_SIZE

#: Bounds a hang only: the pages poll every 2-3 s, so an update shows within seconds.
WAIT_S = 30.0
FAST = {"queueFullRetrySeconds": 0.1, "pollTimeoutSeconds": 30, "backoffSeconds": 0.05}


def shot(browser: Any, tmp_path: Path, name: str, record_property: Any) -> Path:
    path = tmp_path / f"{name}.png"
    assert browser.save_screenshot(str(path)), f"no screenshot of {name}"
    record_property(f"screenshot-{name}", str(path))
    return path


def wait(browser: Any, condition: Any) -> Any:
    """Until ``condition``; an element the live update replaced meanwhile is looked up again."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    waiting = WebDriverWait(browser, WAIT_S, ignored_exceptions=[StaleElementReferenceException])
    return waiting.until(condition)


def test_the_list_shows_outcomes_filters_and_pages(
    world: World, browser: Any, tmp_path: Path, record_property: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    store = world.open_store()
    try:
        ids = seed_jobs(store, PAGE_SIZE + 5, now=time.time(), running=1)
        jobs = {j.job_id: j for j in store.list_jobs()}
    finally:
        store.close()
    with world.serve() as server:
        browser.get(server.url + "/")
        rows = browser.find_elements(By.CSS_SELECTOR, "#jobs tbody tr")
        assert len(rows) == PAGE_SIZE
        assert rows[0].get_attribute("id") == f"job-{ids[-1]}"  # newest first
        # the chart: one bar per job whose text alternative gives the counts
        for row in rows[:10]:
            job = jobs[row.get_attribute("id").removeprefix("job-")]
            bar = row.find_element(By.CSS_SELECTOR, "svg.outcomes")
            passed = sum(s.runs_passed for s in job.slices)
            failed = sum(s.runs_failed for s in job.slices)
            skipped = sum(s.runs_skipped for s in job.slices)
            assert bar.get_attribute("aria-label") == (
                f"{passed} passed, {failed} failed, {skipped} skipped"
            )
            widths = {
                cls: sum(
                    float(r.get_attribute("width"))
                    for r in bar.find_elements(By.CSS_SELECTOR, f"rect.bar-{cls}")
                )
                for cls in ("passed", "failed", "skipped")
            }
            assert widths["passed"] > 0 and (widths["failed"] > 0) == (failed > 0)
            assert bar.size["width"] > 0 and bar.size["height"] > 0  # drawn, not hidden
        shot(browser, tmp_path, "list", record_property)

        # paging
        browser.find_element(By.ID, "older").click()
        wait(browser, lambda b: "page=2" in b.current_url)
        assert len(browser.find_elements(By.CSS_SELECTOR, "#jobs tbody tr")) == 5
        assert browser.find_element(By.ID, "page-info").text == (
            f"page 2 of 2 ({PAGE_SIZE + 5} jobs)"
        )
        shot(browser, tmp_path, "list-page-2", record_property)

        # the status filter (a plain GET form: works with scripts off too)
        browser.get(server.url + "/")
        Select(browser.find_element(By.ID, "f-status")).select_by_value("Failed")
        browser.find_element(By.ID, "filter").click()
        wait(browser, lambda b: "status=Failed" in b.current_url)
        statuses = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#jobs tbody .status")]
        expected = sum(1 for j in jobs.values() if j.status is SliceStatus.FAILED)
        assert statuses == ["Failed"] * expected and expected > 0
        shot(browser, tmp_path, "list-failed", record_property)

        # the text filter finds a job by a failed test's name
        job, name = next((j, f.name) for j in jobs.values() for s in j.slices for f in s.failures)
        browser.get(server.url + "/")
        box = browser.find_element(By.ID, "f-q")
        box.send_keys(name.split("::")[-1])
        browser.find_element(By.ID, "filter").click()
        wait(browser, lambda b: "q=" in b.current_url)
        shown = [
            r.get_attribute("id") for r in browser.find_elements(By.CSS_SELECTOR, "#jobs tbody tr")
        ]
        assert f"job-{job.job_id}" in shown and len(shown) < len(jobs)


def test_a_running_job_page_shows_its_timeline_and_updates_itself(
    world: World, browser: Any, tmp_path: Path, record_property: Any
) -> None:
    from selenium.webdriver.common.by import By

    store = world.open_store()
    try:
        seed_jobs(store, 1, now=time.time(), running=1)
        (job,) = store.list_jobs()
    finally:
        store.close()
    assert job.status is SliceStatus.RUNNING
    with world.serve() as server:
        browser.get(f"{server.url}/jobs/{job.job_id}")
        assert browser.find_element(By.ID, "job-status").text == "Running"
        timeline = browser.find_element(By.ID, "timeline")
        assert timeline.get_attribute("role") == "img"
        assert f"{len(job.slices)} slices" in timeline.find_element(
            By.TAG_NAME, "desc"
        ).get_attribute("textContent")
        labels = [
            e.get_attribute("textContent")
            for e in timeline.find_elements(By.CSS_SELECTOR, "text.tl-label")
        ]
        assert labels == [f"slice {s.index}" for s in job.slices]
        sent = [s for s in job.slices if s.accepted_at is not None]
        assert len(timeline.find_elements(By.CSS_SELECTOR, "rect.tl-octane")) == len(sent)
        wait(browser, lambda b: b.find_element(By.ID, "live").text == "Updating live.")
        browser.execute_script("window.octaneMarker = 'same page';")
        shot(browser, tmp_path, "job-running", record_property)

        # the upload goes on in another process: the page follows without a reload
        store = world.open_store()
        try:
            for record in job.slices:
                if record.status is SliceStatus.RUNNING:
                    store.update_slice(
                        job.job_id,
                        record.index,
                        task_id=record.task_id or 4242,
                        status=SliceStatus.SUCCESS,
                        server_status="success",
                    )
            store.finish_job(job.job_id, time.time())
        finally:
            store.close()
        wait(browser, lambda b: b.find_element(By.ID, "job-status").text == "Success")
        wait(browser, lambda b: b.find_element(By.ID, "live").get_attribute("data-ended") == "1")
        assert browser.execute_script("return window.octaneMarker") == "same page"
        assert browser.find_element(By.ID, "live").text == (
            "The job has ended; live updates stopped."
        )
        statuses = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#slices .status")]
        assert statuses == ["Success"] * len(job.slices)
        shot(browser, tmp_path, "job-ended", record_property)


def test_an_upload_started_from_the_form_appears_in_the_list_live(
    world: World, browser: Any, tmp_path: Path, record_property: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    spaces = world.root / "spaces.json"
    entry = {"url": world.sim.url, "workspaceId": world.sim.workspace_id, "autoRunsSliceSize": 2}
    spaces.write_text(json.dumps({str(world.sim.space_id): {**entry, **FAST}}), encoding="utf-8")
    junit = world.root / "shop-results.xml"
    junit.write_text(JUNIT, encoding="utf-8")
    with world.serve(f"--config={spaces}") as server:
        # the list is open while an upload starts elsewhere: its row appears by itself
        browser.get(server.url + "/")
        browser.execute_script("window.octaneMarker = 'same page';")
        started = requests.post(
            server.url + "/upload",
            data={"csrf": server.csrf, "space": str(world.sim.space_id)},
            files={"files": ("first.xml", JUNIT)},
            allow_redirects=False,
            timeout=WAIT_S,
        )
        assert started.status_code == 303, started.text
        first = started.headers["Location"].rsplit("/", 1)[1]
        wait(browser, lambda b: b.find_elements(By.ID, f"job-{first}"))
        assert browser.execute_script("return window.octaneMarker") == "same page"

        # and one from the form itself
        browser.get(server.url + "/upload")
        shot(browser, tmp_path, "upload-form", record_property)
        browser.find_element(By.ID, "u-files").send_keys(str(junit))
        Select(browser.find_element(By.ID, "u-space")).select_by_value(str(world.sim.space_id))
        browser.find_element(By.ID, "start-upload").click()
        wait(browser, lambda b: re.search(r"/jobs/[^/]+$", b.current_url))
        second = browser.current_url.rsplit("/", 1)[1]
        assert second != first
        # the page follows the upload until it ends (or the upload was over before it loaded)
        wait(
            browser,
            lambda b: all(e.get_attribute("data-ended") for e in b.find_elements(By.ID, "live")),
        )
        assert browser.find_element(By.ID, "job-status").text == "Success"
        assert "Upload started from this page" in browser.find_element(By.ID, "notice").text
        assert browser.find_element(By.ID, "outcomes").text == "3 passed, 1 failed, 0 skipped"
        shot(browser, tmp_path, "job-uploaded", record_property)

        for thread in server.uploads:
            thread.join(WAIT_S)
        browser.get(server.url + "/")
        ids = [
            r.get_attribute("id") for r in browser.find_elements(By.CSS_SELECTOR, "#jobs tbody tr")
        ]
        assert ids[:2] == [f"job-{second}", f"job-{first}"]
    assert world.job(second).status is SliceStatus.SUCCESS
    assert world.results_posts() == 4  # two jobs of two slices


@pytest.mark.parametrize("scheme", ["dark"])
def test_the_pages_follow_the_dark_color_scheme(
    world: World, browser: Any, tmp_path: Path, record_property: Any, scheme: str
) -> None:
    from selenium.webdriver.common.by import By

    store = world.open_store()
    try:
        seed_jobs(store, 3, now=time.time(), running=0)
    finally:
        store.close()
    browser.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
    )
    with world.serve() as server:
        browser.get(server.url + "/")
        background = browser.find_element(By.TAG_NAME, "body").value_of_css_property(
            "background-color"
        )
        shot(browser, tmp_path, "list-dark", record_property)
    assert background in ("rgba(13, 17, 23, 1)", "rgb(13, 17, 23)")
