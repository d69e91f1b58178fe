"""POST /oauth/register (RFC 7591) and GET/PUT/DELETE /oauth/register/{client_id} (RFC 7592)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from starlette.responses import JSONResponse, Response

from auth_service.deps import AuditorDep, ClientIp, Now, ReposDep, SettingsDep, ThrottleDep
from auth_service.oauth import registration
from auth_service.oauth.requests import parse_json_object
from shared.bearer import require_bearer
from shared.errors import NO_STORE_HEADERS

router = APIRouter(tags=["registration"])


def _check_enabled(request: Request) -> None:
    # With neither an initial access token nor open registration the endpoint does not exist.
    if not request.app.state.settings.registration_enabled:
        raise HTTPException(status_code=404)


@router.post("/oauth/register", status_code=201)
async def register(
    request: Request,
    repos: ReposDep,
    settings: SettingsDep,
    throttle: ThrottleDep,
    ip: ClientIp,
    audit: AuditorDep,
    now: Now,
) -> JSONResponse:
    _check_enabled(request)
    registration.validate_initial_access_token(
        request.headers.get("authorization"), settings.registration_initial_access_token
    )
    await throttle.hit_address("register-ip", ip, throttle.policy.registration_per_ip)
    metadata = parse_json_object(await request.body(), request.headers.get("content-type"))
    response = await registration.register(
        repos,
        metadata,
        now=now,
        issuer=settings.issuer,
        signing_alg=settings.signing_alg,
        seal=request.app.state.secret_box.encrypt,  # client_secret_jwt keeps its secret sealed
        signing_algs=settings.signing_algs,
    )
    audit.record("client_registered", client_id=response["client_id"], via="dynamic_registration")
    return JSONResponse(response, status_code=201, headers=NO_STORE_HEADERS)


@router.get("/oauth/register/{client_id}")
async def read(
    request: Request, client_id: str, repos: ReposDep, settings: SettingsDep
) -> JSONResponse:
    _check_enabled(request)
    token = require_bearer(request.headers.get("authorization"), realm=registration.REALM)
    client = await registration.client_for_registration_token(repos, client_id, token)
    return JSONResponse(
        registration.client_metadata(
            client, issuer=settings.issuer, signing_alg=settings.signing_alg
        ),
        headers=NO_STORE_HEADERS,
    )


@router.put("/oauth/register/{client_id}")
async def replace(
    request: Request,
    client_id: str,
    repos: ReposDep,
    settings: SettingsDep,
    audit: AuditorDep,
    now: Now,
) -> JSONResponse:
    _check_enabled(request)
    token = require_bearer(request.headers.get("authorization"), realm=registration.REALM)
    client = await registration.client_for_registration_token(repos, client_id, token)
    metadata = parse_json_object(await request.body(), request.headers.get("content-type"))
    response = await registration.update(
        repos,
        client,
        metadata,
        now=now,
        issuer=settings.issuer,
        signing_alg=settings.signing_alg,
        signing_algs=settings.signing_algs,
    )
    audit.record("client_updated", client_id=client_id, via="dynamic_registration")
    return JSONResponse(response, headers=NO_STORE_HEADERS)


@router.delete("/oauth/register/{client_id}", status_code=204)
async def delete(
    request: Request, client_id: str, repos: ReposDep, audit: AuditorDep, now: Now
) -> Response:
    _check_enabled(request)
    token = require_bearer(request.headers.get("authorization"), realm=registration.REALM)
    client = await registration.client_for_registration_token(repos, client_id, token)
    await registration.deregister(repos, client, now=now)
    audit.record("client_deleted", client_id=client_id, via="dynamic_registration")
    return Response(status_code=204, headers=NO_STORE_HEADERS)
