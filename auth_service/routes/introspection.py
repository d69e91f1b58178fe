"""POST /oauth/introspect (RFC 7662), for clients an operator allowed to introspect."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from auth_service.deps import ClientCallDep, KeyStoreDep, SettingsDep
from auth_service.oauth.introspection import introspect, validate_introspecting_client
from shared.errors import NO_STORE_HEADERS, InvalidRequestError

router = APIRouter(tags=["oauth"])


@router.post("/oauth/introspect")
async def introspection(
    request: Request, call: ClientCallDep, keys: KeyStoreDep, settings: SettingsDep
) -> JSONResponse:
    validate_introspecting_client(call.client)
    token = call.form.get("token")
    if token is None:
        raise InvalidRequestError("token is required")
    response = await introspect(
        call.uow,
        request.app.state.introspection,
        token=token,
        token_type_hint=call.form.get("token_type_hint"),
        keys=keys,
        issuer=settings.issuer,
        audience=settings.resource_audience,
        now=call.now,
    )
    return JSONResponse(response.to_wire(), headers=NO_STORE_HEADERS)
