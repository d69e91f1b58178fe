"""Resource owner password credentials grant (RFC 6749 §4.3), for first-party clients only.

RFC 9700 §2.4 says this grant must not be used: it teaches users to type their password into
apps. It exists here for an operator's own first-party app that cannot use a browser, and only
for clients an operator explicitly marked first-party and allowed this grant.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from auth_service.identity import authenticate_user
from auth_service.oauth.grants.base import GrantContext
from auth_service.oauth.requests import TokenRequest
from auth_service.oauth.tokens import issue_refresh_token
from auth_service.throttling import login_key
from shared.errors import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
)
from shared.models import Client, Grant
from shared.schemas import TokenResponse
from shared.scopes import format_scope, parse_scope


class PasswordGrant:
    grant_type: ClassVar[str] = "password"

    async def exchange(
        self, request: TokenRequest, client: Client, ctx: GrantContext
    ) -> TokenResponse:
        if not client.is_first_party:
            raise UnauthorizedClientError("the password grant is only for first-party clients")
        if request.username is None or request.password is None:
            raise InvalidRequestError("username and password are required")
        scopes = parse_scope(request.scope) if request.scope is not None else client.scopes
        if not scopes or not scopes <= client.scopes:
            raise InvalidScopeError("scope must be a non-empty subset of the client's scopes")
        throttle_key = login_key(request.username, ctx.client_ip)
        await ctx.throttle.check_delay("login", throttle_key)
        user = await authenticate_user(
            ctx.repos, ctx.hasher, request.username, request.password, ctx.now
        )
        if user is None:
            await ctx.throttle.failed("login", throttle_key)
            ctx.audit.record("login_failed", client_id=client.client_id, grant_type=self.grant_type)
            # The failed attempt must stay on record although the request fails (style guide §6).
            await ctx.repos.session.commit()
            # RFC 6749 §5.2: invalid resource owner credentials are invalid_grant.
            raise InvalidGrantError("the username or password is not right")
        if user.has_second_factor:
            # A password alone must not get around the second factor the user enrolled; and this
            # answer is no success for the throttle, or it would confirm passwords for free.
            await ctx.throttle.failed("login", throttle_key)
            raise InvalidGrantError(
                "this account uses a second factor: sign in through the browser"
            )
        await ctx.throttle.succeeded("login", throttle_key)
        grant = await ctx.repos.grants.add(
            Grant(
                user_id=user.id,
                client_id=client.client_id,
                scope=format_scope(scopes),
                auth_time=ctx.now,
                created_at=ctx.now,
                last_used_at=ctx.now,
                access_expires_at=ctx.now + timedelta(seconds=ctx.minter.access_token_ttl(client)),
            )
        )
        access_token = ctx.minter.access_token(
            now=ctx.now,
            sub=user.id,
            client=client,
            scopes=scopes,
            grant_id=grant.id,
            auth_time=ctx.now,
        )
        refresh_token = None
        if client.allows_grant_type("refresh_token"):
            refresh_token = await issue_refresh_token(
                ctx.repos.refresh_tokens,
                policy=ctx.minter.policy,
                client=client,
                grant=grant,
                scopes=scopes,
                now=ctx.now,
            )
        ctx.audit.record(
            "token_issued",
            routine=True,
            user_id=user.id,
            client_id=client.client_id,
            grant_type=self.grant_type,
            grant_id=grant.id,
        )
        return TokenResponse(
            access_token=access_token,
            expires_in=ctx.minter.access_token_ttl(client),
            scope=format_scope(scopes),
            refresh_token=refresh_token,
        )
