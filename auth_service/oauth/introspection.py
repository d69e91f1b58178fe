"""Token introspection (RFC 7662): what a resource server may learn about a token we issued.

Access tokens are answered from memory: signatures verified once per token, revocations from
this instance's RevocationMirror, usernames (which never change) from a bounded cache. When the
mirror has not read the table lately (database unreachable from here), the revocation check
goes to the database, so a stale copy never says `active: true`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from auth_service.clients.metadata_documents import document_client_unknown
from auth_service.oauth.audiences import decode_issued_access_token
from auth_service.repositories import Repositories
from auth_service.security.secrets import hash_token
from auth_service.unit_of_work import UnitOfWork
from shared.claims import AccessTokenClaims
from shared.errors import ForbiddenClientError, InvalidTokenError
from shared.models import Client, User
from shared.revocations import RevocationFollower
from shared.schemas import IntrospectionResponse
from shared.token_cache import VerifiedTokenCache
from shared.tokens import VerificationKeys

INACTIVE = IntrospectionResponse(active=False)


class IntrospectionState:
    """What one process remembers between introspection requests."""

    def __init__(
        self,
        mirror: RevocationFollower,
        *,
        max_staleness: float,
        max_entries: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
        document_clients: bool = True,
    ) -> None:
        self.mirror = mirror
        self.document_clients = document_clients
        self.verified = VerifiedTokenCache(max_entries)
        self._usernames: OrderedDict[str, str] = OrderedDict()
        self._max_staleness, self._max_entries, self._monotonic = (
            max_staleness,
            max_entries,
            monotonic,
        )

    def mirror_is_current(self) -> bool:
        synced = self.mirror.last_success
        return synced is not None and self._monotonic() - synced <= self._max_staleness

    async def username(
        self, user_id: str, load: Callable[[str], Awaitable[User | None]]
    ) -> str | None:
        """Usernames are never changed or reused, so a remembered one stays right."""
        name = self._usernames.get(user_id)
        if name is None:
            user = await load(user_id)
            if user is None:
                return None
            name = self._usernames[user_id] = user.username
            if len(self._usernames) > self._max_entries:
                self._usernames.popitem(last=False)
        return name


@dataclass(frozen=True, slots=True)
class ActiveAccessTokens:
    """Introspection's answer to "is this one of our active access tokens?", for grants that
    take access tokens as input (token exchange, RFC 8693 §2.1)."""

    state: IntrospectionState
    keys: VerificationKeys
    issuer: str
    audience: str

    async def claims(self, uow: UnitOfWork, token: str, now: datetime) -> AccessTokenClaims | None:
        return await active_access_token(
            uow,
            self.state,
            token,
            keys=self.keys,
            issuer=self.issuer,
            audience=self.audience,
            now=now,
        )


def validate_introspecting_client(client: Client) -> Client:
    """RFC 7662 §2.1 and §4: the endpoint is protected, and only confidential clients an
    operator designated may learn about tokens; anyone else is refused with a 403."""
    if not client.can_introspect or client.is_public:
        raise ForbiddenClientError("this client is not allowed to introspect tokens")
    return client


async def introspect(
    uow: UnitOfWork,
    state: IntrospectionState,
    *,
    token: str,
    token_type_hint: str | None,
    keys: VerificationKeys,
    issuer: str,
    audience: str,
    now: datetime,
) -> IntrospectionResponse:
    """RFC 7662 §2.2: unknown, expired, revoked or foreign tokens are simply `active: false`.

    The unit of work opens a session only if an answer needs the database.
    """
    looks_like_jwt = token.count(".") == 2
    if looks_like_jwt and token_type_hint != "refresh_token":
        return await _access_token(uow, state, token, keys, issuer, audience, now)
    response = await _refresh_token(uow.repos, state, token, issuer, now)
    if not response.active and looks_like_jwt:
        return await _access_token(uow, state, token, keys, issuer, audience, now)
    return response


async def active_access_token(
    uow: UnitOfWork,
    state: IntrospectionState,
    token: str,
    *,
    keys: VerificationKeys,
    issuer: str,
    audience: str,
    now: datetime,
) -> AccessTokenClaims | None:
    """The claims of one of our access tokens that is active (RFC 7662 §2.2: signed by our
    keys, ours, not expired, not revoked); None for any other token. Token exchange (RFC 8693)
    asks the same question of its subject and actor tokens."""
    claims = state.verified.get(token, now.timestamp(), leeway=0)
    if claims is None:
        try:
            # The default audience needs no database; a registered resource server's one
            # look-up (RFC 8707: we issue tokens for each of them).
            claims = await decode_issued_access_token(
                uow.repos,
                token,
                keys=keys,
                issuer=issuer,
                default_audience=audience,
                now=now,
                leeway=0,
            )
        except InvalidTokenError:
            return None
        state.verified.put(token, claims)
    if await _is_revoked(uow, state, claims, now):
        return None
    if await _client_unknown(uow.repos, state, claims.client_id):
        return None
    return claims


async def _client_unknown(repos: Repositories, state: IntrospectionState, client_id: str) -> bool:
    """A token of a metadata-document client while documents are off is not active either."""
    return await document_client_unknown(repos, client_id, enabled=state.document_clients)


async def _access_token(
    uow: UnitOfWork,
    state: IntrospectionState,
    token: str,
    keys: VerificationKeys,
    issuer: str,
    audience: str,
    now: datetime,
) -> IntrospectionResponse:
    claims = await active_access_token(
        uow, state, token, keys=keys, issuer=issuer, audience=audience, now=now
    )
    if claims is None:
        return INACTIVE
    return IntrospectionResponse(
        active=True,
        scope=claims.scope,
        client_id=claims.client_id,
        username=await state.username(
            claims.sub, lambda user_id: uow.repos.users.get_by_id(user_id)
        ),
        # RFC 9449 §6.2: a DPoP-bound token says so, with the key it is bound to.
        token_type="DPoP" if claims.dpop_jkt is not None else "Bearer",
        cnf={"jkt": claims.dpop_jkt} if claims.dpop_jkt is not None else None,
        # RFC 8693 §4, §4.1: an exchanged token says who acts for its subject.
        act=claims.act,
        exp=claims.exp,
        iat=claims.iat,
        sub=claims.sub,
        aud=claims.aud,
        iss=claims.iss,
        jti=claims.jti,
    )


async def _is_revoked(
    uow: UnitOfWork, state: IntrospectionState, claims: AccessTokenClaims, now: datetime
) -> bool:
    if state.mirror_is_current():
        return state.mirror.revocations.is_revoked(claims)
    return await uow.repos.revocations.is_revoked(
        jti=claims.jti, grant_id=claims.grant_id, client_id=claims.client_id, now=now,
        sub=claims.sub,
    )  # fmt: skip


async def _refresh_token(
    repos: Repositories, state: IntrospectionState, token: str, issuer: str, now: datetime
) -> IntrospectionResponse:
    if len(token) > 512:
        return INACTIVE
    row = await repos.refresh_tokens.get_by_hash(hash_token(token))
    if row is None or row.rotated_at or row.revoked_at or row.expires_at <= now:
        return INACTIVE
    grant = await repos.grants.get_by_id(row.grant_id)
    if grant is None or grant.revoked_at is not None:
        return INACTIVE
    if await _client_unknown(repos, state, row.client_id):
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
