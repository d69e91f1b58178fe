"""The UserInfo endpoint's rules (OIDC Core §5.3): which claims a token's scopes release."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from auth_service.clients.metadata_documents import document_client_unknown
from auth_service.oauth.dpop import DpopPolicy, validate_dpop_request
from auth_service.repositories import Repositories
from shared.claims import AccessTokenClaims
from shared.dpop import DPOP_ALGORITHMS
from shared.dpop_auth import as_dpop_challenge, missing_token
from shared.errors import (
    BearerRequestError,
    DpopChallengeError,
    InsufficientScopeError,
    InvalidDpopProofError,
    InvalidTokenError,
    OAuthError,
)
from shared.models import User
from shared.replay import ReplayGuard
from shared.tokens import VerificationKeys, decode_access_token

REALM = "myauth-userinfo"
ALGS = " ".join(DPOP_ALGORITHMS)


def validate_token_location(header_token: str | None, form_token: str | None) -> str:
    """RFC 6750 §2: the token comes in the Authorization header (§2.1) or the form body (§2.2).
    More than one method is invalid_request; none at all gets a bare challenge (§3.1)."""
    if form_token is None:
        if header_token is None:
            raise missing_token(REALM, " ".join(DPOP_ALGORITHMS))
        return header_token
    if header_token is not None:
        raise BearerRequestError("send the access token in one place only", realm=REALM)
    return form_token


async def validate_userinfo_token(
    repos: Repositories,
    token: str,
    *,
    keys: VerificationKeys,
    issuer: str,
    audience: str,
    now: datetime,
    leeway: int,
    document_clients: bool = True,
) -> tuple[AccessTokenClaims, User]:
    """RFC 6750 §3.1 errors: a bad or revoked token is invalid_token; no `openid` is insufficient_scope."""
    try:
        claims = await decode_access_token(
            token, keys=keys, issuer=issuer, audience=audience, now=now, leeway=leeway
        )
    except InvalidTokenError as exc:
        raise InvalidTokenError(exc.description, realm=REALM) from None
    if await repos.revocations.is_revoked(
        jti=claims.jti, grant_id=claims.grant_id, client_id=claims.client_id, now=now
    ):
        raise InvalidTokenError("the access token was revoked", realm=REALM)
    if await document_client_unknown(repos, claims.client_id, enabled=document_clients):
        raise InvalidTokenError("the access token's client is unknown", realm=REALM)
    if "openid" not in claims.scopes:
        raise InsufficientScopeError("userinfo needs the openid scope", realm=REALM, scope="openid")
    user = await repos.users.get_by_id(claims.sub)
    if user is None:
        raise InvalidTokenError("the access token does not belong to a user", realm=REALM)
    return claims, user


async def validate_userinfo_dpop(
    repos: Repositories,
    token: str,
    proof_values: Sequence[str],
    *,
    keys: VerificationKeys,
    issuer: str,
    audience: str,
    now: datetime,
    leeway: int,
    method: str,
    policy: DpopPolicy,
    replay_guard: ReplayGuard | None,
    document_clients: bool = True,
) -> tuple[AccessTokenClaims, User]:
    """RFC 9449 §7.1 at the UserInfo endpoint: a DPoP-bound token with a proof of its key for
    this request; every refusal is a DPoP challenge."""
    try:
        claims, user = await validate_userinfo_token(
            repos,
            token,
            keys=keys,
            issuer=issuer,
            audience=audience,
            now=now,
            leeway=leeway,
            document_clients=document_clients,
        )
        if claims.dpop_jkt is None:
            raise InvalidTokenError("the access token is not DPoP-bound: send it as Bearer")
        proof = await validate_dpop_request(
            proof_values,
            method=method,
            url=f"{issuer}/oauth/userinfo",
            policy=policy,
            repos=repos,
            replay_guard=replay_guard,
            now=now,
            access_token=token,
        )
        if proof is None:
            raise InvalidDpopProofError("a DPoP proof is required with a DPoP access token")
        if proof.jkt != claims.dpop_jkt:
            raise InvalidDpopProofError("the DPoP proof key is not the key the token is bound to")
    except OAuthError as error:
        raise as_dpop_challenge(error, realm=REALM, algs=ALGS) from None
    return claims, user


def refuse_bound_bearer(claims: AccessTokenClaims) -> None:
    """RFC 9449 §7.2: a DPoP-bound token is never accepted as a bearer token."""
    if claims.dpop_jkt is not None:
        raise DpopChallengeError(
            "invalid_token",
            "the access token is DPoP-bound: send it with the DPoP scheme and a proof",
            realm=REALM,
            algs=ALGS,
        )


def userinfo_claims(user: User, scopes: frozenset[str]) -> dict[str, Any]:
    """OIDC Core §5.4: `sub` always; profile and email claims only for their scopes."""
    claims: dict[str, Any] = {"sub": user.id}
    if "profile" in scopes:
        claims.update(
            name=user.name,
            preferred_username=user.username,
            updated_at=int(user.updated_at.timestamp()),
        )
    if "email" in scopes:
        claims.update(email=user.email, email_verified=user.email_verified)
    return claims
