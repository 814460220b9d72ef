"""The jobs page's re-upload button obeys the job's store lock, as ``retry`` does."""

from __future__ import annotations

import html
import os
import socket

import requests
from webui_harness import World, csrf_of, slice_statuses

from pytest_octane.job.coord import job_lock_name
from pytest_octane.model import SliceStatus

TIMEOUT = 30  # bounds a hang only


def test_the_button_says_who_uploads_the_job_and_sends_nothing(world: World) -> None:
    job = world.upload_with_a_failed_slice()
    posts = world.results_posts()
    store = world.open_store()
    try:
        with world.serve() as server, store.lock(job_lock_name(job.job_id), timeout=0):
            url = f"{server.url}/jobs/{job.job_id}"
            page = requests.get(url, timeout=TIMEOUT).text
            pressed = requests.post(
                f"{url}/retry",
                data={"csrf": csrf_of(page)},
                headers={"Origin": server.url, "Referer": url},
                timeout=TIMEOUT,
                allow_redirects=False,
            )
            assert pressed.status_code == 303, pressed.text
            after_page = html.unescape(requests.get(url, timeout=TIMEOUT).text)
    finally:
        store.close()
    who = f"pid {os.getpid()} on {socket.gethostname()}"
    assert f"job {job.job_id} is being uploaded by {who}" in after_page
    assert 'id="notice" class="notice bad"' in after_page
    assert world.results_posts() == posts
    assert SliceStatus.FAILED in slice_statuses(world.job(job.job_id))
