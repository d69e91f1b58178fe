"""POST /oauth/par (RFC 9126 §2): authenticate the client as at the token endpoint, keep the
request, answer with its request_uri."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from auth_service.deps import ClientCallDep, request_object_context
from auth_service.oauth.authorize.request_object import pushed_params
from auth_service.oauth.dpop import bind_pushed_request, validate_dpop_request
from auth_service.oauth.pushed_authorization import push_authorization_request
from auth_service.throttling.clients import client_budget_key
from auth_service.throttling.policy import Throttle
from shared.errors import NO_STORE_HEADERS

router = APIRouter(tags=["oauth"])


@router.post("/oauth/par", status_code=201)
async def pushed_authorization_request(request: Request, call: ClientCallDep) -> JSONResponse:
    state = request.app.state
    throttle: Throttle = state.throttle
    # Each push stores a row: bounded like token requests, in a budget of its own.
    budget = client_budget_key(call.client, call.ip)
    await throttle.hit("par-client", budget, throttle.policy.token_per_client)
    # RFC 9449 §10.1: a DPoP proof on the push binds the code to its key, as `dpop_jkt` would.
    proof = await validate_dpop_request(
        request.headers.getlist("dpop"),
        method="POST",
        url=f"{state.settings.issuer}/oauth/par",
        policy=state.dpop,
        repos=call.uow.repos,
        replay_guard=state.replay_guard,
        now=call.now,
    )
    # RFC 9126 §3 / RFC 9101 §6.3: a signed request object stands for every parameter.
    signed = await pushed_params(
        call.form, call.resources, call.client, request_object_context(request, call.uow.repos)
    )
    form = bind_pushed_request(signed.params, proof)
    pushed = await push_authorization_request(
        call.uow.repos,
        call.client,
        form,
        now=call.now,
        lifetime=state.settings.par_lifetime,
        registry=call.uow,
        resources=signed.resources,
    )
    # RFC 9126 §2.2: 201 Created; the request_uri is a credential, so never cached.
    return JSONResponse(pushed.to_wire(), status_code=201, headers=NO_STORE_HEADERS)
