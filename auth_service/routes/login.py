"""GET/POST /login and /logout: password login into a server-side session."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from auth_service.deps import (
    AuditorDep,
    FormDep,
    HasherDep,
    Now,
    OptionalSession,
    ReposDep,
    SettingsDep,
)
from auth_service.identity import authenticate_user, start_session
from auth_service.pages import (
    SESSION_COOKIE,
    clear_session_cookie,
    csrf_ok,
    render,
    render_form,
    session_hash_of,
    set_session_cookie,
)
from auth_service.repositories import Repositories
from auth_service.routes.errors import error_page
from shared.errors import InvalidRequestError
from shared.models import PendingAuthorization

router = APIRouter(tags=["pages"], include_in_schema=False)

LOGIN_FAILED = "The username or password is not right."
FORM_EXPIRED = "This form has expired. Please try again."


async def _pending_or_none(
    repos: Repositories, request_id: str, now: Now
) -> PendingAuthorization | None:
    return await repos.pending.get_active(request_id, now) if request_id else None


def _expired_request_page(request: Request) -> Response:
    return error_page(
        request,
        InvalidRequestError(
            "This sign-in request has expired or was already used. Go back to the app and try again."
        ),
    )


def safe_next(value: str | None) -> str | None:
    """A local path to return to after login; anything that could leave the site is dropped."""
    if (
        not value
        or len(value) > 512
        or not value.startswith("/")
        or value.startswith(("//", "/\\"))
    ):
        return None
    if any(ch in value for ch in "\\\r\n\t") or not value.isprintable():
        return None
    return value


async def _login_page(
    request: Request,
    repos: Repositories,
    pending: PendingAuthorization | None,
    *,
    username: str = "",
    next_path: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    client = await repos.clients.get_by_client_id(pending.client_id) if pending else None
    request_id = pending.id if pending else ""
    return render_form(
        request,
        "login.html",
        {
            "title": "Sign in",
            "client_name": client.name if client else None,
            "request_id": request_id,
            "next": next_path or "",
            "username": username,
            "error": error,
        },
        purpose="login",
        request_id=request_id,
        session_hash=session_hash_of(request),
        status_code=status_code,
    )


@router.get("/login")
async def login_form(
    request: Request, repos: ReposDep, now: Now, request_id: str = "", next: str = ""
) -> Response:
    pending = await _pending_or_none(repos, request_id, now)
    if request_id and pending is None:
        return _expired_request_page(request)
    hint = (pending.params.get("login_hint") or "") if pending else ""
    return await _login_page(request, repos, pending, username=hint, next_path=safe_next(next))


@router.post("/login")
async def login(
    request: Request,
    form: FormDep,
    repos: ReposDep,
    hasher: HasherDep,
    settings: SettingsDep,
    audit: AuditorDep,
    now: Now,
) -> Response:
    request_id = form.get("request_id", "")
    pending = await _pending_or_none(repos, request_id, now)
    if request_id and pending is None:
        return _expired_request_page(request)
    username = form.get("username", "")[:254]
    next_path = safe_next(form.get("next"))
    if not csrf_ok(
        request, form, purpose="login", request_id=request_id, session_hash=session_hash_of(request)
    ):
        return await _login_page(
            request,
            repos,
            pending,
            username=username,
            next_path=next_path,
            error=FORM_EXPIRED,
            status_code=400,
        )
    user = await authenticate_user(repos, hasher, username, form.get("password", ""), now)
    if user is None:
        audit.record("login_failed", client_id=pending.client_id if pending else None)
        return await _login_page(
            request,
            repos,
            pending,
            username=username,
            next_path=next_path,
            error=LOGIN_FAILED,
            status_code=400,
        )
    new = await start_session(
        repos, user, now=now, ttl=settings.session_ttl, replaces=request.cookies.get(SESSION_COOKIE)
    )
    audit.record(
        "login_succeeded", user_id=user.id, client_id=pending.client_id if pending else None
    )
    target = f"/consent?request_id={pending.id}" if pending else next_path or "/"
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, new.cookie_value, settings.session_ttl)
    return response


@router.get("/logout")
async def logout_form(request: Request, session: OptionalSession) -> Response:
    if session is None:
        return render(request, "logged_out.html", {"title": "Signed out"})
    return render_form(
        request,
        "logout.html",
        {"title": "Sign out"},
        purpose="logout",
        session_hash=session_hash_of(request),
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
