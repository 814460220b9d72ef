"""The build context Octane knows: ``<build>`` goes only to a CI server Octane has registered.

OpenText's flow registers the CI server first and their GitHub Actions integration looks it
up by ``instance_id`` (creating it when missing) before sending a result; an unknown
document-level reference fails the whole task with ``skip-errors=false`` (API-FACTS 1e).  So,
once per job, :func:`fit_build_context` looks the server up (``instance_id`` = the build's
``server_id``), registers it with ``--octane-register-ci-server``, and otherwise sends the
slices without ``<build>``: each run keeps its link to the build (``external_report_url``).
"""

from __future__ import annotations

import logging
import threading

from pytest_octane.errors import OctaneError, OctaneHTTPError
from pytest_octane.job.run.context import JobContext
from pytest_octane.octane.client import quote_query_value
from pytest_octane.octane.results_xml import without_build

__all__ = ["build_failed", "fit_build_context"]

log = logging.getLogger(__name__)

_KNOWN = "build_known"
_lock = threading.Lock()
#: Words of a task's error details that name the build context (GUESS: Octane's exact text
#: is not documented; the simulator says "CI server (build context server_id) ...").
_BUILD_WORDS = ("build context", "ci server", "ci_server", "server_id", "<build")


def fit_build_context(ctx: JobContext, payload: bytes) -> bytes:
    """``payload`` as it may be sent: without ``<build>`` unless Octane knows its CI server.

    The first call of a job asks Octane (under a lock, so parallel slices ask once).
    """
    stripped, server_id = without_build(payload)
    if server_id is None:
        return payload
    with _lock:
        known = ctx.evidence.get(_KNOWN)
        if known is None:
            known = ctx.evidence[_KNOWN] = _known_or_registered(ctx, server_id)
    return payload if known else stripped


def build_failed(ctx: JobContext, details: str | None, payload: bytes) -> bool:
    """A task of ``payload`` failed naming the build context: from now on this job sends no
    ``<build>`` (True: send the slice once more); said once per job."""
    text = (details or "").lower()
    if without_build(payload)[1] is None or not any(word in text for word in _BUILD_WORDS):
        return False
    with _lock:
        first = ctx.evidence.get(_KNOWN) is not False
        ctx.evidence[_KNOWN] = False
    if first:
        _say(
            ctx,
            f"Octane refused the build context ({details}); the slices are sent again without "
            "it (each run keeps its link to the build)",
        )
    return True


def _say(ctx: JobContext, line: str) -> None:
    ctx.progress(line)
    ctx.outcome.warnings.append(line)


def _known_or_registered(ctx: JobContext, server_id: str) -> bool:
    settings = ctx.settings
    query = f"instance_id EQ {quote_query_value(server_id)}"
    try:
        found = ctx.client.get_entities("ci_servers", query=query, fields=["id", "instance_id"])
        if any(str(s.get("instance_id")) == server_id for s in found):
            return True
        if settings.register_ci_server:
            return _register(ctx, server_id)
    except OctaneHTTPError as exc:
        if exc.transient:
            raise
        _say(
            ctx,
            f"cannot look up CI server {server_id!r} in Octane ({exc}); the runs are sent "
            "without the build context (each run keeps its link to the build)",
        )
        return False
    ctx.progress(
        f"CI server {server_id!r} is not registered in Octane: the runs are sent without the "
        "build context (each run still links to its build); for pipeline linking pass "
        "--octane-register-ci-server (the API key needs the CI/CD Integration role) or "
        "register the server in Octane's DevOps settings"
    )
    return False


def _register(ctx: JobContext, server_id: str) -> bool:
    settings = ctx.settings
    url = server_id if server_id.lower().startswith(("http://", "https://")) else None
    server_type = settings.ci_server_type
    if url is None or not server_type:
        missing = "an http(s) server id" if url is None else "--octane-ci-server-type"
        _say(
            ctx,
            f"cannot register CI server {server_id!r}: it needs {missing}; the runs are sent "
            "without the build context",
        )
        return False
    server = {"name": server_id[:255], "instance_id": server_id, "server_type": server_type}
    try:
        ctx.client.create_entities("ci_servers", [{**server, "url": url}])
    except OctaneError as exc:
        # another job may have registered it meanwhile: look again before giving up
        query = f"instance_id EQ {quote_query_value(server_id)}"
        if ctx.client.get_entities("ci_servers", query=query, fields=["id"]):
            return True
        _say(
            ctx,
            f"cannot register CI server {server_id!r} in Octane ({exc}); the runs are sent "
            "without the build context",
        )
        return False
    ctx.progress(f"registered CI server {server_id!r} ({server_type}) in Octane")
    log.info("registered CI server %r", server_id)
    return True
