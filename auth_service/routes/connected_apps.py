"""/account/apps: the apps a user has allowed, and a way to take that back."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from auth_service.deps import AuditorDep, FormDep, Now, ReposDep, SignedIn, signed_in
from auth_service.oauth.revocation import revoke_client_access
from auth_service.web.pages import csrf_ok, render_form
from shared.scopes import describe

router = APIRouter(tags=["pages"], include_in_schema=False)
APPS_PATH = "/account/apps"
AppsUser = Annotated[SignedIn, Depends(signed_in(APPS_PATH))]


@router.get(APPS_PATH)
async def connected_apps(
    request: Request, repos: ReposDep, me: AppsUser, message: str = ""
) -> Response:
    session = me.session
    last_used = await repos.grants.last_used(session.user_id)
    apps = [
        {
            "client_id": client.client_id,
            "name": client.name,
            "published_by": client.published_by,
            "scopes": describe(consent.scopes),
            "granted_at": consent.created_at,
            "last_used_at": last_used.get(client.client_id),
        }
        for consent, client in await repos.consents.list_for_user(session.user_id)
    ]
    return render_form(
        request,
        "apps.html",
        {"title": "Connected apps", "user": me.user, "apps": apps, "message": message[:200]},
        purpose="revoke-app",
        session_hash=session.id_hash,
    )


@router.post(f"{APPS_PATH}/revoke")
async def revoke_app(
    request: Request,
    form: FormDep,
    repos: ReposDep,
    me: AppsUser,
    audit: AuditorDep,
    now: Now,
) -> Response:
    session = me.session
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
