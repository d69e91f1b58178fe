"""The one token-issuing path: every grant's token set (RFC 6749 §5.1) is built here.

A grant decides who the tokens are for and what they may do; this module mints the access token
(RFC 9068), the refresh token of the family, the ID token (OIDC Core §3.1.3.3), records the audit
event and builds the response. How the access token is bound (Bearer today, a DPoP key next) is
an argument, not code in each grant.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from auth_service.oauth import fapi2
from auth_service.oauth.grants.base import GrantContext, GrantType
from auth_service.oauth.tokens import issue_refresh_token
from shared.errors import InvalidGrantError
from shared.models import Client, Grant
from shared.schemas import TokenResponse
from shared.scopes import format_scope


@dataclass(frozen=True, slots=True)
class TokenBinding:
    """The access token's `token_type` (RFC 6749 §7.1) and the key it is bound to, if any: a
    `cnf` claim (RFC 7800 §3.1), such as DPoP's `{"jkt": ...}` (RFC 9449 §6.1)."""

    token_type: str = "Bearer"  # noqa: S105 - RFC 6750 token type
    cnf: Mapping[str, Any] | None = None


BEARER = TokenBinding()


def dpop_binding(jkt: str) -> TokenBinding:
    """RFC 9449 §5 `token_type: DPoP` and §6.1 `cnf.jkt`."""
    return TokenBinding(token_type="DPoP", cnf={"jkt": jkt})  # noqa: S106 - token type name


@dataclass(frozen=True, slots=True)
class TokenSubject:
    """What a grant established: whose tokens, which scopes, and which parts of the set."""

    sub: str
    scopes: frozenset[str]
    # The consent/refresh family; None when no resource owner is involved (client_credentials).
    grant: Grant | None = None
    auth_time: datetime | None = None
    # The family's scope for the refresh token when this access token is narrower (RFC 6749 §6).
    refresh_scopes: frozenset[str] | None = None
    # The refresh token this set replaces (rotation, RFC 9700 §4.14.2).
    parent_hash: str | None = None
    id_token: bool = False
    nonce: str | None = None
    # A refresh token answered again instead of a successor (FAPI 2.0 §5.3.2.1: not rotated).
    kept_refresh_token: str | None = None
    # The access token's `aud` (RFC 8707 §2); None is the default audience.
    audience: str | None = None
    # RFC 8693 §4.1: the actor chain of a delegated token, e.g. {"sub": ..., "act": {...}}.
    act: Mapping[str, Any] | None = None
    # The most seconds the access token may live (a token exchange's subject token's remaining
    # life, RFC 8693 §2.2.1); None leaves the client's lifetime.
    max_lifetime: int | None = None


async def issue_token_set(
    grant_type: GrantType,
    ctx: GrantContext,
    client: Client,
    subject: TokenSubject,
    *,
    binding: TokenBinding | None = None,
) -> TokenResponse:
    """Mint the token set a grant earned and record it. A refresh token comes with it when the
    grant type issues them, the tokens belong to a family and the client may refresh. Unless a
    binding is given, a request with a DPoP proof gets DPoP-bound tokens (RFC 9449 §5)."""
    if binding is None:
        binding = dpop_binding(ctx.dpop_jkt) if ctx.dpop_jkt is not None else BEARER
    grant = subject.grant
    lifetime = ctx.minter.access_token_ttl(client)
    if subject.max_lifetime is not None:
        lifetime = min(lifetime, subject.max_lifetime)
    access_token = ctx.minter.access_token(
        now=ctx.now,
        sub=subject.sub,
        client=client,
        scopes=subject.scopes,
        grant_id=grant.id if grant is not None else None,
        auth_time=subject.auth_time,
        cnf=binding.cnf,
        audience=subject.audience,
        act=subject.act,
        lifetime=lifetime,
    )
    refresh_token = subject.kept_refresh_token
    if (
        refresh_token is None
        and grant is not None
        and grant_type.issues_refresh_token
        and client.allows_grant_type("refresh_token")
    ):
        refresh_token = await issue_refresh_token(
            ctx.repos.refresh_tokens,
            policy=ctx.minter.policy,
            client=client,
            grant=grant,
            scopes=subject.scopes if subject.refresh_scopes is None else subject.refresh_scopes,
            now=ctx.now,
            parent_hash=subject.parent_hash,
        )
    id_token = None
    if subject.id_token and subject.auth_time is not None:
        id_token = ctx.minter.id_token(
            now=ctx.now,
            sub=subject.sub,
            client_id=client.client_id,
            auth_time=subject.auth_time,
            nonce=subject.nonce,
            access_token=access_token,
            alg=ctx.minter.signing_alg(client),
        )
    _record_issue(grant_type, ctx, client, grant)
    return TokenResponse(
        access_token=access_token,
        token_type=binding.token_type,
        expires_in=lifetime,
        scope=format_scope(subject.scopes),
        refresh_token=refresh_token,
        id_token=id_token,
    )


def validate_refresh_dpop_key(grant: Grant, dpop_jkt: str | None) -> None:
    """RFC 9449 §5: a refresh token bound to a DPoP key is used only with a proof of that key."""
    if grant.dpop_jkt is None or grant.dpop_jkt == dpop_jkt:
        return
    if dpop_jkt is None:
        raise InvalidGrantError("the refresh token is bound to a DPoP key: send a DPoP proof")
    raise InvalidGrantError("the DPoP proof key is not the key the refresh token is bound to")


async def bind_refresh_to_dpop_key(ctx: GrantContext, grant: Grant, client: Client) -> None:
    """RFC 9449 §5: a public client's refresh tokens are bound to the key of its first DPoP
    proof; a confidential client's are not (it authenticates every refresh instead), except a
    fapi2 client's, which are not rotated (FAPI 2.0 §5.3.2.1)."""
    if fapi2.binds_refresh_tokens(client) and ctx.dpop_jkt is not None and grant.dpop_jkt is None:
        await ctx.repos.grants.bind_dpop_key(grant.id, ctx.dpop_jkt)


def _record_issue(
    grant_type: GrantType, ctx: GrantContext, client: Client, grant: Grant | None
) -> None:
    if grant is None:
        ctx.audit.record(
            "token_issued",
            routine=True,
            client_id=client.client_id,
            grant_type=grant_type.grant_type,
        )
        return
    ctx.audit.record(
        "token_issued",
        routine=True,
        user_id=grant.user_id,
        client_id=client.client_id,
        grant_type=grant_type.grant_type,
        grant_id=grant.id,
    )
