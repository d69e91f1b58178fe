"""Resource identifiers (RFC 8707 §2): absolute URIs (RFC 3986 §4.3) without a fragment."""

from __future__ import annotations

import pytest

from auth_service.oauth.resources import resource_uri_problem

NOT_ABSOLUTE = "must be an absolute URI (RFC 8707 section 2)"


@pytest.mark.parametrize(
    "uri",
    [
        "https://api.example",
        "https://api.example/v1/notes?tenant=1",
        "http://127.0.0.1:8001",
        "urn:example:notes",
        "https://[::1]:8443/api",
    ],
)
def test_resource_uri_absolute_without_fragment_is_accepted(uri: str) -> None:
    assert resource_uri_problem(uri) is None


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("", "must be an absolute URI of at most 2000 characters"),
        ("https://a.example/" + "x" * 2000, "must be an absolute URI of at most 2000 characters"),
        ("/relative", NOT_ABSOLUTE),
        ("api.example", NOT_ABSOLUTE),
        ("1http://api.example", NOT_ABSOLUTE),
        ("urn:", NOT_ABSOLUTE),
        ("https://api.example/a b", NOT_ABSOLUTE),
        ("https://api.example/\u00e9", NOT_ABSOLUTE),
        ("https://api.example/\x00", NOT_ABSOLUTE),
        ("https://api.example/#", "must not contain a fragment (RFC 8707 section 2)"),
        ("https://api.example/#top", "must not contain a fragment (RFC 8707 section 2)"),
        ("https:///path", "must be an absolute URI with a host (RFC 8707 section 2)"),
        ("https://[::1/api", "must be an absolute URI with a host (RFC 8707 section 2)"),
    ],
)
def test_resource_uri_problem_names_what_is_wrong(uri: str, problem: str) -> None:
    assert resource_uri_problem(uri) == problem
