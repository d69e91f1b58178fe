"""/account/apps: the apps a user has allowed, and a way to take that back."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from auth_service.deps import AuditorDep, FormDep, Now, OptionalSession, ReposDep
from auth_service.oauth.revocation import revoke_client_access
from auth_service.pages import csrf_ok, login_first, render_form
from shared.scopes import describe

router = APIRouter(tags=["pages"], include_in_schema=False)
APPS_PATH = "/account/apps"


@router.get(APPS_PATH)
async def connected_apps(
    request: Request, repos: ReposDep, session: OptionalSession, message: str = ""
) -> Response:
    if session is None:
        return login_first(APPS_PATH)
    user = await repos.users.get_by_id(session.user_id)
    last_used = await repos.grants.last_used(session.user_id)
    apps = [
        {
            "client_id": client.client_id,
            "name": client.name,
            "scopes": describe(consent.scopes),
            "granted_at": consent.created_at,
            "last_used_at": last_used.get(client.client_id),
        }
        for consent, client in await repos.consents.list_for_user(session.user_id)
    ]
    return render_form(
        request,
        "apps.html",
        {"title": "Connected apps", "user": user, "apps": apps, "message": message[:200]},
        purpose="revoke-app",
        session_hash=session.id_hash,
    )


@router.post(f"{APPS_PATH}/revoke")
async def revoke_app(
    request: Request,
    form: FormDep,
    repos: ReposDep,
    session: OptionalSession,
    audit: AuditorDep,
    now: Now,
) -> Response:
    if session is None:
        return login_first(APPS_PATH)
    if not csrf_ok(request, form, purpose="revoke-app", session_hash=session.id_hash):
        return RedirectResponse(f"{APPS_PATH}?message=expired", status_code=303)
    client = await repos.clients.get_by_client_id(form.get("client_id", ""))
    if client is not None and await revoke_client_access(
        repos,
        user_id=session.user_id,
        client_id=client.client_id,
        now=now,
    ):
        audit.record("consent_revoked", user_id=session.user_id, client_id=client.client_id)
        return RedirectResponse(f"{APPS_PATH}?message=revoked", status_code=303)
    return RedirectResponse(APPS_PATH, status_code=303)
