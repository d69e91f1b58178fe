"""How the auth service renders failures: an HTML page on browser routes, JSON elsewhere."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from auth_service.web.front_channel import error_page
from shared.errors import OAuthError, oauth_error_response

_PAGE_PREFIXES = (
    "/oauth/authorize",
    "/oauth/logout",
    "/login",
    "/logout",
    "/consent",
    "/account",
    "/signup",
    "/developers",
    "/device",
)


def is_page(request: Request) -> bool:
    path = request.url.path
    return path == "/" or path.startswith(_PAGE_PREFIXES)


def render_failure(request: Request, error: OAuthError) -> Response:
    if not is_page(request):
        return oauth_error_response(error)
    response = error_page(request, error, status_code=error.status_code)
    retry_after = error.headers().get("Retry-After")
    if retry_after is not None:
        response.headers["Retry-After"] = retry_after
    return response
