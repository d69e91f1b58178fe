"""GET/POST /oauth/userinfo (OIDC Core §5.3) with a bearer access token (RFC 6750 §2.1, §2.2)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from auth_service.deps import KeyStoreDep, Now, ReposDep, SettingsDep
from auth_service.oauth.requests import FORM_CONTENT_TYPE, parse_form
from auth_service.oauth.userinfo import (
    ALGS,
    REALM,
    refuse_bound_bearer,
    userinfo_claims,
    validate_token_location,
    validate_userinfo_dpop,
    validate_userinfo_token,
)
from shared.bearer import bearer_from_header
from shared.dpop_auth import dpop_from_header
from shared.errors import NO_STORE_HEADERS, BearerRequestError

router = APIRouter(tags=["oidc"])


async def _form_token(request: Request) -> str | None:
    """The `access_token` of a form-encoded POST body (RFC 6750 §2.2), if there is one."""
    content_type = request.headers.get("content-type", "")
    if request.method != "POST" or not content_type.startswith(FORM_CONTENT_TYPE):
        return None
    try:
        return parse_form(await request.body(), content_type).get("access_token")
    except Exception:  # noqa: BLE001 - any malformed body is a malformed request here
        raise BearerRequestError("the request body is malformed", realm=REALM) from None


@router.get("/oauth/userinfo")  # OIDC Core §5.3.1: GET and POST
@router.post("/oauth/userinfo")
async def userinfo(
    request: Request, repos: ReposDep, keys: KeyStoreDep, settings: SettingsDep, now: Now
) -> JSONResponse:
    authorization = request.headers.get("authorization")
    dpop_token = dpop_from_header(authorization, realm=REALM, algs=ALGS)
    if dpop_token is not None:
        claims, user = await validate_userinfo_dpop(
            repos,
            validate_token_location(dpop_token, await _form_token(request)),
            request.headers.getlist("dpop"),
            keys=keys,
            issuer=settings.issuer,
            audience=settings.resource_audience,
            now=now,
            leeway=settings.leeway,
            method=request.method,
            policy=request.app.state.dpop,
            replay_guard=request.app.state.replay_guard,
            document_clients=settings.client_metadata_documents_enabled,
        )
        return JSONResponse(userinfo_claims(user, claims.scopes), headers=NO_STORE_HEADERS)
    header_token = bearer_from_header(authorization, realm=REALM)
    claims, user = await validate_userinfo_token(
        repos,
        validate_token_location(header_token, await _form_token(request)),
        keys=keys,
        issuer=settings.issuer,
        audience=settings.resource_audience,
        now=now,
        leeway=settings.leeway,
        document_clients=settings.client_metadata_documents_enabled,
    )
    refuse_bound_bearer(claims)
    return JSONResponse(userinfo_claims(user, claims.scopes), headers=NO_STORE_HEADERS)
