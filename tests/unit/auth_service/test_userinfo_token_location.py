"""Where the UserInfo endpoint takes the access token from: one method only (RFC 6750 §2)."""

from __future__ import annotations

import pytest

from auth_service.oauth.userinfo import REALM, validate_token_location
from shared.errors import BearerRequestError, MissingTokenError


def test_userinfo_token_in_header_only_is_used() -> None:
    assert validate_token_location("from-header", None) == "from-header"


def test_userinfo_token_in_body_only_is_used() -> None:
    assert validate_token_location(None, "from-body") == "from-body"


def test_userinfo_token_in_header_and_body_returns_invalid_request() -> None:
    with pytest.raises(BearerRequestError) as caught:
        validate_token_location("from-header", "from-body")

    assert caught.value.status_code == 400
    assert caught.value.to_dict() == {
        "error": "invalid_request",
        "error_description": "send the access token in one place only",
    }
    assert caught.value.headers()["WWW-Authenticate"] == (
        f'Bearer realm="{REALM}", error="invalid_request", '
        'error_description="send the access token in one place only"'
    )


def test_userinfo_token_nowhere_returns_challenge_without_error_code() -> None:
    with pytest.raises(MissingTokenError) as caught:
        validate_token_location(None, None)

    assert caught.value.status_code == 401
    assert caught.value.to_dict() == {"error_description": "a bearer access token is required"}
    # RFC 9449 §7.1: one challenge per scheme the endpoint takes.
    assert caught.value.headers()["WWW-Authenticate"] == (
        f'Bearer realm="{REALM}", DPoP realm="{REALM}", algs="ES256 PS256 EdDSA RS256"'
    )
