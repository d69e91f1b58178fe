"""Client credentials grant (RFC 6749 §4.4): a confidential client acting on its own behalf."""

from __future__ import annotations

from typing import ClassVar

from auth_service.oauth.grants.base import GrantContext, GrantType
from auth_service.oauth.issuance import TokenSubject, issue_token_set
from auth_service.oauth.requests import TokenRequest
from auth_service.oauth.resources import token_target
from shared.errors import InvalidScopeError, UnauthorizedClientError
from shared.models import Client
from shared.schemas import TokenResponse
from shared.scopes import parse_scope, user_scopes


class ClientCredentialsGrant(GrantType):
    grant_type: ClassVar[str] = "client_credentials"
    acts_for_user: ClassVar[bool] = False
    # RFC 6749 §4.4.3: no refresh token; the client can always ask again.
    issues_refresh_token: ClassVar[bool] = False

    async def exchange(
        self, request: TokenRequest, client: Client, ctx: GrantContext
    ) -> TokenResponse:
        """RFC 6749 §4.4.2: a confidential client's own tokens, within its non-user scopes."""
        # RFC 6749 §4.4: only confidential clients can use this grant.
        if client.is_public:
            raise UnauthorizedClientError("client_credentials is only for confidential clients")
        scopes = _requested_scopes(request.scope, client)
        # RFC 8707 §2.2: any resource the client may target; its scopes only.
        target = await token_target(
            ctx.uow,
            client,
            request.resources,
            scopes,
            granted=None,
            default_audience=ctx.minter.policy.audience,
        )
        # RFC 9068 §2.2: no resource owner, so sub is the client.
        subject = TokenSubject(sub=client.client_id, scopes=target.scopes, audience=target.audience)
        return await issue_token_set(self, ctx, client, subject)


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
