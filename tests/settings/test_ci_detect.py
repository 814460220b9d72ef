"""CI autodetection: each CI's environment becomes a stable, complete build context."""

from __future__ import annotations

import logging

import pytest

from pytest_octane.settings import OPTIONS_BY_NAME, resolve_settings
from pytest_octane.settings.ci import MAX_VALUE, CiInfo, ci_defaults, detect_ci

GITHUB = {
    "CI": "true",
    "GITHUB_ACTIONS": "true",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "acme/shop",
    "GITHUB_WORKFLOW": "CI",
    "GITHUB_JOB": "tests",
    "GITHUB_RUN_ID": "9876543210",
    "GITHUB_RUN_ATTEMPT": "1",
    "GITHUB_RUN_NUMBER": "42",
}

GITLAB = {
    "CI": "true",
    "GITLAB_CI": "true",
    "CI_SERVER_URL": "https://gitlab.example.com",
    "CI_PROJECT_PATH": "team/shop",
    "CI_PROJECT_URL": "https://gitlab.example.com/team/shop",
    "CI_JOB_NAME": "test 2/3",
    "CI_JOB_ID": "555001",
    "CI_JOB_URL": "https://gitlab.example.com/team/shop/-/jobs/555001",
    "CI_PIPELINE_ID": "777",
    "CI_PIPELINE_IID": "12",
    "CI_JOB_STARTED_AT": "2024-05-01T10:00:00Z",
    "CI_PIPELINE_CREATED_AT": "2024-05-01T09:59:00Z",
}

JENKINS = {
    "JENKINS_URL": "https://jenkins.example.com/",
    "JOB_NAME": "shop/feature%2Fcart",
    "BUILD_NUMBER": "17",
    "BUILD_ID": "17",
    "BUILD_TAG": "jenkins-shop-feature%2Fcart-17",
    "BUILD_DISPLAY_NAME": "#17",
    "BUILD_URL": "https://jenkins.example.com/job/shop/job/feature%252Fcart/17/",
}

AZURE = {
    "TF_BUILD": "True",
    "SYSTEM_COLLECTIONURI": "https://dev.azure.com/acme/",
    "SYSTEM_TEAMPROJECT": "Shop Team",
    "BUILD_DEFINITIONNAME": "shop-ci",
    "AGENT_JOBNAME": "Job linux",
    "SYSTEM_JOBDISPLAYNAME": "Tests (linux)",
    "SYSTEM_JOBATTEMPT": "2",
    "BUILD_BUILDID": "3141",
    "BUILD_BUILDNUMBER": "20240501.3",
    "SYSTEM_PIPELINESTARTTIME": "2024-05-01 10:00:00+00:00",
}

MAY_1_10H_MS = 1714557600000

ALL_CI = pytest.mark.parametrize(
    "environ", [GITHUB, GITLAB, JENKINS, AZURE], ids=["github", "gitlab", "jenkins", "azure"]
)
#: Variables whose value says "this is that CI"; lengthening them would hide the CI.
MARKERS = {"CI", "GITHUB_ACTIONS", "GITLAB_CI", "TF_BUILD"}


def _lengthened(environ: dict[str, str], filler: str) -> dict[str, str]:
    return {
        k: v if k in MARKERS or "ATTEMPT" in k else v + filler * 400 for k, v in environ.items()
    }


def test_github_actions_gives_repository_workflow_job_and_run_attempt() -> None:
    assert detect_ci(GITHUB) == CiInfo(
        name="GitHub Actions",
        server_id="https://github.com/acme/shop",
        job_id="CI/tests",
        job_name="CI / tests",
        build_id="9876543210-1",
        build_name="42",
        started_ms=None,
        url="https://github.com/acme/shop/actions/runs/9876543210",
    )


def test_github_actions_rerun_is_a_new_build_of_the_same_job() -> None:
    first = detect_ci(GITHUB)
    again = detect_ci({**GITHUB, "GITHUB_RUN_ATTEMPT": "2"})
    assert first is not None and again is not None
    assert (again.server_id, again.job_id) == (first.server_id, first.job_id)
    assert again.build_id == "9876543210-2" != first.build_id
    assert again.build_name == "42 (attempt 2)"
    assert again.url == "https://github.com/acme/shop/actions/runs/9876543210/attempts/2"


def test_github_enterprise_server_url_is_used() -> None:
    info = detect_ci({**GITHUB, "GITHUB_SERVER_URL": "https://ghe.example.com/"})
    assert info is not None
    assert info.server_id == "https://ghe.example.com/acme/shop"


def test_gitlab_ci_gives_project_job_and_start_time() -> None:
    assert detect_ci(GITLAB) == CiInfo(
        name="GitLab CI",
        server_id="https://gitlab.example.com/team/shop",
        job_id="test 2/3",
        job_name="test 2/3",
        build_id="555001",
        build_name="12",
        started_ms=MAY_1_10H_MS,
        url="https://gitlab.example.com/team/shop/-/jobs/555001",
    )


