"""Token introspection (RFC 7662): what a resource server may learn about a token we issued."""

from __future__ import annotations

from datetime import datetime

from auth_service.repositories import Repositories
from auth_service.security.secrets import hash_token
from shared.errors import InvalidTokenError
from shared.schemas import IntrospectionResponse
from shared.tokens import VerificationKeys, decode_access_token

INACTIVE = IntrospectionResponse(active=False)


async def introspect(
    repos: Repositories,
    *,
    token: str,
    token_type_hint: str | None,
    keys: VerificationKeys,
    issuer: str,
    audience: str,
    now: datetime,
) -> IntrospectionResponse:
    """RFC 7662 §2.2: unknown, expired, revoked or foreign tokens are simply `active: false`."""
    looks_like_jwt = token.count(".") == 2
    if looks_like_jwt and token_type_hint != "refresh_token":
        return await _access_token(repos, token, keys, issuer, audience, now)
    response = await _refresh_token(repos, token, issuer, now)
    if not response.active and looks_like_jwt:
        return await _access_token(repos, token, keys, issuer, audience, now)
    return response


async def _access_token(
    repos: Repositories,
    token: str,
    keys: VerificationKeys,
    issuer: str,
    audience: str,
    now: datetime,
) -> IntrospectionResponse:
    try:
        claims = await decode_access_token(
            token, keys=keys, issuer=issuer, audience=audience, now=now, leeway=0
        )
    except InvalidTokenError:
        return INACTIVE
    if await repos.revocations.is_revoked(
        jti=claims.jti, grant_id=claims.grant_id, client_id=claims.client_id, now=now
    ):
        return INACTIVE
    user = await repos.users.get_by_id(claims.sub)
    return IntrospectionResponse(
        active=True,
        scope=claims.scope,
        client_id=claims.client_id,
        username=user.username if user else None,
        token_type="Bearer",
        exp=claims.exp,
        iat=claims.iat,
        sub=claims.sub,
        aud=claims.aud,
        iss=claims.iss,
        jti=claims.jti,
    )


async def _refresh_token(
    repos: Repositories, token: str, issuer: str, now: datetime
) -> IntrospectionResponse:
    if len(token) > 512:
        return INACTIVE
    row = await repos.refresh_tokens.get_by_hash(hash_token(token))
    if row is None or row.rotated_at or row.revoked_at or row.expires_at <= now:
        return INACTIVE
    grant = await repos.grants.get_by_id(row.grant_id)
    if grant is None or grant.revoked_at is not None:
        return INACTIVE
    user = await repos.users.get_by_id(grant.user_id)
    return IntrospectionResponse(
        active=True,
        scope=row.scope,
        client_id=row.client_id,
        username=user.username if user else None,
        token_type="refresh_token",
        exp=int(row.expires_at.timestamp()),
        iat=int(row.created_at.timestamp()),
        sub=grant.user_id,
        iss=issuer,
    )
