"""OpenID Connect helpers: ID tokens checked against the published JWKS, foreign hints, logout URLs."""

from __future__ import annotations

import base64
import hashlib
import html
import re
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import FastAPI

from auth_service.security.keys import new_signing_key
from tests.conftest import ISSUER
from tests.factories import TestClient, TestUser
from tests.support.flows import AuthorizationRequest, tokens_for
from tests.support.forge import Forger
from tests.support.lifecycle import token_header, verified_claims

POST_LOGOUT_URI = "https://client.example/signed-out"


def expected_at_hash(access_token: str) -> str:
    """OIDC Core §3.1.3.6, computed here independently: base64url of the left half of SHA-256."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode("ascii")


async def verified_id_token(
    auth: httpx.AsyncClient, token: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of an ID token whose signature checks against /.well-known/jwks.json."""
    return token_header(token), await verified_claims(auth, token)


async def code_flow_tokens(
    auth: httpx.AsyncClient, client: TestClient, user: TestUser, **request: Any
) -> tuple[AuthorizationRequest, dict[str, Any]]:
    """The whole code flow in `auth`'s browser; returns the request and the token response."""
    authz = AuthorizationRequest(client, **request)
    return authz, await tokens_for(auth, authz, user)


def browser(app: FastAPI) -> httpx.AsyncClient:
    """Another browser (its own cookie jar) on the same auth app."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ISSUER)


@lru_cache(maxsize=1)
def _foreign_key() -> tuple[str, bytes]:
    key = new_signing_key("RS256")
    return key.kid, key.pem


def foreign_forger(*, kid: str | None = None) -> Forger:
    """Signs with an RSA key the issuer never had; `kid` may impersonate one of the issuer's."""
    foreign_kid, pem = _foreign_key()
    return Forger.from_pem(kid or foreign_kid, pem)


def id_token_claims(now: datetime, *, sub: str, aud: str, **overrides: Any) -> dict[str, Any]:
    """Claims of a plausible ID token from our issuer (OIDC Core §2)."""
    iat = int(now.timestamp())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": sub,
        "aud": aud,
        "azp": aud,
        "iat": iat,
        "exp": iat + 3600,
        "auth_time": iat,
    }
    claims.update(overrides)
    return claims


def logout_url(params: dict[str, str] | Sequence[tuple[str, str]]) -> str:
    return "/oauth/logout?" + urlencode(params)


_INPUT = re.compile(r"<input[^>]*>")
_ATTR = re.compile(r'\b(name|value|type)="([^"]*)"')


def hidden_fields(page: str) -> dict[str, str]:
    """The hidden inputs of a page's form, unescaped, as a browser would submit them."""
    fields: dict[str, str] = {}
    for tag in _INPUT.findall(page):
        attrs = {k: html.unescape(v) for k, v in _ATTR.findall(tag)}
        if attrs.get("type") == "hidden" and "name" in attrs:
            fields[attrs["name"]] = attrs.get("value", "")
    return fields


def input_value(page: str, name: str) -> str | None:
    """The unescaped value of the input called `name`; None when it has no value attribute."""
    for tag in _INPUT.findall(page):
        attrs = {k: html.unescape(v) for k, v in _ATTR.findall(tag)}
        if attrs.get("name") == name:
            return attrs.get("value")
    raise AssertionError(f"no input {name}")
