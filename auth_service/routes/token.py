"""POST /oauth/token (RFC 6749 §3.2): parse, authenticate the client, run the grant, render."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from auth_service.deps import ClientCall, ClientCallDep
from auth_service.oauth.dpop import DpopPolicy, validate_dpop_request, validate_proof_required
from auth_service.oauth.grants import get_grant
from auth_service.oauth.grants.base import GrantContext
from auth_service.oauth.requests import TokenRequest
from auth_service.throttling.addresses import address_group
from auth_service.throttling.policy import Throttle
from shared.errors import NO_STORE_HEADERS, UnauthorizedClientError

router = APIRouter(tags=["oauth"])


def _budget_key(call: ClientCall) -> str:
    """A confidential client has proved itself: its budget is its own. A public client proves
    nothing (RFC 6749 section 2.1), so anyone could spend a budget keyed by its id alone and
    lock all its users out: it is counted per client and address (IPv6 by /64)."""
    if call.client.is_public:
        return f"{call.client.client_id}|{address_group(call.ip)}"
    return call.client.client_id


@router.post("/oauth/token")
async def token(request: Request, call: ClientCallDep) -> JSONResponse:
    state = request.app.state
    throttle: Throttle = state.throttle
    await throttle.hit("token-client", _budget_key(call), throttle.policy.token_per_client)
    token_request = TokenRequest.from_form(call.form)
    grant = get_grant(state.grants, token_request.grant_type)
    if not call.client.allows_grant_type(grant.grant_type):
        raise UnauthorizedClientError(f"this client may not use grant_type={grant.grant_type}")
    policy: DpopPolicy = state.dpop
    proof = await validate_dpop_request(
        request.headers.getlist("dpop"),
        method="POST",
        # The issuer's own URL, not the Host header: right behind a proxy (RFC 9449 §4.3 item 9).
        url=f"{state.settings.issuer}/oauth/token",
        policy=policy,
        repos=call.uow.repos,
        redis_guard=state.replay_guard,
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
