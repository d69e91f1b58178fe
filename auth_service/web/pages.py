"""HTML pages: templates, the session and browser cookies, and CSRF tokens for our forms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse, Response

from auth_service.security.csrf import csrf_token, csrf_token_matches
from auth_service.security.secrets import hash_token, new_token

# Base names; on an https issuer both carry the `__Host-` prefix (see `cookie_name`).
SESSION_COOKIE = "myauth_session"
FORM_EXPIRED = "This form has expired. Please try again."
# A random per-browser key for CSRF tokens; never a credential by itself.
BROWSER_COOKIE = "myauth_browser"
HOST_PREFIX = "__Host-"
TEMPLATE_DIR = Path(__file__).parent.parent / "templates"  # auth_service/templates
BROWSER_COOKIE_MAX_AGE = 400 * 86400


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATE_DIR))
    templates.env.autoescape = True
    return templates


def _cookie_secure(request: Request) -> bool:
    secure: bool = request.app.state.settings.cookie_secure
    return secure


def cookie_name(request: Request, base: str) -> str:
    """`__Host-<base>` when cookies are Secure (an https issuer), else `base`.

    A browser keeps a `__Host-` cookie only if it is Secure, has Path=/ and no Domain, so a
    sibling subdomain or a plain-http page cannot plant or overwrite it (RFC 6265bis section
    4.1.3.2; OWASP Session Management Cheat Sheet, "Cookie prefixes"). Plain http (development)
    cannot have Secure cookies, hence no prefix there.
    """
    return f"{HOST_PREFIX}{base}" if _cookie_secure(request) else base


def session_cookie_of(request: Request) -> str | None:
    return request.cookies.get(cookie_name(request, SESSION_COOKIE))


def session_hash_of(request: Request) -> str | None:
    value = session_cookie_of(request)
    return hash_token(value) if value else None


def render(
    request: Request, template: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.templates
    response: HTMLResponse = templates.TemplateResponse(
        request, template, context, status_code=status_code
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def render_form(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    purpose: str,
    request_id: str = "",
    session_hash: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """Render a page with a form whose CSRF token binds browser, session and pending request."""
    key = request.cookies.get(cookie_name(request, BROWSER_COOKIE))
    new_key = key is None or len(key) > 128
    if new_key:
        key = new_token()
    assert key is not None  # noqa: S101 - set just above
    token = csrf_token(key, purpose=purpose, session_hash=session_hash, request_id=request_id)
    response = render(request, template, {**context, "csrf_token": token}, status_code=status_code)
    if new_key:
        response.set_cookie(
            cookie_name(request, BROWSER_COOKIE),
            key,
            max_age=BROWSER_COOKIE_MAX_AGE,
            httponly=True,
            samesite="lax",
            secure=_cookie_secure(request),
            path="/",
        )
    return response


def csrf_ok(
    request: Request,
    form: dict[str, str],
    *,
    purpose: str,
    request_id: str = "",
    session_hash: str | None = None,
) -> bool:
    key = request.cookies.get(cookie_name(request, BROWSER_COOKIE))
    token = form.get("csrf_token")
    # A JSON body (the passkey endpoints) may hold anything here: only a string is a token.
    if not key or not isinstance(token, str) or not token or len(token) > 512:
        return False
    return csrf_token_matches(
        token, key, purpose=purpose, session_hash=session_hash, request_id=request_id
    )


class LoginRequired(Exception):
    """A page for signed-in users was asked for without a session: log in, then `next_path`.

    Raised by the `signed_in` dependency, rendered once by `routes.errors.login_required_handler`.
    """

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def set_session_cookie(request: Request, response: Response, value: str, max_age: int) -> None:
    response.set_cookie(
        cookie_name(request, SESSION_COOKIE),
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=_cookie_secure(request),
        path="/",
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        cookie_name(request, SESSION_COOKIE),
        httponly=True,
        samesite="lax",
        secure=_cookie_secure(request),
        path="/",
    )
