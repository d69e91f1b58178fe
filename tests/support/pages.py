"""Helpers for the browser-facing pages: redirects, cookies, security headers and flow steps."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlsplit

import httpx

from shared.asgi import ASGIApp, Message, Receive, Scope, Send
from tests.conftest import ISSUER
from tests.factories import TestClient, TestUser
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest, csrf_from, login, request_id_from

SESSION_COOKIE = "myauth_session"
BROWSER_COOKIE = "myauth_browser"
# Spaces, '&', '=', '+', '%', '#' and non-ASCII: echoed byte for byte or not at all.
AWKWARD_STATE = "a b&c=d+e%20f#g/é✓𝄞"


def page_error_text(description: str) -> str:
    """How our own HTML error page shows `description`."""
    return f'<p class="error" role="alert">{description}</p>'


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def client_redirect_params(response: httpx.Response, redirect_uri: str) -> dict[str, str]:
    """The parameters we added to `redirect_uri` (whose own query must come first, intact).

    Asserts a 302 (RFC 9700 §4.12: never 307) with `Cache-Control: no-store` and no repeats.
    """
    assert response.status_code == 302, response.text
    assert response.headers["cache-control"] == "no-store"
    location = response.headers["location"]
    separator = "&" if urlsplit(redirect_uri).query else "?"
    assert location.startswith(redirect_uri + separator), location
    added = parse_qsl(location[len(redirect_uri) + 1 :], keep_blank_values=True)
    names = [name for name, _ in added]
    assert len(names) == len(set(names)), added
    return dict(added)


def assert_client_error(
    response: httpx.Response,
    redirect_uri: str,
    error: str,
    description: str,
    *,
    state: str | None,
) -> None:
    """RFC 6749 §4.1.2.1 + RFC 9207: exactly error, error_description, state (if sent), iss."""
    expected = {"error": error, "error_description": description, "iss": ISSUER}
    if state is not None:
        expected["state"] = state
    assert client_redirect_params(response, redirect_uri) == expected


def assert_client_code(response: httpx.Response, redirect_uri: str, *, state: str | None) -> str:
    """RFC 6749 §4.1.2 + RFC 9207: exactly code, state (if sent) and iss; returns the code."""
    params = client_redirect_params(response, redirect_uri)
    expected_names = {"code", "iss"} | ({"state"} if state is not None else set())
    assert set(params) == expected_names, params
    assert params["iss"] == ISSUER
    assert params.get("state") == state
    return params["code"]


def assert_step_redirect(response: httpx.Response, path: str) -> str:
    """A 303 to one of our own steps (`/login` or `/consent`); returns the request id."""
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(f"{path}?request_id="), location
    return request_id_from(location)


def assert_page_security_headers(response: httpx.Response) -> None:
    """RFC 9700 §4.16 (no framing) and §4.2.4 (no request parameters leaking through Referer)."""
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    directives = {
        part.strip().split(" ", 1)[0]: part.strip()
        for part in response.headers["content-security-policy"].split(";")
        if part.strip()
    }
    assert directives["frame-ancestors"] == "frame-ancestors 'none'"
    csp = response.headers["content-security-policy"]
    assert "'unsafe-inline'" not in csp
    assert "'unsafe-eval'" not in csp


def set_cookie(response: httpx.Response, name: str) -> dict[str, str]:
    """The value and lower-cased attributes of the `Set-Cookie` header that sets `name`."""
    for header in response.headers.get_list("set-cookie"):
        parsed: SimpleCookie = SimpleCookie()
        parsed.load(header)
        if name in parsed:
            morsel = parsed[name]
            attributes = {k: str(v) for k, v in morsel.items() if v not in ("", False)}
            flags = {p.strip().lower() for p in header.split(";")[1:]}
            attributes["httponly"] = str("httponly" in flags)
            attributes["secure"] = str("secure" in flags)
            return {"value": morsel.value, **attributes}
    raise AssertionError(f"no Set-Cookie for {name}: {response.headers.get_list('set-cookie')}")


def set_cookie_names(response: httpx.Response) -> set[str]:
    names: set[str] = set()
    for header in response.headers.get_list("set-cookie"):
        parsed: SimpleCookie = SimpleCookie()
        parsed.load(header)
        names.update(parsed.keys())
    return names


async def sign_in(auth: httpx.AsyncClient, user: TestUser) -> str:
    """Log in with no pending request; returns the session cookie's value."""
    response = await login(auth, user)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/"
    return set_cookie(response, SESSION_COOKIE)["value"]


async def start_authorization(auth: httpx.AsyncClient, request: AuthorizationRequest) -> str:
    """Send the request with no session; returns the pending request id from the login redirect."""
    return assert_step_redirect(await auth.get(request.url()), "/login")


async def open_consent(
    auth: httpx.AsyncClient, request: AuthorizationRequest, user: TestUser
) -> tuple[str, httpx.Response]:
    """Authorize, log in, and land on the consent page; returns (request_id, page)."""
    request_id = await start_authorization(auth, request)
    response = await login(auth, user, request_id=request_id)
    assert assert_step_redirect(response, "/consent") == request_id
    page = await auth.get(response.headers["location"])
    assert page.status_code == 200, page.text
    return request_id, page


async def answer_consent(
    auth: httpx.AsyncClient, request_id: str, page: httpx.Response, decision: str
) -> httpx.Response:
    return await auth.post(
        "/consent",
        data={decision: decision, "request_id": request_id, "csrf_token": csrf_from(page.text)},
    )


async def remember_consent(db: Database, user: TestUser, client: TestClient, scope: str) -> None:
    """Arrange a stored consent, as if the user had allowed `scope` before."""
    await db.run(
        lambda repos: repos.consents.record(
            user.id, client.client_id, frozenset(scope.split(" ")), datetime.now(UTC)
        )
    )


ResponseStartProbe = Callable[[int, dict[str, str]], Awaitable[None]]


def probing_app(app: ASGIApp, probe: ResponseStartProbe) -> ASGIApp:
    """Wrap `app` so `probe(status, headers)` runs the instant the response starts.

    httpx's ASGITransport only returns once the app has finished, so work done after the response
    left (a commit in a default-scope yield dependency) would be invisible to ordinary requests.
    """

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        async def probing_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in message["headers"]}
                await probe(message["status"], headers)
            await send(message)

        await app(scope, receive, probing_send)

    return wrapped


def probing_client(
    app: ASGIApp, probe: ResponseStartProbe, *, cookies: httpx.Cookies
) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=probing_app(app, probe))
    return httpx.AsyncClient(transport=transport, base_url=ISSUER, cookies=cookies)
