"""Every router of the auth service, in one place."""

from __future__ import annotations

from fastapi import APIRouter

from auth_service.routes import (
    account,
    authorize,
    consent,
    end_session,
    home,
    introspection,
    login,
    logout,
    revocation,
    token,
    userinfo,
    well_known,
)

api_router = APIRouter()
for module in (
    authorize,
    token,
    revocation,
    introspection,
    userinfo,
    end_session,
    well_known,
    login,
    logout,
    consent,
    account,
    home,
):
    api_router.include_router(module.router)
