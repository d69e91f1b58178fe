"""How /account/sessions and the sign-in notice name a browser from its User-Agent, and which
relying party (RP ID, origin) passkeys get from the issuer."""

from __future__ import annotations

import pytest

from auth_service.identity.browsers import MAX_USER_AGENT, BrowserInfo, describe
from auth_service.identity.passkeys import RelyingParty


@pytest.mark.parametrize(
    ("agent", "name"),
    [
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
            "Edge on Windows",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
            "Gecko) Version/18.1 Safari/605.1.15",
            "Safari on macOS",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Mobile Safari/537.36",
            "Chrome on Android",
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
            "Firefox on Linux",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
            "like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
            "Chrome on iPhone",
        ),
        (
            # Chromium without a screen (the browser tests' own) is still Chrome, not Safari.
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "HeadlessChrome/156.0.0.0 Safari/537.36",
            "Chrome on Linux",
        ),
        ("curl/8.5.0", "curl"),
        ("Mozilla/5.0 (X11; Linux x86_64)", "A browser on Linux"),
        ("", "An unknown browser"),
        (None, "An unknown browser"),
    ],
)
def test_describe(agent: str | None, name: str) -> None:
    assert describe(agent) == name


def test_a_long_user_agent_is_cut_and_an_empty_one_is_none() -> None:
    assert BrowserInfo.of("x" * 5000, "192.0.2.1").user_agent == "x" * MAX_USER_AGENT
    assert BrowserInfo.of("", None) == BrowserInfo(None, None)


@pytest.mark.parametrize(
    ("issuer", "rp"),
    [
        ("https://Login.Example.com", ("login.example.com", "https://login.example.com")),
        ("https://login.example.com:443/auth", ("login.example.com", "https://login.example.com")),
        ("http://localhost:8000", ("localhost", "http://localhost:8000")),
        ("http://127.0.0.1:8000", None),
        ("http://[::1]:8000", None),
    ],
)
def test_the_passkey_relying_party_comes_from_the_issuer(
    issuer: str, rp: tuple[str, str] | None
) -> None:
    party = RelyingParty.of(issuer)

    assert (None if party is None else (party.id, party.origin)) == rp
