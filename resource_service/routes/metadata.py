"""GET /.well-known/oauth-protected-resource (RFC 9728 §3)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from resource_service.protected_resource import MAX_AGE, WELL_KNOWN_PATH

router = APIRouter(tags=["discovery"])


# Only at the root: the MCP endpoint is part of this API and shares its identifier (the tokens'
# `aud`). A document at the path-inserted URL for /mcp (RFC 9728 §3.1) would have to name
# <base>/mcp (§3.3: identical to the identifier that gave its URL), a resource no token is for.
# MCP clients take the URL from the challenge's resource_metadata or fall back to the root one.
@router.get(WELL_KNOWN_PATH)
async def protected_resource_metadata(request: Request) -> JSONResponse:
    return JSONResponse(
        request.app.state.protected_resource_metadata,
        headers={"Cache-Control": f"public, max-age={MAX_AGE}"},
    )
