"""The initial access token of dynamic registration (RFC 7591 §3; RFC 6750 §2.1, §3)."""

from __future__ import annotations

import pytest

from auth_service.oauth.registration import REALM, validate_initial_access_token
from shared.errors import InvalidTokenError, MissingTokenError, OAuthError

EXPECTED = "initial-access-token-for-tests-0123456789"  # noqa: S105 - test credential


def refusal(authorization: str | None) -> OAuthError:
    with pytest.raises(OAuthError) as caught:
        validate_initial_access_token(authorization, EXPECTED)
    return caught.value


def test_initial_access_token_not_configured_accepts_any_request() -> None:
    validate_initial_access_token(None, None)
    validate_initial_access_token("Bearer anything", None)


def test_initial_access_token_matching_bearer_is_accepted() -> None:
    validate_initial_access_token(f"Bearer {EXPECTED}", EXPECTED)


@pytest.mark.parametrize("authorization", [None, "", f"Basic {EXPECTED}"])
def test_initial_access_token_missing_returns_challenge_without_error_code(
    authorization: str | None,
) -> None:
    error = refusal(authorization)

    assert isinstance(error, MissingTokenError)
    assert error.status_code == 401
    assert error.to_dict() == {"error_description": "a bearer access token is required"}
    assert error.headers()["WWW-Authenticate"] == f'Bearer realm="{REALM}"'


@pytest.mark.parametrize("token", ["wrong", EXPECTED + "x", EXPECTED[:-1]])
def test_initial_access_token_wrong_token_returns_invalid_token(token: str) -> None:
    error = refusal(f"Bearer {token}")

    assert isinstance(error, InvalidTokenError)
    assert error.status_code == 401
    assert error.to_dict() == {
        "error": "invalid_token",
        "error_description": "the initial access token is not valid",
    }
    assert error.headers()["WWW-Authenticate"] == (
        f'Bearer realm="{REALM}", error="invalid_token", '
        'error_description="the initial access token is not valid"'
    )
