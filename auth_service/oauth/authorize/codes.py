"""Issuing the authorization code and the redirect that carries it (RFC 6749 §4.1.2, RFC 9207)."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlencode, urlsplit, urlunsplit

from auth_service.oauth.authorize.pushed import use_pushed_request
from auth_service.oauth.authorize.request import AuthorizationRequest
from auth_service.repositories import Repositories
from auth_service.security.secrets import hash_token, new_token
from shared.models import (
    AuthorizationCode,
    Grant,
)
from shared.scopes import format_scope


def redirect_uri_with(redirect_uri: str, params: dict[str, str | None]) -> str:
    """Add response parameters to the redirect URI, keeping its own query (RFC 6749 §3.1.2)."""
    parts = urlsplit(redirect_uri)
    extra = urlencode({k: v for k, v in params.items() if v is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


async def issue_authorization_code(
    repos: Repositories,
    request: AuthorizationRequest,
    *,
    user_id: str,
    auth_time: datetime,
    now: datetime,
    ttl: int,
) -> str:
    """RFC 6749 §4.1.2: a new grant and its single-use code, bound to everything the request said;
    a pushed request is used up in the same transaction (RFC 9126 §4)."""
    if request.pushed_request_hash is not None:
        await use_pushed_request(repos, request.pushed_request_hash, now)
    grant = await repos.grants.add(
        Grant(
            user_id=user_id,
            client_id=request.client_id,
            scope=format_scope(request.scopes),
            auth_time=auth_time,
            created_at=now,
            # RFC 8707 §2.1: the family's tokens are for these resources only.
            resources=list(request.resources),
        )
    )
    code = new_token()
    await repos.codes.add(
        AuthorizationCode(
            code_hash=hash_token(code),
            grant_id=grant.id,
            client_id=request.client_id,
            user_id=user_id,
            redirect_uri=request.redirect_uri if request.redirect_uri_given else None,
            scope=format_scope(request.scopes),
            code_challenge=request.code_challenge,
            code_challenge_method=request.code_challenge_method,
            nonce=request.nonce,
            dpop_jkt=request.dpop_jkt,
            auth_time=auth_time,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl),
        )
    )
    return code
