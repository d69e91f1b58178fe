"""Resource owner password credentials grant (RFC 6749 §4.3), for first-party clients only.

RFC 9700 §2.4 says this grant must not be used: it teaches users to type their password into
apps. It exists here for an operator's own first-party app that cannot use a browser, and only
for clients an operator explicitly marked first-party and allowed this grant.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar, Self

from auth_service.identity.authentication import authenticate_user
from auth_service.oauth.grants.base import GrantContext, GrantServices, GrantType
from auth_service.oauth.issuance import TokenSubject, issue_token_set
from auth_service.oauth.requests import TokenRequest
from auth_service.oauth.resources import token_target
from auth_service.security.passwords import PasswordHasher
from auth_service.throttling.policy import Throttle
from auth_service.throttling.sign_in import SignInAttempt, SignInThrottle
from shared.errors import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
)
from shared.models import Client, Grant, User
from shared.schemas import TokenResponse
from shared.scopes import format_scope, parse_scope


class PasswordGrant(GrantType):
    grant_type: ClassVar[str] = "password"
    dynamic_registration: ClassVar[bool] = False
    first_party_only: ClassVar[bool] = True

    def __init__(self, hasher: PasswordHasher, throttle: Throttle) -> None:
        self._hasher = hasher
        self._sign_in = SignInThrottle(throttle)

    @classmethod
    def build(cls, services: GrantServices) -> Self:
        return cls(services.hasher, services.throttle)

    async def exchange(
        self, request: TokenRequest, client: Client, ctx: GrantContext
    ) -> TokenResponse:
        """RFC 6749 §4.3.2: the user's credentials for tokens, for first-party clients only."""
        if not client.is_first_party:
            raise UnauthorizedClientError("the password grant is only for first-party clients")
        if request.username is None or request.password is None:
            raise InvalidRequestError("username and password are required")
        scopes = parse_scope(request.scope) if request.scope is not None else client.scopes
        if not scopes or not scopes <= client.scopes:
            raise InvalidScopeError("scope must be a non-empty subset of the client's scopes")
        # RFC 8707 §2.2: checked before the password, so a refusal costs no sign-in attempt.
        target = await token_target(
            ctx.uow,
            client,
            request.resources,
            scopes,
            granted=None,
            default_audience=ctx.minter.policy.audience,
        )
        user = await self._authenticate(request.username, request.password, client, ctx)
        grant = await ctx.repos.grants.add(
            Grant(
                user_id=user.id,
                client_id=client.client_id,
                scope=format_scope(scopes),
                auth_time=ctx.now,
                created_at=ctx.now,
                last_used_at=ctx.now,
                access_expires_at=ctx.now + timedelta(seconds=ctx.minter.access_token_ttl(client)),
                # RFC 9449 §5: a public client's refresh tokens are bound to its DPoP key.
                dpop_jkt=ctx.dpop_jkt if client.is_public else None,
                # The family's refresh tokens get tokens for this resource (RFC 8707 §2.2).
                resources=[target.audience] if target.audience is not None else [],
            )
        )
        # No ID token: OIDC defines none for this grant, and the user signed in to no page of ours.
        subject = TokenSubject(
            sub=user.id,
            scopes=target.scopes,
            grant=grant,
            auth_time=ctx.now,
            refresh_scopes=scopes,
            audience=target.audience,
        )
        return await issue_token_set(self, ctx, client, subject)

    async def _authenticate(
        self, username: str, password: str, client: Client, ctx: GrantContext
    ) -> User:
        # The same counters as the sign-in page (no device cookies: there is no browser).
        attempt = SignInAttempt.of(username, ctx.client_ip)
        await self._sign_in.check(attempt)
        user = await authenticate_user(ctx.repos, self._hasher, username, password, ctx.now)
        if user is None:
            await self._sign_in.failed(attempt)
            ctx.audit.record("login_failed", client_id=client.client_id, grant_type=self.grant_type)
            # The failed attempt must stay on record although the request fails (style guide §6).
            await ctx.repos.session.commit()
            # RFC 6749 §5.2: invalid resource owner credentials are invalid_grant.
            raise InvalidGrantError("the username or password is not right")
        if user.has_second_factor:
            # A password alone must not get around the second factor the user enrolled; and this
            # answer is no success for the throttle, or it would confirm passwords for free.
            await self._sign_in.failed(attempt)
            raise InvalidGrantError(
                "this account uses a second factor: sign in through the browser"
            )
        await self._sign_in.succeeded(attempt)
        return user
