"""Token exchange's pure rules: the `act` chain (RFC 8693 §4.1) and the audience (§2.1, §2.2.2)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from auth_service.oauth.grants.token_exchange import MAX_ACT_DEPTH, actor_chain
from auth_service.oauth.tokens import TokenPolicy
from shared.claims import AccessTokenClaims
from shared.errors import InvalidRequestError
from shared.models import Client

AUDIENCE = "https://api.example"
POLICY = TokenPolicy(
    issuer="https://issuer.example",
    audience=AUDIENCE,
    access_token_ttl=900,
    id_token_ttl=300,
    refresh_token_ttl=86400,
    refresh_token_idle_ttl=3600,
)


def claims(sub: str, **extra: Any) -> AccessTokenClaims:
    return AccessTokenClaims(
        iss=POLICY.issuer,
        sub=sub,
        aud=extra.pop("aud", AUDIENCE),
        client_id="app",
        iat=0,
        exp=900,
        jti=sub,
        **extra,
    )


def service_client() -> Client:
    now = datetime.now(UTC)
    return Client(client_id="svc", name="svc", created_at=now, updated_at=now)


def chain(depth: int) -> dict[str, Any]:
    act: dict[str, Any] = {"sub": "actor-1"}
    for n in range(2, depth + 1):
        act = {"sub": f"actor-{n}", "act": act}
    return act


def test_actor_chain_without_actor_keeps_the_subjects_act() -> None:
    assert actor_chain(claims("user"), None) is None
    assert actor_chain(claims("user", act={"sub": "svc"}), None) == {"sub": "svc"}


def test_actor_chain_actor_of_a_delegated_token_nests_the_earlier_one() -> None:
    subject = claims("user", act={"sub": "svc-a"})

    assert actor_chain(subject, claims("svc-b")) == {"sub": "svc-b", "act": {"sub": "svc-a"}}


def test_actor_chain_ignores_the_actor_tokens_own_act() -> None:
    # RFC 8693 §4.1: the chain is the subject's; the actor token only says who acts now.
    actor = claims("svc-b", act={"sub": "someone"})

    assert actor_chain(claims("user"), actor) == {"sub": "svc-b"}


def test_actor_chain_longer_than_the_limit_is_invalid_request() -> None:
    assert actor_chain(claims("user", act=chain(MAX_ACT_DEPTH - 1)), claims("svc")) is not None
    with pytest.raises(InvalidRequestError) as raised:
        actor_chain(claims("user", act=chain(MAX_ACT_DEPTH)), claims("svc"))
    assert raised.value.description == "the delegation chain of the subject_token is too long"
