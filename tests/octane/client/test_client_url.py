"""parse_octane_url and quote_query_value: pure helpers of the client module."""

from __future__ import annotations

import pytest

from pytest_octane.errors import ConfigError
from pytest_octane.octane.client import parse_octane_url, quote_query_value


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://octane.example.com", ("https://octane.example.com", None, None)),
        ("https://octane.example.com/", ("https://octane.example.com", None, None)),
        ("  HTTPS://Octane.Example.com:8443/  ", ("https://octane.example.com:8443", None, None)),
        ("http://127.0.0.1:8080", ("http://127.0.0.1:8080", None, None)),
        ("https://octane.example.com/api", ("https://octane.example.com", None, None)),
        (
            "https://octane.server.com/shared_spaces/1001/workspaces/1002",
            ("https://octane.server.com", 1001, 1002),
        ),
        (
            "https://octane.server.com/shared_spaces/1001/workspaces/1002/",
            ("https://octane.server.com", 1001, 1002),
        ),
        (
            "https://octane.server.com/api/shared_spaces/1001/workspaces/1002",
            ("https://octane.server.com", 1001, 1002),
        ),
        (
            "https://octane.server.com/api/shared_spaces/1001",
            ("https://octane.server.com", 1001, None),
        ),
        (
            "https://host.example.com/octane/shared_spaces/3/workspaces/4",
            ("https://host.example.com/octane", 3, 4),
        ),
        ("https://octane.example.com/ui/?p=1001/1002", ("https://octane.example.com", 1001, 1002)),
        (
            "https://octane.example.com/ui/?admin&p=1001/1002#/release/2",
            ("https://octane.example.com", 1001, 1002),
        ),
        ("https://octane.example.com/ui/", ("https://octane.example.com", None, None)),
        ("http://[::1]:8080/", ("http://[::1]:8080", None, None)),
    ],
)
def test_accepted_forms(url: str, expected: tuple[str, int | None, int | None]) -> None:
    assert parse_octane_url(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "",
            "the Octane server URL is empty; expected the Octane root such as "
            "https://octane.example.com",
        ),
        (
            "octane.example.com",
            "Octane URL 'octane.example.com' does not start with http:// or https:// and a "
            "host name; expected",
        ),
        ("ftp://octane.example.com", "does not start with http:// or https://"),
        ("https://", "does not start with http:// or https:// and a host name"),
        (
            "https://octane.example.com/login",
            "Octane URL 'https://octane.example.com/login' has an unexpected path '/login'; "
            "expected the Octane root such as https://octane.example.com, optionally followed "
            "by /shared_spaces/<space id>/workspaces/<workspace id> (with or without /api), "
            "or the UI address https://octane.example.com/ui/?p=<space id>/<workspace id>",
        ),
        (
            "https://octane.example.com/shared_spaces/abc/workspaces/1",
            "the shared space id 'abc' in Octane URL",
        ),
        (
            "https://octane.example.com/shared_spaces/1/workspaces/0",
            "the workspace id '0' in Octane URL",
        ),
        (
            "https://octane.example.com/ui/?p=1001",
            "has p='1001'; expected p=<space id>/<workspace id>",
        ),
        ("https://octane.example.com/?x=1", "has an unexpected query 'x=1'"),
        ("https://octane.example.com:99999", "is not a valid URL"),
    ],
)
def test_refused_forms_say_what_was_expected(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_octane_url(url)
    assert message in str(info.value)


def test_user_info_is_refused_without_echoing_the_password() -> None:
    with pytest.raises(ConfigError) as info:
        parse_octane_url("https://bob:hunter22@octane.example.com/")
    assert "hunter22" not in str(info.value)
    assert "'https://<hidden>@octane.example.com/' contains a user name or password" in str(
        info.value
    )


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("PROJ-123", "'PROJ-123'"),
        ("", "''"),
        ("it's", "'it\\'s'"),
        ('say "hi"', "'say \\\"hi\\\"'"),
        ("caret^only", "'caret^only'"),
        ("a\\b", "'a\\\\b'"),
        ("f(x)", "'f\\(x\\)'"),
        ("it's ^", "'it\\'s ^'"),
    ],
)
def test_quote_query_value_escapes_like_the_ci_sdk(value: str, quoted: str) -> None:
    assert quote_query_value(value) == quoted
