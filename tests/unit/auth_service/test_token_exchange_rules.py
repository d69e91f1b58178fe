"""Token exchange's pure rules: the `act` chain (RFC 8693 §4.1) and the audience (§2.1, §2.2.2)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from auth_service.oauth.grants.token_exchange import MAX_ACT_DEPTH, actor_chain, exchange_audience
from auth_service.oauth.tokens import TokenPolicy
from shared.claims import AccessTokenClaims
from shared.errors import InvalidRequestError, InvalidTargetError
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


async def test_exchange_audience_default_named_or_inherited_is_the_default() -> None:
    client = service_client()
    subject = claims("user")
    for audience, resource in (
        (None, None),
        (AUDIENCE, None),
        (None, AUDIENCE),
        (AUDIENCE, AUDIENCE),
    ):
        found = await exchange_audience(
            None,  # type: ignore[arg-type]  # no registry yet: repositories unused
            POLICY,
            client,
            audience=audience,
            resource=resource,
            subject=subject,
        )
        assert found is None


@pytest.mark.parametrize(
    ("audience", "resource", "subject_aud"),
    [
        ("https://other.example", None, AUDIENCE),
        (None, "https://other.example", AUDIENCE),
        (None, None, "https://other.example"),
        (None, None, [AUDIENCE, "https://other.example"]),
    ],
)
async def test_exchange_audience_any_other_target_is_invalid_target(
    audience: str | None, resource: str | None, subject_aud: str | list[str]
) -> None:
    client = service_client()
    with pytest.raises(InvalidTargetError):
        await exchange_audience(
            None,  # type: ignore[arg-type]
            POLICY,
            client,
            audience=audience,
            resource=resource,
            subject=claims("user", aud=subject_aud),
        )
