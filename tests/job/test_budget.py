"""QueueBudget: slots held across their expiry by renewal, a bounded wait with a clear error."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pytest_octane.errors import OctaneError
from pytest_octane.job.coord import QueueBudget, pool_name
from pytest_octane.store import open_store

POOL = pool_name("https://octane.example.com/", 1001)


def test_a_held_slot_is_renewed_past_its_expiry(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "store"))
    budget = QueueBudget(store, POOL, 1, deadline_s=30.0, ttl_s=1.5)
    try:
        with budget.slot():
            time.sleep(3.0)  # two expiries; the renewer pushes it ahead every 0.5 s
            assert store.take_slot(POOL, 1, 60.0) is None
        assert store.take_slot(POOL, 1, 60.0) is not None  # given back on exit
    finally:
        budget.close()
        store.close()


def test_waiting_past_the_deadline_names_the_option_and_says_it_waited(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'tasks.db'}")
    assert store.take_slot(POOL, 1, 600.0) is not None
    told: list[bool] = []
    budget = QueueBudget(store, POOL, 1, deadline_s=0.2, on_wait=told.append)
    try:
        with pytest.raises(OctaneError) as waited:
            with budget.slot():
                pytest.fail("got a slot that another holder has")
    finally:
        budget.close()
        store.close()
    message = str(waited.value)
    assert "--octane-queue-budget" in message and "of the 1 slots" in message
    assert "\n" not in message
    assert told == [True, False]


def test_pools_are_per_server_and_shared_space() -> None:
    assert pool_name("https://Octane.example.com/", 1) == pool_name("https://octane.example.com", 1)
    assert pool_name("https://octane.example.com", 1) != pool_name("https://octane.example.com", 2)
