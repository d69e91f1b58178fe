"""Discovery (OIDC Discovery 1.0 §4, RFC 8414 §3) and the public keys (RFC 7517)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from auth_service.deps import KeyStoreDep, Now, SettingsDep
from auth_service.oauth.discovery import provider_metadata
from auth_service.oauth.grants import grant_types, response_types
from shared.scopes import SCOPES

router = APIRouter(tags=["discovery"])


def _cache_headers(max_age: int) -> dict[str, str]:
    return {"Cache-Control": f"public, max-age={max_age}"}


@router.get("/.well-known/openid-configuration")
@router.get("/.well-known/oauth-authorization-server")
async def discovery(settings: SettingsDep) -> JSONResponse:
    metadata = provider_metadata(
        settings.issuer,
        grant_types=grant_types(),
        response_types=tuple(response_types()),
        scopes=SCOPES,
        signing_algs=settings.signing_algs,
        registration_enabled=settings.registration_enabled,
        client_id_metadata_documents=settings.client_metadata_documents_enabled,
        require_pushed_authorization_requests=settings.require_par,
    )
    return JSONResponse(metadata, headers=_cache_headers(settings.discovery_max_age))


@router.get("/.well-known/jwks.json")
async def jwks(
    request: Request, key_store: KeyStoreDep, settings: SettingsDep, now: Now
) -> JSONResponse:
    return JSONResponse(
        key_store.current().jwks(now), headers=_cache_headers(settings.jwks_max_age)
    )
