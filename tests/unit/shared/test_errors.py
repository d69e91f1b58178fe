"""Error classes render RFC 6749 §5.2 / RFC 6750 §3 shapes."""

from __future__ import annotations

import json

import pytest

from shared.errors import (
    PROTOCOL_TEXT_CHARACTERS,
    BearerTokenError,
    DpopChallengeError,
    InsufficientScopeError,
    InvalidClientError,
    InvalidGrantError,
    MissingTokenError,
    OAuthError,
    TemporarilyUnavailableError,
    UseDpopNonceError,
    oauth_error_response,
    protocol_text,
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


# --- RFC 6749 §4.1.2.1 / §5.2 and RFC 6750 §3: the characters a text may hold ---

HOSTILE = 'scope "x\\y" caf\u00e9 \u00a7 tab\there\r\nnul\x00 del\x7f'
REDUCED = "scope 'x?y' caf? ? tab?here??nul? del?"


def _all_error_classes(cls: type[OAuthError] = OAuthError) -> list[type[OAuthError]]:
    # Only shared.errors' own classes: which other modules are imported depends on the run.
    below = [c for sub in cls.__subclasses__() for c in _all_error_classes(sub)]
    return [cls, *(c for c in below if c.__module__ == "shared.errors")]


def _challenge_values(challenge: str) -> list[str]:
    # Every value is a quoted-string holding no quote, so splitting on quotes finds them all.
    return challenge.split('"')[1::2]


def test_errors_protocol_text_keeps_the_allowed_set_and_reduces_the_rest() -> None:
    allowed = "".join(sorted(PROTOCOL_TEXT_CHARACTERS))

    assert protocol_text(allowed) == allowed
    assert protocol_text(HOSTILE) == REDUCED
    assert [chr(c) for c in range(0x80) if chr(c) in PROTOCOL_TEXT_CHARACTERS] == [
        chr(c) for c in (0x20, 0x21, *range(0x23, 0x5C), *range(0x5D, 0x7F))
    ]


@pytest.mark.parametrize("cls", _all_error_classes(), ids=lambda cls: cls.__name__)
def test_errors_every_error_class_reduces_its_description_in_body_and_challenge(
    cls: type[OAuthError],
) -> None:
    error: OAuthError
    if cls is MissingTokenError:
        error = MissingTokenError(realm=HOSTILE)
    elif cls is UseDpopNonceError:
        error = UseDpopNonceError(HOSTILE, nonce="n")
    elif cls is DpopChallengeError:
        error = DpopChallengeError("invalid_token", HOSTILE, realm=HOSTILE, algs="ES256")
    else:
        error = cls(HOSTILE)

    response = oauth_error_response(error)

    body = json.loads(response.body)
    assert body.get("error_description") == (
        REDUCED if cls is not MissingTokenError else MissingTokenError.default_description
    )
    for value in body.values():
        assert PROTOCOL_TEXT_CHARACTERS.issuperset(value)
    challenge = response.headers.get("www-authenticate")
    if issubclass(cls, BearerTokenError | MissingTokenError | DpopChallengeError):
        assert challenge is not None and challenge.count('"') % 2 == 0
        assert "\\" not in challenge
        assert all(PROTOCOL_TEXT_CHARACTERS.issuperset(v) for v in _challenge_values(challenge))


def test_errors_bearer_challenge_reduces_description_scope_and_realm() -> None:
    error = InsufficientScopeError('needs "more"\\', realm='a"pi', scope="notes:read caf\u00e9")

    assert error.challenge == (
        'Bearer realm="a\'pi", error="insufficient_scope", '
        'error_description="needs \'more\'?", scope="notes:read caf?"'
    )
    assert error.to_dict() == {
        "error": "insufficient_scope",
        "error_description": "needs 'more'?",
    }
