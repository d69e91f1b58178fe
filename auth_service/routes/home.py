"""The provider's own start page: who is signed in, and a way out."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from auth_service.deps import OptionalSession, ReposDep
from auth_service.web.pages import render_form

router = APIRouter(tags=["pages"], include_in_schema=False)


@router.get("/")
async def home(request: Request, session: OptionalSession, repos: ReposDep) -> Response:
    user = await repos.users.get_by_id(session.user_id) if session else None
    return render_form(
        request,
        "home.html",
        {"title": "MyAuthProvider", "user": user},
        purpose="logout",
        session_hash=session.id_hash if session else None,
    )
