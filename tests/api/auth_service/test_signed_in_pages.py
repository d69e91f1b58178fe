"""Every page for signed-in users sends a signed-out browser to /login, then back to one page.

One redirect for all of them (the `signed_in` dependency and its exception handler); each keeps
the page it returns to after the login.
"""

from __future__ import annotations

import httpx
import pytest

from auth_service.web.pages import SESSION_COOKIE

APP = "/developers/apps/some-client-id"
GUARDED = [
    ("GET", "/account", "/account"),
    ("POST", "/account/profile", "/account"),
    ("POST", "/account/password", "/account"),
    ("GET", "/account/two-factor", "/account/two-factor"),
    ("POST", "/account/two-factor", "/account/two-factor"),
    ("POST", "/account/two-factor/disable", "/account"),
    ("GET", "/account/apps", "/account/apps"),
    ("POST", "/account/apps/revoke", "/account/apps"),
    ("GET", "/developers", "/developers"),
    ("GET", "/developers/apps/new", "/developers/apps/new"),
    ("POST", "/developers/apps", "/developers/apps/new"),
    ("GET", APP, "/developers"),
    ("POST", APP, "/developers"),
    ("POST", f"{APP}/rotate-secret", "/developers"),
    ("POST", f"{APP}/delete", "/developers"),
    ("GET", "/account/sessions", "/account/sessions"),
    ("POST", "/account/sessions/end", "/account/sessions"),
    ("POST", "/account/sessions/end-others", "/account/sessions"),
    ("GET", "/account/delete", "/account/delete"),
    ("POST", "/account/delete", "/account/delete"),
    ("GET", "/account/passkeys", "/account/passkeys"),
    ("POST", "/account/passkeys", "/account/passkeys"),
    ("POST", "/account/passkeys/options", "/account/passkeys"),
    ("POST", "/account/passkeys/remove", "/account/passkeys"),
    ("POST", "/account/email/verify", "/account"),
]
IDS = [f"{method} {path}" for method, path, _ in GUARDED]


def form_for(method: str) -> dict[str, str] | None:
    return {"csrf_token": "forged"} if method == "POST" else None


def without_request_id(response: httpx.Response) -> dict[str, str]:
    headers = dict(response.headers)
    assert headers.pop("x-request-id")
    return headers


def login_redirect_headers(next_path: str) -> dict[str, str]:
    return {
        "location": f"/login?next={next_path}",
        "content-length": "0",
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
        "referrer-policy": "no-referrer",
        "content-security-policy": (
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; "
            "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'"
        ),
    }


@pytest.mark.parametrize(("method", "path", "next_path"), GUARDED, ids=IDS)
async def test_signed_in_page_without_session_redirects_to_login_with_next(
    auth_client: httpx.AsyncClient, method: str, path: str, next_path: str
) -> None:
    response = await auth_client.request(method, path, data=form_for(method))

    assert response.status_code == 303
    assert response.content == b""
    assert without_request_id(response) == login_redirect_headers(next_path)


@pytest.mark.parametrize(("method", "path", "next_path"), GUARDED, ids=IDS)
async def test_signed_in_page_with_unknown_session_cookie_redirects_to_login_with_next(
    auth_client: httpx.AsyncClient, method: str, path: str, next_path: str
) -> None:
    auth_client.cookies.set(SESSION_COOKIE, "not-a-session")

    response = await auth_client.request(method, path, data=form_for(method))

    assert response.status_code == 303
    assert without_request_id(response) == login_redirect_headers(next_path)
