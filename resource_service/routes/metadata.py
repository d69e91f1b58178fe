"""GET /.well-known/oauth-protected-resource (RFC 9728 §3) and its variant for /mcp (§3.1)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from resource_service.protected_resource import MAX_AGE, WELL_KNOWN_PATH

router = APIRouter(tags=["discovery"])


# RFC 9728 §3.1 would give a resource at <base>/mcp its own document, naming <base>/mcp. The MCP
# endpoint is part of this API, with the same identifier (the tokens' `aud`), so the path-inserted
# URL an MCP client tries first answers with the same document: a resource that is a prefix of
# the server URL is what the MCP SDK accepts (mcp.shared.auth_utils.check_resource_allowed).
@router.get(WELL_KNOWN_PATH)
@router.get(WELL_KNOWN_PATH + "/mcp")
async def protected_resource_metadata(request: Request) -> JSONResponse:
    return JSONResponse(
        request.app.state.protected_resource_metadata,
        headers={"Cache-Control": f"public, max-age={MAX_AGE}"},
    )
