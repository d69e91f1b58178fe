"""Every router of the resource service."""

from __future__ import annotations

from fastapi import APIRouter

from resource_service.routes import me, metadata, notes

# Each router's own routes are APIRoutes, so the protected resource metadata reads their scopes
# from here (resource_service.protected_resource.required_scopes).
ROUTERS = (me.router, notes.router, metadata.router)

api_router = APIRouter()
for _router in ROUTERS:
    api_router.include_router(_router)
