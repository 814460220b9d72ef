"""The opt-in plugin's fixtures, and driving a simulator from a pytest subprocess."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_octane.simulator import Simulator


def test_fixtures_start_and_stop_simulators(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        import requests

        SEEN = []

        def test_default(octane_simulator):
            assert octane_simulator.url.startswith("http://127.0.0.1:")
            SEEN.append(octane_simulator)
            answer = requests.post(octane_simulator.url + "/authentication/sign_in",
                                   json={"client_id": "sim-client", "client_secret": "sim-secret"})
            assert answer.status_code == 200

        @pytest.mark.octane_simulator(space_id=7, queue_limit=3, processing_ms=0)
        def test_marker_kwargs(octane_simulator):
            assert octane_simulator.space_id == 7
            assert octane_simulator.api_url.endswith("/api/shared_spaces/7/workspaces/1002")

        def test_factory(octane_simulator_factory):
            first = octane_simulator_factory(workspace_id=5)
            second = octane_simulator_factory(workspace_id=6)
            assert first.url != second.url
            SEEN.extend([first, second])

        def test_everything_was_stopped():
            import requests
            for sim in SEEN:
                with pytest.raises(requests.ConnectionError):
                    requests.get(sim.url + "/api", timeout=2)
        """
    )
    result = pytester.runpytest("-p", "pytest_octane.testing")
    result.assert_outcomes(passed=4)


def test_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("-p", "pytest_octane.testing", "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.octane_simulator(**kwargs)*"])


def test_a_simulator_bug_fails_the_teardown(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_bug(octane_simulator):
            octane_simulator.internal_errors.append("Traceback: simulated bug")
        """
    )
    result = pytester.runpytest("-p", "pytest_octane.testing")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*simulator hit an internal error*"])


def test_pytest_in_a_subprocess_drives_the_simulator(
    pytester: pytest.Pytester, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The out-of-process use: another pytest talks HTTP only, control endpoint included."""
    monkeypatch.setenv("SIM_URL", sim.url)
    monkeypatch.setenv("SIM_API", sim.api_url)
    pytester.makepyfile(
        """
        import os
        import requests

        URL, API = os.environ["SIM_URL"], os.environ["SIM_API"]
        XML = (b"<test_result><test_runs><test_run name='t' duration='1' status='Passed'/>"
               b"</test_runs></test_result>")

        def test_upload_through_a_fault():
            session = requests.Session()
            session.post(URL + "/authentication/sign_in",
                         json={"client_id": "sim-client", "client_secret": "sim-secret"})
            requests.post(URL + "/__simulator__/faults", json={
                "action": "fail_next", "match": "POST */test-results", "status": 503,
                "error_code": "testbox.queue_full"}).raise_for_status()
            headers = {"Content-Type": "application/xml"}
            first = session.post(API + "/test-results", data=XML, headers=headers)
            assert first.status_code == 503
            second = session.post(API + "/test-results", data=XML, headers=headers)
            assert second.status_code == 202
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    sim.wait_for_tasks()
    assert [r["name"] for r in sim.runs()] == ["t"]
    assert [r.status for r in sim.request_log if r.method == "POST"] == [200, 503, 202]


def test_context_manager_and_addresses() -> None:
    simulator = Simulator(port=0)
    with pytest.raises(RuntimeError, match="not started"):
        _ = simulator.url
    with simulator as running:
        assert running is simulator
        assert simulator.api_url == (f"{simulator.url}/api/shared_spaces/1001/workspaces/1002")
        with pytest.raises(RuntimeError, match="already started"):
            simulator.start()
    simulator.stop()  # stopping twice is harmless


@pytest.mark.parametrize(
    "kwargs",
    [
        {"queue_limit": 0},
        {"processing_ms": -1},
        {"default_limit": 3000},
        {"rotate_cookie_every": -1},
        {"dedup_status": 201},
        {"stories": [{"id": 1}]},
    ],
)
def test_bad_constructor_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Simulator(**kwargs)


def test_seeded_ids_are_deterministic() -> None:
    def run() -> tuple[list[int], str]:
        sim = Simulator(stories=["A", "B"], seed=3)
        ids = [sim.add_application_module("M"), sim.add_story("C"), sim.add_test_suite("S")]
        with sim:
            return ids, sim._correlation_id()

    assert run() == run()


def test_https_with_a_given_ssl_context(tmp_path: Any) -> None:
    trustme = pytest.importorskip("trustme")
    import ssl

    import requests

    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    with Simulator(ssl_context=server_context) as sim:
        assert sim.url.startswith("https://")
        answer = requests.post(
            f"{sim.url}/authentication/sign_in",
            json={"client_id": "sim-client", "client_secret": "sim-secret"},
            verify=str(bundle),
            timeout=10,
        )
        assert answer.status_code == 200
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(sim.url + "/api", timeout=10)  # untrusted without the CA bundle
