"""Fixtures for the simulator's own tests: plain ``requests`` sessions and XML builders."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any
from xml.sax.saxutils import quoteattr

import pytest
import requests

Run = dict[str, Any]


def _attrs(values: dict[str, Any]) -> str:
    return "".join(f" {k}={quoteattr(str(v))}" for k, v in values.items() if v is not None)


def build_xml(
    runs: Sequence[Run] = ({"name": "test_one", "status": "Passed"},),
    *,
    build: dict[str, str] | None = None,
    suite: tuple[int, str] | None = None,
    release_ref: int | None = None,
    release_name: str | None = None,
    backlog: Sequence[int] = (),
    areas: Sequence[int] = (),
    fields: Sequence[tuple[str, str]] = (),
    taxonomies: Sequence[tuple[str, str]] = (),
) -> bytes:
    """A test_result document; each run dict holds attributes plus optional backlog/areas."""
    parts = ["<?xml version='1.0' encoding='UTF-8'?>", "<test_result>"]
    if build:
        parts.append(f"<build{_attrs(build)}/>")
    if suite:
        parts.append(f"<suite_ref{_attrs({'id': suite[0], 'external_run_id': suite[1]})}/>")
    if release_ref is not None:
        parts.append(f"<release_ref id='{release_ref}'/>")
    if release_name is not None:
        parts.append(f"<release name={quoteattr(release_name)}/>")
    if backlog:
        refs = "".join(f"<backlog_item_ref id='{b}'/>" for b in backlog)
        parts.append(f"<backlog_items>{refs}</backlog_items>")
    if areas:
        refs = "".join(f"<product_area_ref id='{a}'/>" for a in areas)
        parts.append(f"<product_areas>{refs}</product_areas>")
    if fields:
        items = "".join(f"<test_field{_attrs({'type': t, 'value': v})}/>" for t, v in fields)
        parts.append(f"<test_fields>{items}</test_fields>")
    if taxonomies:
        items = "".join(f"<taxonomy{_attrs({'type': t, 'value': v})}/>" for t, v in taxonomies)
        parts.append(f"<environment>{items}</environment>")
    parts.append("<test_runs>")
    for run in runs:
        attrs = {k: v for k, v in run.items() if k not in ("backlog", "areas", "error")}
        attrs.setdefault("duration", 12)
        attrs.setdefault("status", "Passed")
        inner = ""
        if run.get("backlog"):
            refs = "".join(f"<backlog_item_ref id='{b}'/>" for b in run["backlog"])
            inner += f"<backlog_items>{refs}</backlog_items>"
        if run.get("areas"):
            refs = "".join(f"<product_area_ref id='{a}'/>" for a in run["areas"])
            inner += f"<product_areas>{refs}</product_areas>"
        if run.get("error"):
            inner += f"<error type='AssertionError' message='boom'>{run['error']}</error>"
        parts.append(f"<test_run{_attrs(attrs)}>{inner}</test_run>")
    parts.append("</test_runs></test_result>")
    return "".join(parts).encode()


@pytest.fixture
def make_xml() -> Callable[..., bytes]:
    return build_xml


def sign_in(sim: Any) -> requests.Session:
    session = requests.Session()
    answer = session.post(
        f"{sim.url}/authentication/sign_in",
        json={"client_id": sim.client_id, "client_secret": sim.client_secret},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return session


@pytest.fixture
def signed_in() -> Iterator[Callable[[Any], requests.Session]]:
    """Make a requests.Session signed in to a simulator; all are closed at teardown."""
    sessions: list[requests.Session] = []

    def make(sim: Any) -> requests.Session:
        session = sign_in(sim)
        sessions.append(session)
        return session

    yield make
    for session in sessions:
        session.close()


@pytest.fixture
def sim(octane_simulator_factory: Callable[..., Any]) -> Any:
    """A simulator with two stories and instant processing."""
    return octane_simulator_factory(
        processing_ms=0,
        stories=[{"id": 2001, "name": "Login works", "jira_key_udf": "QZ-1"}, "QZ-2"],
    )


@pytest.fixture
def api(sim: Any, signed_in: Callable[[Any], requests.Session]) -> requests.Session:
    return signed_in(sim)


def upload(
    session: requests.Session,
    sim: Any,
    xml: bytes,
    *,
    skip_errors: bool | None = None,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    params = {} if skip_errors is None else {"skip-errors": str(skip_errors).lower()}
    return session.post(
        f"{sim.api_url}/test-results",
        data=xml,
        params=params,
        headers=headers or {"Content-Type": "application/xml"},
        timeout=10,
    )


@pytest.fixture
def post_results() -> Callable[..., requests.Response]:
    return upload
