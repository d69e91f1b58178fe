"""The audiences this server's own token endpoints accept on the access tokens it issued.

/oauth/introspect (RFC 7662) and /oauth/revoke (RFC 7009) answer for every access token we
issue: those for the default audience and those for a registered resource server (RFC 8707
§2, RFC 9068 §3 `aud`). A token for any other audience is not one we would issue, so it stays
unknown (inactive, nothing to revoke).
"""

from __future__ import annotations

from datetime import datetime

from auth_service.repositories import Repositories
from shared.claims import AccessTokenClaims
from shared.errors import InvalidTokenError
from shared.tokens import VerificationKeys, decode_access_token, unverified_audiences

# We issue tokens with one audience; a few values bound the registry look-ups of a forgery.
MAX_AUDIENCES_LOOKED_UP = 5


async def decode_issued_access_token(
    repos: Repositories,
    token: str,
    *,
    keys: VerificationKeys,
    issuer: str,
    default_audience: str,
    now: datetime,
    leeway: int,
) -> AccessTokenClaims:
    """Verify `token` for the default audience or the registered resource server it names.

    The unverified `aud` only chooses the audience to check; `decode_access_token` then
    verifies signature, issuer, that audience and time. The registry is read only for a token
    not meant for the default audience (so introspecting those needs no database).
    """
    audiences = unverified_audiences(token)
    audience = default_audience if default_audience in audiences else None
    if audience is None:
        audience = await _registered(repos, audiences[:MAX_AUDIENCES_LOOKED_UP])
    return await decode_access_token(
        token, keys=keys, issuer=issuer, audience=audience, now=now, leeway=leeway
    )


async def _registered(repos: Repositories, audiences: tuple[str, ...]) -> str:
    for candidate in audiences:
        if await repos.resource_servers.get_by_uri(candidate) is not None:
            return candidate
    raise InvalidTokenError("token is not meant for this audience")
