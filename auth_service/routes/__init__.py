"""Every router of the auth service, in one place."""

from __future__ import annotations

from fastapi import APIRouter

from auth_service.routes import (
    account,
    account_deletion,
    account_sessions,
    authorize,
    connected_apps,
    consent,
    dev_mail,
    developer_resources,
    developers,
    device,
    device_authorization,
    email_verification,
    end_session,
    home,
    introspection,
    login,
    logout,
    passkeys,
    password_reset,
    pushed_authorization,
    registration,
    revocation,
    signup,
    token,
    two_factor,
    upstream_login,
    userinfo,
    well_known,
)

api_router = APIRouter()
for module in (
    authorize,
    pushed_authorization,
    device_authorization,
    token,
    revocation,
    introspection,
    registration,
    userinfo,
    end_session,
    well_known,
    login,
    logout,
    consent,
    device,
    connected_apps,
    account,
    account_sessions,
    account_deletion,
    two_factor,
    signup,
    password_reset,
    email_verification,
    upstream_login,
    passkeys,
    dev_mail,
    developers,
    developer_resources,
    home,
):
    api_router.include_router(module.router)
