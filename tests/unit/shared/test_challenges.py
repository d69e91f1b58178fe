"""WWW-Authenticate challenges carry RFC 9728 §5.1 `resource_metadata` next to the realm."""

from __future__ import annotations

from shared.dpop_auth import as_dpop_challenge, missing_token
from shared.errors import (
    DpopChallengeError,
    InsufficientScopeError,
    InvalidTokenError,
    MissingTokenError,
    UseDpopNonceError,
)
from tests.support.challenges import parse_challenges

METADATA = "https://api.example/.well-known/oauth-protected-resource"


def test_challenges_bearer_error_names_the_metadata_after_the_scope() -> None:
    error = InsufficientScopeError(
        "needs more", realm="api", scope="write:notes", resource_metadata=METADATA
    )

    assert parse_challenges(error.challenge or "") == [
        (
            "Bearer",
            {
                "realm": "api",
                "error": "insufficient_scope",
                "error_description": "needs more",
                "scope": "write:notes",
                "resource_metadata": METADATA,
            },
        )
    ]


def test_challenges_without_metadata_stay_as_they_were() -> None:
    assert InvalidTokenError("bad", realm="api").challenge == (
        'Bearer realm="api", error="invalid_token", error_description="bad"'
    )
    assert MissingTokenError(realm="api").challenge == 'Bearer realm="api"'


def test_challenges_missing_token_offers_both_schemes_with_scope_and_metadata() -> None:
    error = missing_token("api", "ES256 RS256", resource_metadata=METADATA, scope="read:notes")

    assert parse_challenges(error.challenge or "") == [
        ("Bearer", {"realm": "api", "scope": "read:notes", "resource_metadata": METADATA}),
        (
            "DPoP",
            {
                "realm": "api",
                "scope": "read:notes",
                "algs": "ES256 RS256",
                "resource_metadata": METADATA,
            },
        ),
    ]


def test_challenges_as_dpop_takes_the_scope_as_a_value_not_from_the_header_text() -> None:
    # The metadata URL follows the scope in the Bearer challenge: reading the scope back out of
    # the header's text would swallow it (or, with 'scope="' in the URL, cut it short).
    tricky = 'https://api.example/x?scope="y/.well-known/oauth-protected-resource'
    bearer = InsufficientScopeError(
        "needs more", realm="api", scope="write:notes", resource_metadata=tricky
    )

    error = as_dpop_challenge(bearer, realm="api", algs="ES256", resource_metadata=METADATA)

    assert isinstance(error, DpopChallengeError)
    assert error.status_code == 403
    assert parse_challenges(error.challenge or "") == [
        (
            "DPoP",
            {
                "realm": "api",
                "error": "insufficient_scope",
                "error_description": "needs more",
                "scope": "write:notes",
                "algs": "ES256",
                "resource_metadata": METADATA,
            },
        )
    ]


def test_challenges_as_dpop_keeps_the_nonce_and_names_the_metadata() -> None:
    error = as_dpop_challenge(
        UseDpopNonceError(nonce="n-1"), realm="api", algs="ES256", resource_metadata=METADATA
    )

    assert error.headers()["DPoP-Nonce"] == "n-1"
    assert parse_challenges(error.challenge or "")[0][1]["resource_metadata"] == METADATA
