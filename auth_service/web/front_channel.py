"""The front-channel error renderer: our own page until the redirect URI is verified, then a redirect."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from auth_service.oauth.authorize.codes import redirect_uri_with
from auth_service.oauth.authorize.request import AuthorizationPageError, AuthorizationRedirectError
from auth_service.security.redirect_uris import display_host
from auth_service.web.pages import LoginRequired, render
from shared.errors import OAuthError


def error_page(request: Request, error: OAuthError, *, status_code: int = 400) -> HTMLResponse:
    return render(
        request,
        "error.html",
        {"title": "Something went wrong", "error": error.error, "description": error.description},
        status_code=status_code,
    )


def redirect_to_client(
    request: Request, redirect_uri: str, params: dict[str, str | None]
) -> Response:
    """302 to the verified redirect URI with `iss` (RFC 9207 §2); never 307 (RFC 9700 §4.12)."""
    issuer: str = request.app.state.settings.issuer
    location = redirect_uri_with(redirect_uri, {**params, "iss": issuer})
    return RedirectResponse(location, status_code=302, headers={"Cache-Control": "no-store"})


async def authorization_page_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AuthorizationPageError)  # noqa: S101 - registered for this type only
    return error_page(request, exc.error)


def error_redirect(
    request: Request, error: OAuthError, redirect_uri: str, state: str | None
) -> Response:
    """RFC 6749 §4.1.2.1: the error, its description and the client's state, plus `iss`."""
    params: dict[str, str | None] = {
        "error": error.error,
        "error_description": error.description,
        "state": state,
    }
    return redirect_to_client(request, redirect_uri, params)


async def authorization_redirect_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AuthorizationRedirectError)  # noqa: S101 - registered for this type only
    if exc.confirm:
        return confirm_redirect_page(request, exc)
    return error_redirect(request, exc.error, exc.redirect_uri, exc.state)


def confirm_redirect_page(request: Request, exc: AuthorizationRedirectError) -> Response:
    """RFC 9700 §4.11.2: for a client nobody vetted, the user decides whether to follow the error
    back to it, so a self-registered redirect URI cannot make us a silent open redirector."""
    issuer: str = request.app.state.settings.issuer
    params = {
        "error": exc.error.error,
        "error_description": exc.error.description,
        "state": exc.state,
    }
    location = redirect_uri_with(exc.redirect_uri, {**params, "iss": issuer})
    return render(
        request,
        "redirect_confirm.html",
        {
            "title": "The app's request failed",
            "description": exc.error.description,
            "host": display_host(exc.redirect_uri),
            "location": location,
        },
        status_code=400,
    )


async def login_required_handler(request: Request, exc: Exception) -> Response:
    """Pages for signed-in users send everyone else to /login and, after it, back."""
    assert isinstance(exc, LoginRequired)  # noqa: S101 - registered for this type only
    # `next_path` is one of our own route paths, safe to put in the query as it is.
    return RedirectResponse(f"/login?next={exc.next_path}", status_code=303)
