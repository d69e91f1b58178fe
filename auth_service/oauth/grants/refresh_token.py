"""Refresh token grant: RFC 6749 §6; rotation and reuse detection per RFC 9700 §4.14.2.

Each use replaces the token by a successor in one conditional UPDATE. A rotated token used again
is treated as theft and revokes the family, except for a retry by the same client within the
grace window, which replaces the successor the client probably never received.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar, Self

from auth_service.oauth import fapi2
from auth_service.oauth.grants.base import GrantContext, GrantServices, GrantType
from auth_service.oauth.issuance import (
    TokenSubject,
    bind_refresh_to_dpop_key,
    issue_token_set,
    validate_refresh_dpop_key,
)
from auth_service.oauth.requests import TokenRequest
from auth_service.oauth.resources import TokenTarget, token_target
from auth_service.oauth.revocation import revoke_family
from auth_service.oauth.tokens import refresh_token_expiry
from auth_service.security.secrets import hash_token
from shared.errors import InvalidGrantError, InvalidRequestError, InvalidScopeError
from shared.models import Client, Grant, RefreshToken
from shared.schemas import TokenResponse
from shared.scopes import parse_scope


class RefreshTokenGrant(GrantType):
    grant_type: ClassVar[str] = "refresh_token"

    def __init__(self, reuse_grace: int = 0) -> None:
        self._reuse_grace = timedelta(seconds=reuse_grace)

    @classmethod
    def build(cls, services: GrantServices) -> Self:
        return cls(services.refresh_token_reuse_grace)

    async def exchange(
        self, request: TokenRequest, client: Client, ctx: GrantContext
    ) -> TokenResponse:
        """RFC 6749 §6: a fresh token set for a live refresh token, which rotates."""
        if request.refresh_token is None:
            raise InvalidRequestError("refresh_token is required")
        token_hash = hash_token(request.refresh_token)
        token = await ctx.repos.refresh_tokens.get_by_hash(token_hash)
        # RFC 6749 §6: refresh tokens are bound to the client they were issued to.
        if token is None or token.client_id != client.client_id:
            raise InvalidGrantError("refresh token is invalid")
        # The family's lock, like every writer of it, so a concurrent revocation is either seen
        # here or sees what is issued here. The grant's note of the issue comes with it: a refusal
        # below rolls it back (the reuse path undoes it before revoking).
        grant = await ctx.lock_grant_for_issue(token.grant_id, client)
        if grant is None or token.revoked_at is not None:
            raise InvalidGrantError("refresh token was revoked")
        validate_refresh_dpop_key(grant, ctx.dpop_jkt)
        # A rotated token is a reuse however late it comes back, so that check comes first.
        if token.rotated_at is None and token.expires_at <= ctx.now:
            raise InvalidGrantError("refresh token has expired")
        scopes = _requested_scopes(request.scope, token)
        if token.rotated_at is not None:
            # Reuse detection first: a bad resource must not spare a stolen token's family.
            await self._handle_reuse(token, grant, client, ctx)
            target = await self._target(request, grant, client, scopes, ctx)
            return await self._issue(token, grant, client, scopes, target, ctx)
        # RFC 8707 §2.2: refused before the token rotates, so nothing is written.
        target = await self._target(request, grant, client, scopes, ctx)
        if not fapi2.rotates_refresh_tokens(client):
            return await self._issue_kept(
                request.refresh_token, token, grant, client, scopes, target, ctx
            )
        if not await ctx.repos.refresh_tokens.rotate(token_hash, ctx.now):
            await self._handle_reuse(token, grant, client, ctx)
        return await self._issue(token, grant, client, scopes, target, ctx)

    async def _target(
        self,
        request: TokenRequest,
        grant: Grant,
        client: Client,
        scopes: frozenset[str],
        ctx: GrantContext,
    ) -> TokenTarget:
        """RFC 8707 §2.2: the access token is for one of the resources of the authorization."""
        return await token_target(
            ctx.uow,
            client,
            request.resources,
            scopes,
            granted=grant.resources,
            default_audience=ctx.minter.policy.audience,
        )

    async def _handle_reuse(
        self, token: RefreshToken, grant: Grant, client: Client, ctx: GrantContext
    ) -> None:
        """The token was already rotated: a retry within the grace window, or theft."""
        await ctx.repos.session.refresh(token)
        grace = self._reuse_grace
        # A negative age means this request started before the rotation it lost to: a concurrent
        # duplicate, which is a retry when there is a window and a reuse when there is none.
        if (
            grace > timedelta(0)
            and token.revoked_at is None
            and token.rotated_at is not None
            and abs(ctx.now - token.rotated_at) <= grace
            and token.expires_at > ctx.now
        ):
            # Replace the unused successor; if none is left unused, the family moved on. The
            # replaced one is marked used, not revoked: whoever got it and presents it later is
            # then caught as a reuse, and the family dies (RFC 9700 §4.14.2).
            if (
                await ctx.repos.refresh_tokens.supersede_live_children(token.token_hash, ctx.now)
                > 0
            ):
                return
        # Theft. Nothing is issued, so the grant's note of an issue is undone first: it would show
        # the thief's attempt as the app's last use and extend how long the family's revocation
        # must be published. revoke_family takes the family's lock again.
        grant_id, user_id = grant.id, grant.user_id
        await ctx.repos.session.rollback()
        await revoke_family(ctx.repos, grant_id, ctx.now)
        ctx.audit.record(
            "refresh_token_reused",
            user_id=user_id,
            client_id=client.client_id,
            grant_id=grant_id,
        )
        await ctx.repos.session.commit()
        raise InvalidGrantError("refresh token was already used")

    async def _issue_kept(
        self,
        refresh_token: str,
        token: RefreshToken,
        grant: Grant,
        client: Client,
        scopes: frozenset[str],
        target: TokenTarget,
        ctx: GrantContext,
    ) -> TokenResponse:
        """FAPI 2.0 §5.3.2.1: the same refresh token again, its idle expiry pushed back; it is
        DPoP-bound (checked above), so there is no rotation and no reuse to detect."""
        # A grant from before the client took the profile may be unbound yet: bound now, to the
        # key of this proof (required for the profile), so the kept token is never a bearer one.
        await bind_refresh_to_dpop_key(ctx, grant, client)
        expires_at = refresh_token_expiry(ctx.minter.policy, client, grant, ctx.now)
        if not await ctx.repos.refresh_tokens.renew(token.token_hash, expires_at):
            raise InvalidGrantError("refresh token was revoked")
        subject = TokenSubject(
            sub=grant.user_id,
            scopes=target.scopes,
            grant=grant,
            auth_time=grant.auth_time,
            id_token="openid" in scopes,  # OIDC Core §12.2, whatever the resource
            kept_refresh_token=refresh_token,
            audience=target.audience,
        )
        return await issue_token_set(self, ctx, client, subject)

    async def _issue(
        self,
        token: RefreshToken,
        grant: Grant,
        client: Client,
        scopes: frozenset[str],
        target: TokenTarget,
        ctx: GrantContext,
    ) -> TokenResponse:
        await bind_refresh_to_dpop_key(ctx, grant, client)
        subject = TokenSubject(
            sub=grant.user_id,
            scopes=target.scopes,
            audience=target.audience,
            grant=grant,
            auth_time=grant.auth_time,
            # The successor keeps the family's scope: a narrower request narrows this access
            # token only (RFC 6749 §6), so a later refresh can ask for the original scope again.
            refresh_scopes=token.scopes,
            parent_hash=token.token_hash,
            # OIDC Core §12.2: same iss, sub, aud and auth_time as the original; no nonce.
            id_token="openid" in scopes,
        )
        return await issue_token_set(self, ctx, client, subject)


def _requested_scopes(scope: str | None, token: RefreshToken) -> frozenset[str]:
    """RFC 6749 §6: the requested scope may narrow, never widen, what was originally granted."""
    if scope is None:
        return token.scopes
    requested = parse_scope(scope)
    if not requested <= token.scopes:
        raise InvalidScopeError("the requested scope exceeds the scope originally granted")
    return requested
