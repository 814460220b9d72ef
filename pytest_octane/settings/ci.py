"""Recognise the CI system a run happens in, so Octane gets a build context without options.

``detect_ci`` reads only the environment it is given; ``ci_defaults`` turns what it found
into option values that any command-line option, ``OCTANE_*`` variable or ini key
overrides.  The mapping per CI is documented in ``docs/ci-recipes.md``.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote, unquote

from pytest_octane.logs import LazyLogger

__all__ = [
    "CI_OPTION_NAMES",
    "MAX_VALUE",
    "SERVER_TYPES",
    "CiInfo",
    "ci_defaults",
    "ci_run_url",
    "detect_ci",
    "write_github_step_summary",
]

log = LazyLogger("pytest_octane.settings.ci")

#: Octane's limit for every attribute of ``<build>`` (XSD: 1 to 255 characters).
MAX_VALUE = 255

#: The settings ``ci_defaults`` fills in; all three ids or none, as the XSD requires.
CI_OPTION_NAMES = (
    "build_server_id",
    "build_job_id",
    "build_id",
    "build_job_name",
    "build_name",
    "build_url",
    "ci_server_type",
)

#: Octane's ``server_type`` of a ``ci_server`` per CI (github_actions: VERIFIED in OpenText's
#: GitHub Actions integration; jenkins, gitlab, azure_devops: GUESS, see docs/ci-recipes.md).
SERVER_TYPES = {
    "GitHub Actions": "github_actions",
    "GitLab CI": "gitlab",
    "Jenkins": "jenkins",
    "Azure Pipelines": "azure_devops",
}

#: The step summary is capped by GitHub at 1 MiB per step; stay far below it.
_SUMMARY_MAX_LINES = 200
_SUMMARY_MAX_LINE = 1000


class CiInfo(NamedTuple):
    """What a CI system says about the running build, each value at most 255 characters (a
    named tuple: defining a frozen dataclass costs about 1 ms on Python 3.11, issue 28)."""

    name: str
    server_id: str
    job_id: str
    job_name: str
    build_id: str
    build_name: str
    started_ms: int | None = None
    url: str | None = None


# ---------------------------------------------------------------- helpers


def _fit(value: str) -> str:
    """Cut to Octane's 255 characters with a hash suffix, so cut ids stay unique and stable."""
    if len(value) <= MAX_VALUE:
        return value
    digest = hashlib.sha1(value.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{value[: MAX_VALUE - 12]}~~{digest}"


def _get(environ: Mapping[str, str], name: str) -> str:
    return environ.get(name, "").strip()


def _first(environ: Mapping[str, str], *names: str) -> str:
    return next((value for name in names if (value := _get(environ, name))), "")


def _join(separator: str, *parts: str) -> str:
    return separator.join(part for part in parts if part)


def _iso_ms(text: str) -> int | None:
    """Epoch milliseconds of an ISO 8601 time (``2024-05-01T10:00:00Z``); None if unreadable."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        log.debug("ignoring unreadable CI start time %r", text)
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # CI systems report UTC
    return int(when.timestamp() * 1000)


def _attempt(text: str) -> int | None:
    return int(text) if text.isdigit() and int(text) > 0 else None


def _checked(info: CiInfo, required: Mapping[str, str]) -> CiInfo | None:
    """``info`` cut to Octane's sizes when all three ids are known: Octane's ``<build>`` needs
    every one of them. ``required`` maps the variables the ids come from to their values,
    for the warning."""
    if not (info.server_id and info.job_id and info.build_id):
        missing = [variable for variable, value in required.items() if not value]
        log.warning(
            "%s detected, but %s not set; no build context is sent unless you set "
            "--octane-build-server-id, --octane-build-job-id and --octane-build-id",
            info.name,
            " and ".join(missing) + (" is" if len(missing) == 1 else " are"),
        )
        return None
    return info._replace(
        server_id=_fit(info.server_id),
        job_id=_fit(info.job_id),
        job_name=_fit(info.job_name or info.job_id),
        build_id=_fit(info.build_id),
        build_name=_fit(info.build_name or info.build_id),
        url=info.url or None,
    )


# ---------------------------------------------------------------- one reader per CI


def _github(environ: Mapping[str, str]) -> CiInfo | None:
    if _get(environ, "GITHUB_ACTIONS").lower() != "true":
        return None
    server = _get(environ, "GITHUB_SERVER_URL").rstrip("/") or "https://github.com"
    repository = _get(environ, "GITHUB_REPOSITORY")
    workflow = _get(environ, "GITHUB_WORKFLOW")
    job = _get(environ, "GITHUB_JOB")
    run_id = _get(environ, "GITHUB_RUN_ID")
    attempt = _attempt(_get(environ, "GITHUB_RUN_ATTEMPT"))
    run_number = _get(environ, "GITHUB_RUN_NUMBER")
    url = None
    if repository and run_id:
        url = f"{server}/{repository}/actions/runs/{run_id}"
        if attempt and attempt > 1:
            url += f"/attempts/{attempt}"
    build_name = run_number
    if run_number and attempt and attempt > 1:
        build_name = f"{run_number} (attempt {attempt})"
    info = CiInfo(
        name="GitHub Actions",
        server_id=f"{server}/{repository}" if repository else "",
        job_id=_join("/", workflow, job) if workflow else "",
        job_name=_join(" / ", workflow, job),
        build_id=_join("-", run_id, str(attempt or "")) if run_id else "",
        build_name=build_name,
        url=url,
    )
    return _checked(
        info,
        {"GITHUB_REPOSITORY": repository, "GITHUB_WORKFLOW": workflow, "GITHUB_RUN_ID": run_id},
    )


def _gitlab(environ: Mapping[str, str]) -> CiInfo | None:
    if _get(environ, "GITLAB_CI").lower() != "true":
        return None
    project_url = _get(environ, "CI_PROJECT_URL").rstrip("/")
    server = _get(environ, "CI_SERVER_URL").rstrip("/")
    path = _get(environ, "CI_PROJECT_PATH")
    if not project_url and server and path:
        project_url = f"{server}/{path}"
    job_name = _get(environ, "CI_JOB_NAME")
    job_id = _get(environ, "CI_JOB_ID")
    url = _get(environ, "CI_JOB_URL") or (
        f"{project_url}/-/jobs/{job_id}" if project_url and job_id else ""
    )
    info = CiInfo(
        name="GitLab CI",
        server_id=project_url,
        job_id=job_name,
        job_name=job_name,
        build_id=job_id,
        build_name=_first(environ, "CI_PIPELINE_IID", "CI_PIPELINE_ID"),
        started_ms=_iso_ms(_first(environ, "CI_JOB_STARTED_AT", "CI_PIPELINE_CREATED_AT")),
        url=url,
    )
    return _checked(
        info,
        {
            "CI_PROJECT_URL (or CI_SERVER_URL and CI_PROJECT_PATH)": project_url,
            "CI_JOB_NAME": job_name,
            "CI_JOB_ID": job_id,
        },
    )


def _jenkins(environ: Mapping[str, str]) -> CiInfo | None:
    server = _get(environ, "JENKINS_URL").rstrip("/")
    if not server:
        return None
    job = _get(environ, "JOB_NAME")
    number = _first(environ, "BUILD_NUMBER", "BUILD_ID")
    if not job and not number:
        return None  # JENKINS_URL alone is also how jenkins-cli users configure their shell
    info = CiInfo(
        name="Jenkins",
        server_id=server,
        job_id=job,
        job_name=unquote(job),  # multibranch jobs encode the branch: feature%2Fx
        build_id=number,
        build_name=_get(environ, "BUILD_DISPLAY_NAME") or number,
        url=_get(environ, "BUILD_URL"),
    )
    return _checked(info, {"JOB_NAME": job, "BUILD_NUMBER": number})


def _azure(environ: Mapping[str, str]) -> CiInfo | None:
    if _get(environ, "TF_BUILD").lower() != "true":
        return None
    collection = _get(environ, "SYSTEM_COLLECTIONURI").rstrip("/")
    project = _get(environ, "SYSTEM_TEAMPROJECT")
    definition = _get(environ, "BUILD_DEFINITIONNAME")
    agent_job = _get(environ, "AGENT_JOBNAME")
    if agent_job.startswith("__default"):
        agent_job = ""  # a pipeline without named jobs
    job_display = _get(environ, "SYSTEM_JOBDISPLAYNAME") or agent_job
    build = _get(environ, "BUILD_BUILDID")
    attempt = _attempt(_get(environ, "SYSTEM_JOBATTEMPT"))
    url = None
    if collection and project and build:
        url = f"{collection}/{quote(project)}/_build/results?buildId={build}"
    info = CiInfo(
        name="Azure Pipelines",
        server_id=f"{collection}/{project}" if collection and project else "",
        job_id=_join("/", definition, agent_job) if definition else "",
        job_name=_join(" / ", definition, job_display),
        build_id=_join("-", build, str(attempt or "")) if build else "",
        build_name=_get(environ, "BUILD_BUILDNUMBER"),
        started_ms=_iso_ms(_get(environ, "SYSTEM_PIPELINESTARTTIME")),
        url=url,
    )
    return _checked(
        info,
        {
            "SYSTEM_COLLECTIONURI": collection,
            "SYSTEM_TEAMPROJECT": project,
            "BUILD_DEFINITIONNAME": definition,
            "BUILD_BUILDID": build,
        },
    )


#: Checked in this order; each reader looks for its own marker variable first.
_READERS: tuple[Callable[[Mapping[str, str]], CiInfo | None], ...] = (
    _github,
    _gitlab,
    _azure,
    _jenkins,
)


# ---------------------------------------------------------------- public API


def detect_ci(environ: Mapping[str, str]) -> CiInfo | None:
    """The CI system running this process and its build, or None outside CI.

    A CI whose marker is set but whose ids are missing gives None (with a warning): a partial
    build context would make Octane reject every upload.
    """
    for reader in _READERS:
        info = reader(environ)
        if info is not None:
            return info
    return None


def ci_defaults(info: CiInfo) -> dict[str, str]:
    """Settings option names -> values, a source just above the built-in defaults."""
    values = {
        "build_server_id": info.server_id,
        "build_job_id": info.job_id,
        "build_id": info.build_id,
        "build_job_name": info.job_name,
        "build_name": info.build_name,
        "ci_server_type": SERVER_TYPES.get(info.name, info.name.lower().replace(" ", "_")),
    }
    if info.url and info.url.lower().startswith(("http://", "https://")):
        values["build_url"] = info.url
    return values


# patterns, compiled (and cached by ``re``) at the first step summary, not at every start
_MD_SPECIAL = r"([\\`*_\[\]|~])"
#: Where a backslash keeps a line from starting a heading or a (nested) list.
_MD_BLOCK_START = r"^\s*(?:\d{1,9}(?=[.)])|(?=[#+\-]))"
_URL = r"https?://[^\s<>\"'`]+"


def _markdown_text(text: str) -> str:
    """Plain text as inline Markdown: specials escaped, HTML neutralised, URLs as links."""

    def escape(part: str) -> str:
        part = part.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return re.sub(_MD_SPECIAL, r"\\\1", part)

    out: list[str] = []
    position = 0
    for match in re.finditer(_URL, text):
        url = match.group().rstrip(".,;:)")
        out.append(escape(text[position : match.start()]))
        out.append(f"<{url}>")
        position = match.start() + len(url)
    out.append(escape(text[position:]))
    text = "".join(out)
    start = re.match(_MD_BLOCK_START, text)
    if start:
        text = f"{text[: start.end()]}\\{text[start.end() :]}"
    return text


def _summary_block(lines: Sequence[str], title: str) -> str:
    shown = lines[:_SUMMARY_MAX_LINES]
    items = []
    for line in shown:
        if len(line) > _SUMMARY_MAX_LINE:
            line = line[: _SUMMARY_MAX_LINE - 1] + "…"
        items.append(f"- {_markdown_text(line)}" if line.strip() else "")
    if len(lines) > len(shown):
        items.append(f"- … and {len(lines) - len(shown)} more lines in the job log")
    body = "\n".join(items)
    return f"### {_markdown_text(title)}\n\n{body}\n\n"


def write_github_step_summary(
    environ: Mapping[str, str], lines: Sequence[str], title: str
) -> Path | None:
    """Append ``lines`` (plain text) under ``title`` to ``$GITHUB_STEP_SUMMARY``.

    Returns the file written, or None when the variable is unset or the file cannot be
    written; a summary is a courtesy and must never break the test run.
    """
    target = _get(environ, "GITHUB_STEP_SUMMARY")
    if not target:
        return None
    path = Path(target)
    try:
        with path.open("a", encoding="utf-8") as file:
            file.write(_summary_block(lines, title))
    except OSError as exc:
        log.warning(
            "cannot append the Octane summary to GITHUB_STEP_SUMMARY file %s (%s); skipped",
            path,
            exc.strerror or exc,
        )
        return None
    return path


def ci_run_url(build_id: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The CI run's web address, when ``build_id`` is the build the environment (default:
    ``os.environ``) describes."""
    if not build_id:
        return None
    info = detect_ci(os.environ if environ is None else environ)
    return info.url if info is not None and info.build_id == build_id else None
