"""Which redirect URIs may be registered (RFC 6749 §3.1.2, RFC 8252 §7, RFC 9700 §4.1)."""

from __future__ import annotations

import pytest

from auth_service.security.redirect_uris import display_host, redirect_uri_problem


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example/callback",
        "https://app.example:8443/cb?tenant=1",
        "http://localhost/cb",
        "http://localhost:3000/cb",
        "http://127.0.0.1:8002/auth/callback",
        "http://[::1]:9000/cb",
        "com.example.app:/oauth2redirect",
    ],
)
def test_redirect_uri_allowed(uri: str) -> None:
    assert redirect_uri_problem(uri) is None


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("/relative/cb", "absolute"),
        ("https://app.example/cb#frag", "fragment"),
        ("https://*.example/cb", "wildcard"),
        ("http://app.example/cb", "localhost"),
        ("http://localhost.evil.example/cb", "localhost"),
        ("http://user@localhost/cb", "localhost"),
        ("javascript:alert(1)", "javascript"),
        ("data:text/html,hi", "data"),
        ("myapp:/cb", "reverse domain"),
        ("https://app.example/c b", "spaces"),
        ("https:///nohost", "host"),
    ],
)
def test_redirect_uri_refused_with_reason(uri: str, reason: str) -> None:
    problem = redirect_uri_problem(uri)
    assert problem is not None and reason in problem


@pytest.mark.parametrize(
    ("uri", "host"),
    [
        ("https://client.example/signed-out", "client.example"),
        ("https://trusted.example@evil.example:8443/x", "evil.example:8443"),  # credentials first
        ("https://ex\u00e4mple.com/", "xn--exmple-cua.com"),  # IDNA, not look-alike letters
        ("https://\u0430pple.com/", "xn--pple-43d.com"),  # Cyrillic a
        ("http://[::1]:8080/cb", "[::1]:8080"),
        ("com.example.app:/callback", "com.example.app"),  # RFC 8252 §7.1 private-use scheme
        ("https://bad.example:99999/", "an unreadable address"),
    ],
)
def test_redirect_uris_display_host_is_where_the_browser_really_goes(uri: str, host: str) -> None:
    assert display_host(uri) == host
