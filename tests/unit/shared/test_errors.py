"""Error classes render RFC 6749 §5.2 / RFC 6750 §3 shapes."""

from __future__ import annotations

import json

from shared.errors import (
    InsufficientScopeError,
    InvalidClientError,
    InvalidGrantError,
    MissingTokenError,
    TemporarilyUnavailableError,
    oauth_error_response,
)


def test_errors_json_body_status_and_no_store() -> None:
    response = oauth_error_response(InvalidGrantError("code was already used"))
    assert response.status_code == 400
    assert json.loads(response.body) == {
        "error": "invalid_grant",
        "error_description": "code was already used",
    }
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    assert "www-authenticate" not in response.headers


def test_errors_invalid_client_carries_the_challenge_it_was_given() -> None:
    response = oauth_error_response(InvalidClientError("nope", challenge='Basic realm="oauth"'))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Basic realm="oauth"'


def test_errors_bearer_challenges_follow_rfc_6750() -> None:
    error = InsufficientScopeError("needs more", realm="api", scope="profile email")
    assert error.status_code == 403
    assert error.challenge == (
        'Bearer realm="api", error="insufficient_scope", error_description="needs more", scope="profile email"'
    )
    missing = MissingTokenError(realm="api")
    assert missing.challenge == 'Bearer realm="api"' and missing.to_dict() == {
        "error_description": "a bearer access token is required"
    }


def test_errors_temporarily_unavailable_has_retry_after() -> None:
    response = oauth_error_response(TemporarilyUnavailableError(retry_after=3))
    assert response.status_code == 503 and response.headers["retry-after"] == "3"
