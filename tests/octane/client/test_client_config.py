"""OctaneClient construction, per-request headers and transport settings."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses

import pytest_octane
from pytest_octane.errors import ConfigError
from pytest_octane.job.engine import make_client as make_job_client
from pytest_octane.octane.client import InsecureConnectionWarning, OctaneClient
from pytest_octane.octane.credentials import Credentials
from pytest_octane.octane.retry import RetryPolicy
from pytest_octane.settings import resolve_settings

SERVER = "https://octane.example.com"
BASE = f"{SERVER}/api/shared_spaces/1001/workspaces/1002"
SIGN_IN = f"{SERVER}/authentication/sign_in"
TASK = f"{BASE}/test-results/7"
SECRET = "Top-Secret-Value-9"


def make_client(**kw: Any) -> OctaneClient:
    kw.setdefault("server", SERVER)
    kw.setdefault("space_id", 1001)
    kw.setdefault("workspace_id", 1002)
    kw.setdefault("credentials", Credentials.api_key("key_id", SECRET, source="test"))
    kw.setdefault("timeout", (20.0, 60.0))
    kw.setdefault("retry", RetryPolicy(sleep=lambda s: None, jitter=False))
    return OctaneClient(**kw)


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(SIGN_IN, headers={"Set-Cookie": "LWSSO_COOKIE_KEY=c00kie"})
        mock.get(TASK, json={"id": 7, "status": "queued"})
        yield mock


def test_every_request_carries_client_type_agent_accept_and_a_fresh_correlation_id(
    rsps: responses.RequestsMock,
) -> None:
    client = make_client(client_type="MY_TOOL")
    client.get_task(7)
    client.get_task(7)
    ids = []
    for call in rsps.calls:
        headers = call.request.headers
        assert headers["HPECLIENTTYPE"] == "MY_TOOL"
        assert headers["User-Agent"] == f"pytest-octane/{pytest_octane.__version__}"
        assert headers["Accept"] == "application/json"
        assert re.fullmatch(r"[0-9a-f]{32}", headers["X-Correlation-ID"])
        ids.append(headers["X-Correlation-ID"])
    assert len(rsps.calls) == 3
    assert len(set(ids)) == 3


def test_default_client_type(rsps: responses.RequestsMock) -> None:
    make_client().get_task(7)
    assert rsps.calls[0].request.headers["HPECLIENTTYPE"] == "PYTEST_OCTANE"


@pytest.mark.parametrize("value", ["HPE_CI_CLIENT", "hpe_x", "OCTANE_IDE_PLUGIN", "Octane"])
def test_reserved_client_type_prefixes_are_refused(value: str) -> None:
    with pytest.raises(ConfigError, match=r"reserves for its own clients \(HPE, OCTANE\)"):
        make_client(client_type=value)


@pytest.mark.parametrize("value", ["", "has space", "new\nline", "x" * 65])
def test_malformed_client_type_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="HPECLIENTTYPE header"):
        make_client(client_type=value)


def test_timeout_verify_and_proxies_go_to_every_request(
    rsps: responses.RequestsMock, tmp_path: Path
) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    proxies = {"https": "http://proxy.example.com:3128"}
    make_client(timeout=(5.0, 90.0), verify=str(bundle), proxies=proxies).get_task(7)
    for call in rsps.calls:
        kwargs = call.request.req_kwargs
        assert kwargs["timeout"] == (5.0, 90.0)
        assert kwargs["verify"] == str(bundle)
        assert dict(kwargs["proxies"]) == proxies


def test_the_job_client_takes_the_settings_timeouts_and_verifies_tls_by_default(
    rsps: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # requests would replace verify=True with these bundles (wanted in real use).
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    cli = {"url": SERVER, "space": 1001, "workspace": 1002}
    settings = resolve_settings(cli=cli, environ={}, ini={})
    credentials = Credentials.api_key("key_id", "s3cret", source="test")
    make_job_client(settings, credentials=credentials).get_task(7)
    sent = rsps.calls[1].request.req_kwargs
    assert sent["timeout"] == (settings.connect_timeout, settings.read_timeout) == (20.0, 120.0)
    assert sent["verify"] is True


def test_verify_false_warns_exactly_once_per_client(rsps: responses.RequestsMock) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = make_client(verify=False)
        client.get_task(7)
        client.get_task(7)
    ours = [w for w in caught if issubclass(w.category, InsecureConnectionWarning)]
    assert len(ours) == 1
    assert "verifySSL" in str(ours[0].message)
    assert ours[0].filename == __file__  # points at the caller, not at client.py
    assert rsps.calls[1].request.req_kwargs["verify"] is False


def test_missing_ca_bundle_is_a_config_error_naming_path_and_option(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "ca.pem"
    with pytest.raises(ConfigError) as info:
        make_client(verify=str(missing))
    assert str(info.value) == (
        f"the CA bundle '{missing}' given in verifySSL (verify_ssl) does not exist; give the "
        "path of a PEM file (or directory) with the CA certificates, or true"
    )


@pytest.mark.parametrize(
    "server", [SERVER, SERVER + "/", SERVER + "/shared_spaces/1001/workspaces/1002"]
)
def test_server_forms_give_the_same_base_url(server: str) -> None:
    client = make_client(server=server)
    assert client.server == SERVER
    assert client.base_url == BASE


def test_server_url_ids_must_agree_with_the_configured_ones() -> None:
    with pytest.raises(ConfigError, match="names workspace 9 but workspace 1002 was configured"):
        make_client(server=SERVER + "/api/shared_spaces/1001/workspaces/9")


@pytest.mark.parametrize(
    ("name", "value"), [("space_id", 0), ("workspace_id", "1002"), ("space_id", True)]
)
def test_ids_must_be_positive_integers(name: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"{name} must be a positive integer"):
        make_client(**{name: value})


@pytest.mark.parametrize("timeout", [(0, 10), (10,), (1.0, float("inf")), "30"])
def test_bad_timeouts_are_refused(timeout: object) -> None:
    with pytest.raises(ConfigError, match="timeout"):
        make_client(timeout=timeout)


def test_repr_shows_where_not_what() -> None:
    text = repr(make_client())
    assert SECRET not in text
    assert text == (
        "OctaneClient(server='https://octane.example.com', space_id=1001, workspace_id=1002, "
        "credentials=Credentials(client_id='key_id', client_secret=<hidden>, source='test'))"
    )


def test_a_misspelt_keyword_is_refused_not_ignored() -> None:
    with pytest.raises(TypeError, match=r"\['proxy'\]"):
        make_client(proxy="http://proxy.example.com:3128")
