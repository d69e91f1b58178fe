"""GET/POST /oauth/logout: RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from auth_service.deps import AuditorDep, KeyStoreDep, Now, OptionalSession, ReposDep, SettingsDep
from auth_service.oauth.authorize.codes import redirect_uri_with
from auth_service.oauth.authorize.request import AuthorizationPageError
from auth_service.oauth.end_session import (
    LogoutRequest,
    allows_redirect,
    allows_silent_logout,
    validate_logout_request,
)
from auth_service.oauth.requests import parse_form_items, unique_params
from auth_service.security.redirect_uris import display_host
from auth_service.web.pages import FORM_EXPIRED, clear_session_cookie, csrf_ok, render, render_form
from shared.errors import OAuthError
from shared.models import UserSession

router = APIRouter(tags=["oidc"])
_FORM_ONLY = ("csrf_token", "confirm")
# RP-Initiated Logout §2: the parameters carried through the confirmation form; nothing else is echoed.
LOGOUT_PARAMETERS = frozenset(
    {"id_token_hint", "logout_hint", "client_id", "post_logout_redirect_uri", "state", "ui_locales"}
)


async def _params(request: Request) -> tuple[dict[str, str], frozenset[str]]:
    if request.method == "GET":
        return unique_params(request.query_params.multi_items())
    try:
        items = parse_form_items(await request.body(), request.headers.get("content-type"))
    except OAuthError as error:
        raise AuthorizationPageError(error) from None
    return unique_params(items)


def _host(logout: LogoutRequest) -> str | None:
    uri = logout.post_logout_redirect_uri
    return display_host(uri) if uri is not None else None


def _finish(request: Request, logout: LogoutRequest, ended_user_id: str | None) -> Response:
    """§3: back to the RP's registered URI with its state, or our own signed-out page, which
    shows where the link leads, not only the name the client chose for itself."""
    location = None
    if logout.post_logout_redirect_uri is not None:
        location = redirect_uri_with(logout.post_logout_redirect_uri, {"state": logout.state})
    if location is not None and allows_redirect(logout, ended_user_id):
        response: Response = RedirectResponse(location, status_code=303)
    else:
        response = render(
            request,
            "logged_out.html",
            {
                "title": "Signed out",
                "continue_to": location,
                "host": _host(logout),
                "client": logout.client,
            },
        )
    clear_session_cookie(request, response)
    return response


def _confirmation_page(
    request: Request,
    logout: LogoutRequest,
    params: dict[str, str],
    session: UserSession,
    *,
    expired: bool,
) -> Response:
    """Ask before signing out; a confirmation whose CSRF token failed is asked again (400)."""
    return render_form(
        request,
        "end_session.html",
        {
            "title": "Sign out",
            "client": logout.client,
            "host": _host(logout),
            "params": {k: v for k, v in params.items() if k in LOGOUT_PARAMETERS},
            "error": FORM_EXPIRED if expired else None,
        },
        purpose="end-session",
        session_hash=session.id_hash,
        status_code=400 if expired else 200,
    )


@router.get("/oauth/logout")  # RP-Initiated Logout §2: GET and POST
@router.post("/oauth/logout")
async def end_session(
    request: Request,
    repos: ReposDep,
    session: OptionalSession,
    keys: KeyStoreDep,
    settings: SettingsDep,
    audit: AuditorDep,
    now: Now,
) -> Response:
    params, repeated = await _params(request)
    form_fields = {name: params.pop(name, "") for name in _FORM_ONLY}
    logout = await validate_logout_request(
        params,
        repeated - set(_FORM_ONLY),
        repos,
        keys=keys,
        issuer=settings.issuer,
        now=now,
        leeway=settings.leeway,
        document_clients=settings.client_metadata_documents_enabled,
    )
    if session is not None:
        asked = request.method == "POST" and form_fields["confirm"] != ""
        confirmed = asked and csrf_ok(
            request, form_fields, purpose="end-session", session_hash=session.id_hash
        )
        if not (allows_silent_logout(logout, session.user_id) or confirmed):
            return _confirmation_page(request, logout, params, session, expired=asked)
        await repos.sessions.delete(session.id_hash)
        audit.record(
            "logout",
            user_id=session.user_id,
            client_id=logout.client.client_id if logout.client else None,
        )
    return _finish(request, logout, session.user_id if session is not None else None)
