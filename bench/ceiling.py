"""The ceilings: a tiny FastAPI app served like the services, doing only the unavoidable work.

`uvicorn bench.ceiling:create_app --factory`. Three ceilings (small JSON, a form POST answered
with a freshly signed RS256 JWT, a GET that only reads the Authorization header) and the bearer
pair: one endpoint behind the resource service's own bearer dependency, the same one without it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Request
from starlette.responses import JSONResponse

from resource_service.deps import BearerClaims
from resource_service.main import create_app as create_resource_app
from shared.errors import OAuthError, oauth_error_handler
from shared.tokens import load_private_key, sign

NO_STORE = {"Cache-Control": "no-store"}


def new_rsa_key() -> Any:
    """A 2048-bit RSA key, loaded by shared.tokens (joserfc) exactly as the auth service loads its own."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return load_private_key(pem, "RS256")


def create_app() -> FastAPI:
    """The bearer pair runs on the resource service's own state (JWKS cache, deny list, caches)."""
    resource_app = create_resource_app()
    settings = resource_app.state.settings
    signing_key = new_rsa_key()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with resource_app.router.lifespan_context(resource_app):
            yield

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
    # One State object: whatever resource_service.main sets up now or later, the dependency finds.
    app.state = resource_app.state
    app.add_exception_handler(OAuthError, oauth_error_handler)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ceiling/json")
    async def small_json() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/ceiling/token")
    async def token(request: Request) -> JSONResponse:
        form = dict(parse_qsl((await request.body()).decode("ascii")))
        iat = int(time.time())
        claims = {
            "iss": settings.issuer,
            "sub": form.get("client_id", "ceiling"),
            "aud": settings.audience,
            "client_id": form.get("client_id", "ceiling"),
            "scope": form.get("scope", "read:notes"),
            "iat": iat,
            "exp": iat + 900,
            "jti": secrets.token_urlsafe(16),
        }
        # The auth service's own call (shared.tokens.sign over joserfc), so the ratio compares
        # everything but the signature.
        access_token = sign(claims, signing_key, kid="ceiling", alg="RS256", typ="at+jwt")
        body = {"access_token": access_token, "token_type": "Bearer", "expires_in": 900}
        return JSONResponse(body, headers=NO_STORE)

    @app.get("/ceiling/header")
    async def header(request: Request) -> dict[str, int]:
        return {"length": len(request.headers.get("authorization", ""))}

    @app.get("/bearer/protected")
    async def protected(claims: BearerClaims) -> dict[str, str]:
        return {"sub": claims.sub}

    @app.get("/bearer/unprotected")
    async def unprotected(request: Request) -> dict[str, str]:
        return {"sub": "anonymous" if request.headers.get("authorization") else ""}

    return app
