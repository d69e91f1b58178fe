"""The authorization-code flow, step by step, as a browser and a client would drive it."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from tests.factories import TestClient, TestUser
from tests.support.assertions import redirect_params

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match is not None, "no csrf_token in the page"
    return match.group(1)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class AuthorizationRequest:
    """An authorization request with a fresh state, nonce and PKCE pair; override any parameter."""

    client: TestClient
    scope: str = "openid profile"
    extra: dict[str, str | None] = field(default_factory=dict)
    state: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    verifier: str = ""
    challenge: str = ""

    def __post_init__(self) -> None:
        if not self.verifier:
            self.verifier, self.challenge = pkce_pair()

    @property
    def redirect_uri(self) -> str:
        return self.client.redirect_uri

    def params(self) -> dict[str, str]:
        params: dict[str, str | None] = {
            "response_type": "code",
            "client_id": self.client.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": self.challenge,
            "code_challenge_method": "S256",
        }
        params.update(self.extra)
        return {k: v for k, v in params.items() if v is not None}

    def url(self) -> str:
        return "/oauth/authorize?" + urlencode(self.params())


async def login(
    auth: httpx.AsyncClient, user: TestUser, *, request_id: str = "", password: str | None = None
) -> httpx.Response:
    page = await auth.get("/login", params={"request_id": request_id} if request_id else None)
    assert page.status_code == 200, page.text
    return await auth.post(
        "/login",
        data={
            "username": user.username,
            "password": password if password is not None else user.password,
            "csrf_token": csrf_from(page.text),
            "request_id": request_id,
        },
    )


def request_id_from(location: str) -> str:
    match = re.search(r"request_id=([A-Za-z0-9_\-]+)", location)
    assert match is not None, location
    return match.group(1)


async def authorize(
    auth: httpx.AsyncClient,
    request: AuthorizationRequest,
    user: TestUser,
    *,
    decision: str = "allow",
) -> httpx.Response:
    """Walk authorize -> login (if needed) -> consent (if needed); return the final redirect."""
    response = await auth.get(request.url())
    if response.status_code == 303 and response.headers["location"].startswith("/login"):
        request_id = request_id_from(response.headers["location"])
        response = await login(auth, user, request_id=request_id)
        assert response.status_code == 303, response.text
        response = await auth.get(response.headers["location"])
    if response.status_code == 303 and response.headers["location"].startswith("/consent"):
        response = await auth.get(response.headers["location"])
    if response.status_code == 200 and "consent" in str(response.url):
        request_id = request_id_from(str(response.url))
        response = await auth.post(
            "/consent",
            data={
                decision: decision,
                "request_id": request_id,
                "csrf_token": csrf_from(response.text),
            },
        )
    return response


async def get_code(auth: httpx.AsyncClient, request: AuthorizationRequest, user: TestUser) -> str:
    response = await authorize(auth, request, user)
    params = redirect_params(response, request.redirect_uri)
    assert params["state"] == request.state
    return params["code"]


async def exchange_code(
    auth: httpx.AsyncClient,
    request: AuthorizationRequest,
    code: str,
    **overrides: Any,
) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": request.redirect_uri,
        "code_verifier": request.verifier,
    }
    data.update({k: v for k, v in overrides.items() if v is not None})
    for k in [k for k, v in overrides.items() if v is None]:
        data.pop(k, None)
    client = request.client
    if client.secret is None:
        data["client_id"] = client.client_id
        return await auth.post("/oauth/token", data=data)
    return await auth.post("/oauth/token", data=data, auth=client.basic_auth())


async def tokens_for(
    auth: httpx.AsyncClient, request: AuthorizationRequest, user: TestUser
) -> dict[str, Any]:
    code = await get_code(auth, request, user)
    response = await exchange_code(auth, request, code)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
