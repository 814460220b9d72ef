"""The jobs page in a real browser: Debian's chromium + chromedriver, driven by Selenium.

What it clicks and checks: it opens ``/?token=...`` (the cookie replaces the token), sees
the job Failed in the jobs table, clicks the job id, sees one Failed slice and the error
Octane gave, presses "Re-upload failed slices", and after the redirect sees every slice
and the job Success and the page's report of the re-upload.

Outside CI it skips when chromium, chromedriver or selenium is missing; with CI set it
fails instead (``.ci/browser.sh`` installs the browser there).
"""

from __future__ import annotations

from typing import Any

from webui_harness import World

from pytest_octane.model import SliceStatus
from pytest_octane.web.render import RETRY_BUTTON

TOKEN = "browser-token-5f0c2a9e7d41"
#: Bounds a hang only: every step here takes well under a second.
WAIT_S = 20.0


def test_reupload_a_failed_slice_from_the_browser(world: World, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    job = world.upload_with_a_failed_slice()
    failed = next(s for s in job.slices if s.status is SliceStatus.FAILED)
    with world.serve(token=TOKEN) as server:
        browser.get(f"{server.url}/?token={TOKEN}")
        assert browser.current_url == server.url + "/"  # the cookie took the token's place
        row = browser.find_element(By.ID, f"job-{job.job_id}")
        assert row.find_element(By.CSS_SELECTOR, ".status").text == "Failed"

        row.find_element(By.LINK_TEXT, job.job_id).click()
        WebDriverWait(browser, WAIT_S).until(ec.presence_of_element_located((By.ID, "slices")))
        assert browser.current_url == f"{server.url}/jobs/{job.job_id}"
        assert browser.find_element(By.ID, "job-status").text == "Failed"
        failed_row = browser.find_element(By.ID, f"slice-{failed.index}")
        assert failed_row.find_element(By.CSS_SELECTOR, ".status").text == "Failed"
        assert "Simulated processing failure" in failed_row.text

        button = browser.find_element(By.ID, "retry")
        assert button.text == RETRY_BUTTON
        button.click()
        WebDriverWait(browser, WAIT_S).until(ec.presence_of_element_located((By.ID, "notice")))
        assert browser.current_url == f"{server.url}/jobs/{job.job_id}"  # 303 back to the job
        statuses = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "#slices .status")]
        assert statuses == ["Success", "Success"]
        assert browser.find_element(By.ID, "job-status").text == "Success"
        assert "slices: 2 ok, 0 failed" in browser.find_element(By.ID, "notice").text
        assert not browser.find_elements(By.ID, "retry")  # nothing left to re-upload
    assert world.job(job.job_id).status is SliceStatus.SUCCESS
