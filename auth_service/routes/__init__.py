"""Every router of the auth service, in one place."""

from __future__ import annotations

from fastapi import APIRouter

from auth_service.routes import authorize, consent, home, login, token, well_known

api_router = APIRouter()
for module in (authorize, token, well_known, login, consent, home):
    api_router.include_router(module.router)
