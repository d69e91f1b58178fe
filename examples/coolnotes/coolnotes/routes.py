"""CoolNotesApp's pages: sign in with MyAuthProvider, see, add and delete notes, sign out."""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from authlib.integrations.starlette_client import OAuthError, StarletteOAuth2App
from fastapi import APIRouter, Request
from fastapi.templating import Jinja2Templates
from joserfc.errors import JoseError
from starlette.responses import RedirectResponse, Response

from coolnotes.config import CoolNotesSettings
from coolnotes.notes_api import NotesApi
from coolnotes.sessions import Session

router = APIRouter()

# Outcomes shown on the home page; only these fixed texts ever reach it from the URL.
NOTICES = {
    "access-denied": "Access was refused: you chose not to let CoolNotesApp use your "
    "MyAuthProvider account, so you are not signed in.",
    "login-again": "Your access has ended (it was removed or it expired). Please log in again.",
    "login-failed": "Signing in did not complete. Please try again.",
    "signed-out": "You are signed out of CoolNotesApp and MyAuthProvider.",
}


def _settings(request: Request) -> CoolNotesSettings:
    settings: CoolNotesSettings = request.app.state.settings
    return settings


def _provider(request: Request) -> StarletteOAuth2App:
    return request.app.state.provider


def _session(request: Request) -> Session:
    session: Session = request.session  # type: ignore[assignment]
    return session


def render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    response = templates.TemplateResponse(request, template, context, status_code=status)
    response.headers["Cache-Control"] = "no-store"  # pages show private notes
    return response


def redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


async def notes_api(request: Request) -> NotesApi:
    metadata = await _provider(request).load_server_metadata()
    return NotesApi(_settings(request), metadata["token_endpoint"], _session(request))


@router.get("/")
async def home(request: Request, notice: str = "", cursor: str | None = None) -> Response:
    session = _session(request)
    if "token" not in session:
        if "state" in request.query_params and await _is_logout_return(request):
            return redirect("/?notice=signed-out")  # a clean address bar
        return render(
            request, "home.html", {"title": "CoolNotesApp", "notice": NOTICES.get(notice)}
        )
    page = await (await notes_api(request)).page(cursor)
    return render(request, "notes.html", _notes_context(session, page.items, page.next_cursor))


def _notes_context(session: Session, notes: Any, next_cursor: str | None = None) -> dict[str, Any]:
    return {
        "title": "Your notes · CoolNotesApp",
        "user": session["user"],
        "notes": notes,
        "next_cursor": next_cursor,
        "csrf_token": session["csrf_token"],
    }


async def _is_logout_return(request: Request) -> bool:
    """Back from the provider's end_session_endpoint with the `state` Authlib sent."""
    try:
        await _provider(request).validate_logout_response(request)
    except OAuthError:
        return False
    return True


@router.get("/login")
async def login(request: Request) -> Response:
    if "token" in _session(request):
        return redirect("/")
    # Authlib makes state, nonce and the PKCE pair, keeps them in the session, and redirects.
    response: Response = await _provider(request).authorize_redirect(
        request, _settings(request).redirect_uri
    )
    return response


@router.get("/auth/callback")
async def callback(request: Request) -> Response:
    provider = _provider(request)
    try:
        # Checks state, exchanges the code with the PKCE verifier, validates the ID token.
        token = await provider.authorize_access_token(request)
        userinfo = await provider.userinfo(token=token)
    except (OAuthError, JoseError) as error:
        denied = getattr(error, "error", None) == "access_denied"
        return redirect(f"/?notice={'access-denied' if denied else 'login-failed'}")
    if userinfo["sub"] != token["userinfo"]["sub"]:  # OIDC Core §5.3.2
        return redirect("/?notice=login-failed")
    session = _session(request)
    session.clear()
    session.regenerate()
    session["token"] = {k: v for k, v in token.items() if k != "userinfo"}
    session["user"] = {"sub": userinfo["sub"], "name": userinfo.get("name") or "there"}
    session["csrf_token"] = secrets.token_urlsafe(32)
    return redirect("/")


async def _checked_form(request: Request) -> dict[str, str] | None:
    """The posted form, or None unless it carries this session's CSRF token."""
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    expected = _session(request).get("csrf_token")
    sent = form.get("csrf_token", "").encode()  # bytes: compare_digest refuses non-ASCII str
    if expected is None or not hmac.compare_digest(sent, expected.encode()):
        return None
    return form


def _expired_form(request: Request) -> Response:
    context = {"title": "Please try again · CoolNotesApp", "message": "That form has expired."}
    return render(request, "error.html", context, status=403)


@router.post("/notes")
async def add_note(request: Request) -> Response:
    form = await _checked_form(request)
    if form is None:
        return _expired_form(request)
    api = await notes_api(request)
    errors = await api.create(form.get("title", ""), form.get("body", ""))
    if not errors:
        return redirect("/")
    page = await api.page()
    context = _notes_context(_session(request), page.items, page.next_cursor)
    return render(request, "notes.html", {**context, "errors": errors, "draft": form}, status=400)


@router.post("/notes/{note_id}/delete")
async def delete_note(request: Request, note_id: int) -> Response:
    if await _checked_form(request) is None:
        return _expired_form(request)
    await (await notes_api(request)).delete(note_id)
    return redirect("/")


@router.post("/logout")
async def logout(request: Request) -> Response:
    if await _checked_form(request) is None:
        return _expired_form(request)
    session = _session(request)
    id_token = session.get("token", {}).get("id_token")
    session.clear()
    # RP-initiated logout: the provider ends its own session too, then sends the browser back.
    response: Response = await _provider(request).logout_redirect(
        request,
        post_logout_redirect_uri=_settings(request).post_logout_redirect_uri,
        id_token_hint=id_token,
    )
    return response


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
