"""Authorization code grant: RFC 6749 §4.1.3, PKCE verification per RFC 7636 §4.6 and RFC 9700 §2.1.1."""

from __future__ import annotations

from typing import ClassVar, NoReturn

from auth_service.oauth.grants.base import GrantContext, GrantType
from auth_service.oauth.issuance import (
    TokenSubject,
    bind_refresh_to_dpop_key,
    issue_token_set,
)
from auth_service.oauth.requests import TokenRequest
from auth_service.oauth.resources import token_target
from auth_service.oauth.revocation import revoke_family
from auth_service.security import pkce
from auth_service.security.secrets import hash_token
from shared.errors import InvalidGrantError, InvalidRequestError
from shared.models import AuthorizationCode, Client
from shared.schemas import TokenResponse
from shared.scopes import parse_scope


class AuthorizationCodeGrant(GrantType):
    grant_type: ClassVar[str] = "authorization_code"
    response_type: ClassVar[str | None] = "code"  # RFC 6749 §4.1.1

    async def exchange(
        self, request: TokenRequest, client: Client, ctx: GrantContext
    ) -> TokenResponse:
        """RFC 6749 §4.1.3: redeem a code once, bound to its client, redirect_uri and PKCE."""
        if request.code is None:
            raise InvalidRequestError("code is required")
        code_hash = hash_token(request.code)
        # Marked used first, in one conditional UPDATE that also reads the row: exactly one of any
        # number of concurrent redemptions gets it. The checks below that fail roll the mark back.
        code = await ctx.repos.codes.consume(code_hash, ctx.now)
        if code is None:
            await self._refuse_unusable(code_hash, client, ctx)
        # RFC 6749 §4.1.3: the code must have been issued to the authenticated client.
        if code.client_id != client.client_id:
            raise InvalidGrantError("authorization code is invalid")
        if code.expires_at <= ctx.now:
            raise InvalidGrantError("authorization code has expired")
        problem = _binding_problem(code, request, client) or _dpop_problem(code, ctx.dpop_jkt)
        if problem is not None:
            # RFC 9700 §4.8: a failed verifier uses the code up, so it cannot be guessed at.
            await ctx.repos.session.commit()
            raise InvalidGrantError(problem)
        return await self._issue(code, request, client, ctx)

    async def _refuse_unusable(self, code_hash: str, client: Client, ctx: GrantContext) -> NoReturn:
        """The code is unknown or was used before; a second use revokes what the first obtained."""
        code = await ctx.repos.codes.get_by_hash(code_hash)
        if code is None or code.client_id != client.client_id:
            raise InvalidGrantError("authorization code is invalid")
        # A used code is a reuse however late it comes back (expired rows are kept a day for
        # this). RFC 6749 §4.1.2: the revocation must outlive the error, so it is committed first.
        await revoke_family(ctx.repos, code.grant_id, ctx.now)
        ctx.audit.record(
            "authorization_code_reused", user_id=code.user_id, client_id=client.client_id
        )
        await ctx.repos.session.commit()
        raise InvalidGrantError("authorization code was already used")

    async def _issue(
        self, code: AuthorizationCode, request: TokenRequest, client: Client, ctx: GrantContext
    ) -> TokenResponse:
        # Locked, like every writer of a family, so a concurrent revocation is either seen here
        # or sees the access token issued here.
        grant = await ctx.lock_grant_for_issue(code.grant_id, client)
        if grant is None:
            await ctx.repos.session.commit()
            raise InvalidGrantError("the authorization was revoked")
        scopes = parse_scope(code.scope)
        # RFC 8707 §2.2: refused before anything is written; the code stays unused (rollback).
        target = await token_target(
            ctx.uow,
            client,
            request.resources,
            scopes,
            granted=grant.resources,
            default_audience=ctx.minter.policy.audience,
        )
        await bind_refresh_to_dpop_key(ctx, grant, client)
        subject = TokenSubject(
            sub=code.user_id,
            scopes=target.scopes,
            grant=grant,
            auth_time=code.auth_time,
            # The ID token does not depend on the resource: the client is its audience.
            id_token="openid" in scopes,  # OIDC Core §3.1.3.3
            nonce=code.nonce,
            # The refresh token keeps the whole grant, for tokens for its other resources.
            refresh_scopes=scopes,
            audience=target.audience,
        )
        return await issue_token_set(self, ctx, client, subject)


def _dpop_problem(code: AuthorizationCode, dpop_jkt: str | None) -> str | None:
    """RFC 9449 §10: a code bound with dpop_jkt is redeemed only with a proof of that key."""
    if code.dpop_jkt is None or code.dpop_jkt == dpop_jkt:
        return None
    if dpop_jkt is None:
        return "the authorization code is bound to a DPoP key: send a DPoP proof"
    return "the DPoP proof key is not the key the authorization code is bound to"


def _binding_problem(code: AuthorizationCode, request: TokenRequest, client: Client) -> str | None:
    """Why this token request does not match the authorization request, if it does not."""
    # RFC 6749 §4.1.3: redirect_uri must be identical when the authorization request had one.
    if code.redirect_uri is not None and request.redirect_uri != code.redirect_uri:
        return "redirect_uri does not match the authorization request"
    if code.redirect_uri is None and request.redirect_uri is not None:
        if not client.allows_redirect_uri(request.redirect_uri):
            return "redirect_uri does not match the authorization request"
    if code.code_challenge is None:
        # RFC 9700 §2.1.1: a verifier for a code issued without a challenge is a downgrade attempt.
        if request.code_verifier is not None:
            return "code_verifier sent for a code issued without code_challenge"
        return None
    if request.code_verifier is None:
        return "code_verifier is required"
    if not pkce.verifier_matches(
        request.code_verifier, code.code_challenge, code.code_challenge_method or ""
    ):
        return "code_verifier does not match the code_challenge"
    return None
