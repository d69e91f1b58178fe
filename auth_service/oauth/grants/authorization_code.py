"""Authorization code grant: RFC 6749 §4.1.3, PKCE verification per RFC 7636 §4.6 and RFC 9700 §2.1.1."""

from __future__ import annotations

from typing import ClassVar, NoReturn

from auth_service.oauth.grants.base import GrantContext
from auth_service.oauth.requests import TokenRequest
from auth_service.oauth.revocation import revoke_family
from auth_service.oauth.tokens import issue_refresh_token
from auth_service.security import pkce
from auth_service.security.secrets import hash_token
from shared.errors import InvalidGrantError, InvalidRequestError
from shared.models import AuthorizationCode, Client
from shared.schemas import TokenResponse
from shared.scopes import format_scope, parse_scope


class AuthorizationCodeGrant:
    grant_type: ClassVar[str] = "authorization_code"

    async def exchange(
        self, request: TokenRequest, client: Client, ctx: GrantContext
    ) -> TokenResponse:
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
        problem = _binding_problem(code, request, client)
        if problem is not None:
            # RFC 9700 §4.8: a failed verifier uses the code up, so it cannot be guessed at.
            await ctx.repos.session.commit()
            raise InvalidGrantError(problem)
        return await self._issue(code, client, ctx)

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
        self, code: AuthorizationCode, client: Client, ctx: GrantContext
    ) -> TokenResponse:
        # Locked, like every writer of a family, so a concurrent revocation is either seen here
        # or sees the access token issued here.
        grant = await ctx.lock_grant_for_issue(code.grant_id, client)
        if grant is None:
            await ctx.repos.session.commit()
            raise InvalidGrantError("the authorization was revoked")
        scopes = parse_scope(code.scope)
        access_token = ctx.minter.access_token(
            now=ctx.now,
            sub=code.user_id,
            client=client,
            scopes=scopes,
            grant_id=grant.id,
            auth_time=code.auth_time,
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
        id_token = None
        if "openid" in scopes:
            id_token = ctx.minter.id_token(
                now=ctx.now,
                sub=code.user_id,
                client_id=client.client_id,
                auth_time=code.auth_time,
                nonce=code.nonce,
                access_token=access_token,
            )
        ctx.audit.record(
            "token_issued",
            routine=True,
            user_id=code.user_id,
            client_id=client.client_id,
            grant_type=self.grant_type,
            grant_id=grant.id,
        )
        return TokenResponse(
            access_token=access_token,
            expires_in=ctx.minter.access_token_ttl(client),
            scope=format_scope(scopes),
            refresh_token=refresh_token,
            id_token=id_token,
        )


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
