"""GET/POST /logout: end the user's session on the provider (CSRF-protected POST)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from auth_service.deps import AuditorDep, FormDep, OptionalSession, ReposDep
from auth_service.web.pages import FORM_EXPIRED, clear_session_cookie, csrf_ok, render, render_form

router = APIRouter(tags=["pages"], include_in_schema=False)


@router.get("/logout")
async def logout_form(request: Request, session: OptionalSession) -> Response:
    if session is None:
        return render(request, "logged_out.html", {"title": "Signed out"})
    return render_form(
        request,
        "logout.html",
        {"title": "Sign out"},
        purpose="logout",
        session_hash=session.id_hash,
    )


@router.post("/logout")
async def logout(
    request: Request, form: FormDep, repos: ReposDep, session: OptionalSession, audit: AuditorDep
) -> Response:
    if session is not None:
        if not csrf_ok(request, form, purpose="logout", session_hash=session.id_hash):
            return render_form(
                request,
                "logout.html",
                {"title": "Sign out", "error": FORM_EXPIRED},
                purpose="logout",
                session_hash=session.id_hash,
                status_code=400,
            )
        await repos.sessions.delete(session.id_hash)
        audit.record("logout", user_id=session.user_id)
    response = render(request, "logged_out.html", {"title": "Signed out"})
    clear_session_cookie(request, response)
    return response
