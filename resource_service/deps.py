"""Bearer and DPoP authentication (RFC 6750, RFC 9449) and scope checks for resource routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel.ext.asyncio.session import AsyncSession

from resource_service.config import ResourceSettings
from shared.claims import AccessTokenClaims
from shared.dpop_auth import as_dpop_challenge, authenticate_access_token
from shared.errors import InsufficientScopeError, InvalidTokenError, OAuthError
from shared.token_cache import VerifiedTokenCache
from shared.tokens import decode_access_token

REALM = "myauth-api"


async def get_settings(request: Request) -> ResourceSettings:
    settings: ResourceSettings = request.app.state.settings
    return settings


async def get_now(request: Request) -> datetime:
    now: datetime = request.app.state.clock()
    return now


SettingsDep = Annotated[ResourceSettings, Depends(get_settings)]
Now = Annotated[datetime, Depends(get_now)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_bearer_claims(request: Request) -> AccessTokenClaims:
    return await authenticate(request)


async def authenticate(
    request: Request, *, challenge_scope: str | None = None
) -> AccessTokenClaims:
    """The verified claims of the request's access token (Bearer or DPoP), or the refusal. Every
    challenge names our metadata (RFC 9728 §5.1); `challenge_scope` is the scope a request
    without credentials is told to ask for (RFC 6750 §3)."""
    # One function reading the app state itself: every sub-dependency FastAPI resolves costs
    # about as much as the cached path below, and this runs on every API request.
    state = request.app.state
    settings: ResourceSettings = state.settings
    now: datetime = state.clock()
    cache: VerifiedTokenCache = state.verified_tokens
    resource_metadata: str = state.resource_metadata_url

    async def verify(token: str) -> AccessTokenClaims:
        claims = cache.get(token, now.timestamp(), settings.leeway)
        if claims is None:
            try:
                claims = await decode_access_token(
                    token,
                    keys=state.jwks,
                    issuer=settings.issuer,
                    audience=settings.audience,
                    now=now,
                    leeway=settings.leeway,
                )
            except InvalidTokenError as exc:
                # One protected resource, one realm in every challenge (RFC 7235 §2.2).
                raise InvalidTokenError(
                    exc.description, realm=REALM, resource_metadata=resource_metadata
                ) from None
            cache.put(token, claims)
        # Checked on every request, cached or not: revocation is the one thing that changes.
        if state.revocations.is_revoked(claims):
            raise InvalidTokenError(
                "the access token was revoked", realm=REALM, resource_metadata=resource_metadata
            )
        return claims

    # RFC 6750 §2.1: only the Authorization header; tokens in URLs end up in logs (RFC 9700 §4.3.2).
    # RFC 9449 §4.3 item 9: htu is our public URL (a setting, right behind a proxy) and the path.
    claims, request.state.dpop = await authenticate_access_token(
        request.headers.get("authorization"),
        request.headers.getlist("dpop"),
        verify=verify,
        checker=state.dpop,
        method=request.method,
        url=state.public_url + _path_as_sent(request),
        now=now.timestamp(),
        realm=REALM,
        resource_metadata=resource_metadata,
        challenge_scope=challenge_scope,
    )
    return claims


def _path_as_sent(request: Request) -> str:
    """The path as the client sent it (percent-encoded), not Starlette's decoded one: a "%3F" in
    it must not compare equal to a "?" the proof never had (normalize_htu decodes only the
    unreserved characters, RFC 3986 section 6.2.2.2). ASGI's raw_path holds no query."""
    raw = request.scope.get("raw_path")
    return raw.decode("latin-1") if raw else request.url.path


BearerClaims = Annotated[AccessTokenClaims, Depends(get_bearer_claims)]


def insufficient_scope(request: Request, needed: frozenset[str]) -> OAuthError:
    """RFC 6750 §3.1: 403 naming the scope the request needs (and, RFC 9728 §5.1, where our
    metadata is), in the scheme the client used (RFC 9449 §7.1). Call after `authenticate`."""
    resource_metadata: str = request.app.state.resource_metadata_url
    error = InsufficientScopeError(
        "the access token lacks the required scope",
        realm=REALM,
        scope=" ".join(sorted(needed)),
        resource_metadata=resource_metadata,
    )
    if request.state.dpop:
        algs = " ".join(request.app.state.dpop.algorithms)
        return as_dpop_challenge(error, realm=REALM, algs=algs, resource_metadata=resource_metadata)
    return error


class RequireScopes:
    """A dependency that passes the claims on when the token holds every scope in `scopes`.

    A class rather than a closure so the scopes stay readable: the protected resource metadata
    lists what the routes require (`resource_service.protected_resource`), not a second list.
    """

    def __init__(self, scopes: frozenset[str]) -> None:
        self.scopes = scopes

    async def __call__(self, request: Request, claims: BearerClaims) -> AccessTokenClaims:
        if not self.scopes <= claims.scopes:
            raise insufficient_scope(request, self.scopes)
        return claims


def require_scopes(*names: str) -> RequireScopes:
    """A dependency that passes the claims on when the token holds every scope in `names`."""
    return RequireScopes(frozenset(names))
