"""GET/POST /oauth/userinfo (OIDC Core §5.3) with a bearer access token (RFC 6750 §2.1, §2.2)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from auth_service.deps import KeyStoreDep, Now, ReposDep, SettingsDep
from auth_service.oauth.requests import FORM_CONTENT_TYPE, parse_form
from auth_service.oauth.userinfo import REALM, userinfo_claims, validate_userinfo_token
from shared.bearer import bearer_from_header, require_bearer
from shared.errors import NO_STORE_HEADERS, BearerRequestError

router = APIRouter(tags=["oidc"])


async def _access_token(request: Request) -> str:
    header_token = bearer_from_header(request.headers.get("authorization"), realm=REALM)
    content_type = request.headers.get("content-type", "")
    if request.method == "POST" and content_type.startswith(FORM_CONTENT_TYPE):
        try:
            form_token = parse_form(await request.body(), content_type).get("access_token")
        except Exception:  # noqa: BLE001 - any malformed body is a malformed request here
            raise BearerRequestError("the request body is malformed", realm=REALM) from None
        if form_token is not None:
            # RFC 6750 §2: a client must not use more than one method to send the token.
            if header_token is not None:
                raise BearerRequestError("send the access token in one place only", realm=REALM)
            return form_token
    return require_bearer(request.headers.get("authorization"), realm=REALM)


@router.api_route("/oauth/userinfo", methods=["GET", "POST"])
async def userinfo(
    request: Request, repos: ReposDep, keys: KeyStoreDep, settings: SettingsDep, now: Now
) -> JSONResponse:
    claims, user = await validate_userinfo_token(
        repos,
        await _access_token(request),
        keys=keys,
        issuer=settings.issuer,
        audience=settings.resource_audience,
        now=now,
        leeway=settings.leeway,
    )
    return JSONResponse(userinfo_claims(user, claims.scopes), headers=NO_STORE_HEADERS)