def test_gitlab_without_project_url_or_job_start_uses_server_path_and_pipeline_time() -> None:
    environ = {k: v for k, v in GITLAB.items() if k not in ("CI_PROJECT_URL", "CI_JOB_URL")}
    environ.pop("CI_JOB_STARTED_AT")
    environ.pop("CI_PIPELINE_IID")
    info = detect_ci(environ)
    assert info is not None
    assert info.server_id == "https://gitlab.example.com/team/shop"
    assert info.url == "https://gitlab.example.com/team/shop/-/jobs/555001"
    assert info.build_name == "777"
    assert info.started_ms == MAY_1_10H_MS - 60_000


def test_jenkins_gives_server_full_job_name_and_build_number() -> None:
    assert detect_ci(JENKINS) == CiInfo(
        name="Jenkins",
        server_id="https://jenkins.example.com",
        job_id="shop/feature%2Fcart",
        job_name="shop/feature/cart",
        build_id="17",
        build_name="#17",
        started_ms=None,
        url="https://jenkins.example.com/job/shop/job/feature%252Fcart/17/",
    )


def test_jenkins_url_alone_is_a_jenkins_cli_setting_not_a_build() -> None:
    assert detect_ci({"JENKINS_URL": "https://jenkins.example.com/"}) is None


def test_azure_pipelines_gives_collection_project_definition_and_build() -> None:
    assert detect_ci(AZURE) == CiInfo(
        name="Azure Pipelines",
        server_id="https://dev.azure.com/acme/Shop Team",
        job_id="shop-ci/Job linux",
        job_name="shop-ci / Tests (linux)",
        build_id="3141-2",
        build_name="20240501.3",
        started_ms=MAY_1_10H_MS,
        url="https://dev.azure.com/acme/Shop%20Team/_build/results?buildId=3141",
    )


def test_azure_default_job_name_is_left_out_of_the_job_id() -> None:
    environ = {**AZURE, "AGENT_JOBNAME": "__default", "SYSTEM_JOBDISPLAYNAME": ""}
    environ.pop("SYSTEM_JOBATTEMPT")
    info = detect_ci(environ)
    assert info is not None
    assert (info.job_id, info.job_name, info.build_id) == ("shop-ci", "shop-ci", "3141")


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"CI": "true"},
        {"GITHUB_ACTIONS": "false", "GITHUB_RUN_ID": "1"},
        {"GITLAB_CI": "", "CI_JOB_ID": "1"},
        {"TF_BUILD": "False"},
        {"PATH": "/usr/bin", "HOME": "/root"},
    ],
    ids=["empty", "generic-ci", "github-false", "gitlab-empty", "azure-false", "desktop"],
)
def test_outside_a_known_ci_nothing_is_detected(environ: dict[str, str]) -> None:
    assert detect_ci(environ) is None


def test_a_ci_missing_an_id_gives_no_partial_build_context(
    caplog: pytest.LogCaptureFixture,
) -> None:
    environ = {k: v for k, v in GITHUB.items() if k != "GITHUB_RUN_ID"}
    with caplog.at_level(logging.WARNING, logger="pytest_octane.settings.ci"):
        assert detect_ci(environ) is None
    assert caplog.messages == [
        "GitHub Actions detected, but GITHUB_RUN_ID is not set; no build context is sent "
        "unless you set --octane-build-server-id, --octane-build-job-id and --octane-build-id"
    ]


@ALL_CI
def test_every_value_fits_octane_and_long_values_stay_distinct(environ: dict[str, str]) -> None:
    long_a, long_b = _lengthened(environ, "x"), _lengthened(environ, "y")
    info_a, info_b = detect_ci(long_a), detect_ci(long_b)
    assert info_a is not None and info_b is not None
    for info in (info_a, info_b, detect_ci(environ)):
        assert info is not None
        for name in ("server_id", "job_id", "job_name", "build_id", "build_name"):
            value = getattr(info, name)
            assert 1 <= len(value) <= MAX_VALUE, name
    assert info_a.build_id != info_b.build_id
    assert detect_ci(long_a) == info_a  # cutting is stable from run to run


def test_ci_info_is_frozen() -> None:
    info = detect_ci(GITHUB)
    assert info is not None
    with pytest.raises(AttributeError):
        info.build_id = "1"  # type: ignore[misc]
    assert set(CiInfo._fields) >= {"name", "started_ms", "url"}


@ALL_CI
def test_ci_defaults_are_valid_settings_that_form_a_build_context(
    environ: dict[str, str],
) -> None:
    info = detect_ci(environ)
    assert info is not None
    defaults = ci_defaults(info)
    assert set(defaults) <= set(OPTIONS_BY_NAME)
    settings = resolve_settings(cli=defaults, environ={}, ini={})
    assert settings.build_server_id == info.server_id
    assert settings.build_job_id == info.job_id
    assert settings.build_id == info.build_id
    assert settings.build_job_name == info.job_name
    assert settings.build_name == info.build_name


def test_the_ci_run_url_is_kept_only_for_the_build_the_environment_describes() -> None:
    from pytest_octane.settings.ci import ci_run_url

    assert ci_run_url("9876543210-1", GITHUB) == (
        "https://github.com/acme/shop/actions/runs/9876543210"
    )
    assert ci_run_url("a-build-given-by-hand", GITHUB) is None  # another build: no link
    assert ci_run_url(None, GITHUB) is None
    assert ci_run_url("9876543210-1", {}) is None
