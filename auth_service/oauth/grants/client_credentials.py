"""Client credentials grant (RFC 6749 §4.4): a confidential client acting on its own behalf."""

from __future__ import annotations

from typing import ClassVar

from auth_service.oauth.grants.base import GrantContext
from auth_service.oauth.requests import TokenRequest
from shared.errors import InvalidScopeError, UnauthorizedClientError
from shared.models import Client
from shared.schemas import TokenResponse
from shared.scopes import format_scope, parse_scope, user_scopes


class ClientCredentialsGrant:
    grant_type: ClassVar[str] = "client_credentials"

    async def exchange(
        self, request: TokenRequest, client: Client, ctx: GrantContext
    ) -> TokenResponse:
        # RFC 6749 §4.4: only confidential clients can use this grant.
        if client.is_public:
            raise UnauthorizedClientError("client_credentials is only for confidential clients")
        scopes = _requested_scopes(request.scope, client)
        access_token = ctx.minter.access_token(
            now=ctx.now,
            sub=client.client_id,  # RFC 9068 §2.2: no resource owner, so sub is the client
            client=client,
            scopes=scopes,
            grant_id=None,
            auth_time=None,
        )
        ctx.audit.record(
            "token_issued", routine=True, client_id=client.client_id, grant_type=self.grant_type
        )
        # RFC 6749 §4.4.3: no refresh token; the client can always ask again.
        return TokenResponse(
            access_token=access_token,
            expires_in=ctx.minter.access_token_ttl(client),
            scope=format_scope(scopes),
        )


def _requested_scopes(scope: str | None, client: Client) -> frozenset[str]:
    """The requested scopes, or by default every scope of the client that needs no user."""
    requested = (
        parse_scope(scope) if scope is not None else client.scopes - user_scopes(client.scopes)
    )
    needs_user = user_scopes(requested)
    if needs_user:
        raise InvalidScopeError(
            f"scope {sorted(needs_user)[0]} needs a user; not for client_credentials"
        )
    if not requested:
        raise InvalidScopeError("no scope was requested and the client has no default scope")
    if not requested <= client.scopes:
        raise InvalidScopeError(
            f"scope not allowed for this client: {sorted(requested - client.scopes)[0]}"
        )
    return requested
