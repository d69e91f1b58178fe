"""Revocation: of token families (RFC 9700 §4.14.2, RFC 6749 §4.1.2) and by clients (RFC 7009).

Every revocation of something a resource server would accept on its own (an access token, or a
grant whose access tokens carry its id) is also published as a `RevocationEvent`, which resource
servers follow into their deny lists.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from auth_service.oauth.audiences import decode_issued_access_token
from auth_service.repositories import Repositories
from auth_service.security.secrets import hash_token
from shared.errors import InvalidTokenError
from shared.models import Client, Grant
from shared.tokens import MAX_LEEWAY, VerificationKeys

# Resource servers accept a token until exp plus their leeway; the deny entry must outlive that
# (and a minute more for their clocks).
DENY_MARGIN = timedelta(seconds=MAX_LEEWAY + 60)


async def revoke_family(repos: Repositories, grant_id: str, now: datetime) -> None:
    """Revoke a grant, its refresh tokens, and (through the published event) its access tokens."""
    grant = await repos.grants.lock(grant_id)  # family lock first, as every other writer of it
    if grant is None or not await repos.grants.revoke(grant_id, now):
        return
    await repos.refresh_tokens.revoke_grant(grant_id, now)
    publish_grant_revocation(repos, grant, now)


def publish_grant_revocation(repos: Repositories, grant: Grant, now: datetime) -> None:
    """Tell resource servers to refuse the grant's access tokens, whichever client holds them
    (a token exchange issues them to other clients too), until the last one expires."""
    if grant.access_expires_at is not None and grant.access_expires_at + DENY_MARGIN > now:
        expires_at = grant.access_expires_at + DENY_MARGIN
        repos.revocations.add("grant", grant.id, expires_at=expires_at, now=now)


async def revoke_client_access(
    repos: Repositories, *, user_id: str, client_id: str, now: datetime
) -> bool:
    """The user withdraws an app: forget the consent and revoke every token family it holds."""
    forgotten = await repos.consents.delete(user_id, client_id)
    grant_ids = await repos.grants.active_ids(user_id, client_id)
    for grant_id in grant_ids:
        await revoke_family(repos, grant_id, now)
    return forgotten or bool(grant_ids)


async def revoke_token(
    repos: Repositories,
    *,
    token: str,
    token_type_hint: str | None,
    client: Client,
    keys: VerificationKeys,
    issuer: str,
    audience: str,
    now: datetime,
) -> None:
    """RFC 7009 §2.1: revoke `token` if this client owns it; anything else changes nothing.

    The hint only decides which kind is tried first (§2.1: it is a hint, not a constraint).
    """
    kinds = ["access_token", "refresh_token"]
    if token_type_hint != "access_token":
        kinds.reverse()
    for kind in kinds:
        if kind == "refresh_token":
            if await _revoke_refresh_token(repos, token, client, now):
                return
        elif await _revoke_access_token(repos, token, client, keys, issuer, audience, now):
            return


async def _revoke_refresh_token(
    repos: Repositories, token: str, client: Client, now: datetime
) -> bool:
    row = await repos.refresh_tokens.get_by_hash(hash_token(token))
    if row is None or row.client_id != client.client_id:
        return False
    # RFC 7009 §2.1: revoking a refresh token also invalidates the access tokens of its grant.
    await revoke_family(repos, row.grant_id, now)
    return True


async def _revoke_access_token(
    repos: Repositories,
    token: str,
    client: Client,
    keys: VerificationKeys,
    issuer: str,
    audience: str,
    now: datetime,
) -> bool:
    if token.count(".") != 2:
        return False
    try:
        # As lenient as the most lenient resource server: a token one of them still accepts
        # can be revoked, whichever registered resource server it is for (RFC 8707).
        claims = await decode_issued_access_token(
            repos,
            token,
            keys=keys,
            issuer=issuer,
            default_audience=audience,
            now=now,
            leeway=MAX_LEEWAY,
        )
    except InvalidTokenError:
        return False  # not ours, forged, or expired beyond any leeway: nothing to revoke
    if claims.client_id != client.client_id:
        return False
    if not await repos.revocations.is_revoked(jti=claims.jti, grant_id=None, now=now):
        expires_at = datetime.fromtimestamp(claims.exp, now.tzinfo) + DENY_MARGIN
        repos.revocations.add("token", claims.jti, expires_at=expires_at, now=now)
    return True
