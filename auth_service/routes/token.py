"""POST /oauth/token (RFC 6749 §3.2): parse, authenticate the client, run the grant, render."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from auth_service.deps import ClientCallDep
from auth_service.oauth.dpop import DpopPolicy, validate_dpop_request, validate_proof_required
from auth_service.oauth.grants import get_grant
from auth_service.oauth.grants.base import GrantContext
from auth_service.oauth.requests import TokenRequest
from auth_service.throttling.clients import client_budget_key
from auth_service.throttling.policy import Throttle
from shared.errors import NO_STORE_HEADERS, UnauthorizedClientError
from shared.observability.tracing import set_span_attributes

router = APIRouter(tags=["oauth"])


@router.post("/oauth/token")
async def token(request: Request, call: ClientCallDep) -> JSONResponse:
    state = request.app.state
    throttle: Throttle = state.throttle
    await throttle.hit(
        "token-client", client_budget_key(call.client, call.ip), throttle.policy.token_per_client
    )
    token_request = TokenRequest.from_form(call.form, call.resources)
    grant = get_grant(state.grants, token_request.grant_type)
    # Issue 17: the client and grant on the request's span (ids only, never a credential).
    set_span_attributes(
        **{"oauth.client_id": call.client.client_id, "oauth.grant_type": grant.grant_type}
    )
    if not call.client.allows_grant_type(grant.grant_type):
        raise UnauthorizedClientError(f"this client may not use grant_type={grant.grant_type}")
    policy: DpopPolicy = state.dpop
    proof = await validate_dpop_request(
        request.headers.getlist("dpop"),
        method="POST",
        # The issuer's own URL, not the Host header: right behind a proxy (RFC 9449 §4.3 item 9).
        url=f"{state.settings.issuer}/oauth/token",
        policy=policy,
        repos=call.uow,  # a session only if the proof's jti is recorded in it (replay.py)
        replay_guard=state.replay_guard,
        now=call.now,
    )
    ctx = GrantContext(
        uow=call.uow,
        minter=state.minter,
        audit=call.audit,
        client_ip=call.ip,
        now=call.now,
        dpop_jkt=validate_proof_required(proof, call.client),
    )
    response = await grant.exchange(token_request, call.client, ctx)
    state.metrics.tokens_issued.labels(grant.grant_type).inc()
    # RFC 6749 §5.1: token responses must not be cached.
    headers = dict(NO_STORE_HEADERS)
    nonce = policy.fresh_nonce(call.now)
    if nonce is not None:
        headers["DPoP-Nonce"] = nonce  # RFC 9449 §8.2
    return JSONResponse(response.to_wire(), headers=headers)
