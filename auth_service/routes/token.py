"""POST /oauth/token (RFC 6749 §3.2): parse, authenticate the client, run the grant, render."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse

from auth_service.deps import (
    AuditorDep,
    AuthenticatedClient,
    ClientIp,
    FormDep,
    HasherDep,
    MinterDep,
    Now,
    ReposDep,
    ThrottleDep,
)
from auth_service.oauth.grants import get_grant
from auth_service.oauth.grants.base import GrantContext
from auth_service.oauth.requests import TokenRequest
from shared.errors import NO_STORE_HEADERS, UnauthorizedClientError

router = APIRouter(tags=["oauth"])


async def get_grant_context(
    request: Request,
    repos: ReposDep,
    minter: MinterDep,
    audit: AuditorDep,
    hasher: HasherDep,
    throttle: ThrottleDep,
    ip: ClientIp,
    now: Now,
) -> GrantContext:
    return GrantContext(
        repos=repos,
        minter=minter,
        audit=audit,
        hasher=hasher,
        throttle=throttle,
        client_ip=ip,
        settings=request.app.state.grant_settings,
        now=now,
    )


GrantContextDep = Annotated[GrantContext, Depends(get_grant_context)]


@router.post("/oauth/token")
async def token(
    request: Request, form: FormDep, client: AuthenticatedClient, ctx: GrantContextDep
) -> JSONResponse:
    await ctx.throttle.hit("token-client", client.client_id, ctx.throttle.policy.token_per_client)
    token_request = TokenRequest.from_form(form)
    grant = get_grant(token_request.grant_type)
    if not client.allows_grant_type(grant.grant_type):
        raise UnauthorizedClientError(f"this client may not use grant_type={grant.grant_type}")
    response = await grant.exchange(token_request, client, ctx)
    request.app.state.metrics.tokens_issued.labels(grant.grant_type).inc()
    # RFC 6749 §5.1: token responses must not be cached.
    return JSONResponse(response.to_wire(), headers=NO_STORE_HEADERS)
