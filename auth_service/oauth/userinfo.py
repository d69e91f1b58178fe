"""The UserInfo endpoint's rules (OIDC Core §5.3): which claims a token's scopes release."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from auth_service.repositories import Repositories
from shared.claims import AccessTokenClaims
from shared.errors import (
    BearerRequestError,
    InsufficientScopeError,
    InvalidTokenError,
    MissingTokenError,
)
from shared.models import User
from shared.tokens import VerificationKeys, decode_access_token

REALM = "myauth-userinfo"


def validate_token_location(header_token: str | None, form_token: str | None) -> str:
    """RFC 6750 §2: the token comes in the Authorization header (§2.1) or the form body (§2.2).
    More than one method is invalid_request; none at all gets a bare challenge (§3.1)."""
    if form_token is None:
        if header_token is None:
            raise MissingTokenError(realm=REALM)
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
    if "openid" not in claims.scopes:
        raise InsufficientScopeError("userinfo needs the openid scope", realm=REALM, scope="openid")
    user = await repos.users.get_by_id(claims.sub)
    if user is None:
        raise InvalidTokenError("the access token does not belong to a user", realm=REALM)
    return claims, user


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
