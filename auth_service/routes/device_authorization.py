"""POST /oauth/device_authorization (RFC 8628 §3.1): authenticate the client as at the token
endpoint, answer with a device code, a user code and where the user enters it (§3.2)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from auth_service.config import AuthSettings
from auth_service.deps import ClientCallDep
from auth_service.oauth.device_authorization import start_device_authorization
from auth_service.security.user_codes import KEY_PURPOSE
from auth_service.throttling.clients import client_budget_key
from auth_service.throttling.policy import Throttle
from shared.errors import NO_STORE_HEADERS

router = APIRouter(tags=["oauth"])


@router.post("/oauth/device_authorization")
async def device_authorization(request: Request, call: ClientCallDep) -> JSONResponse:
    settings: AuthSettings = request.app.state.settings
    throttle: Throttle = request.app.state.throttle
    # Each request stores a row a person must answer: a small budget of its own per client
    # (a public one's per client and address, as at the token endpoint).
    budget = client_budget_key(call.client, call.ip)
    await throttle.hit("device-client", budget, throttle.policy.device_authorization_per_client)
    started = await start_device_authorization(
        call.uow.repos,
        call.client,
        call.form,
        registry=call.uow,
        resources=call.resources,
        user_code_key=request.app.state.secret_box.derive_key(KEY_PURPOSE),
        issuer=settings.issuer,
        now=call.now,
        lifetime=settings.device_code_lifetime,
        interval=settings.device_poll_interval,
    )
    # The device code is a credential: never cached (RFC 6749 §5.1, as for tokens).
    return JSONResponse(started.to_wire(), headers=NO_STORE_HEADERS)
