"""An upstream OpenID Connect provider played by httpx MockTransports (it is outside our
system): discovery, JWKS, token and userinfo, each answer bendable by a test. The live tests use
a real second instance instead (tests/support/upstream.py)."""

from __future__ import annotations

import hashlib
import time
from base64 import urlsafe_b64encode
from typing import Any
from urllib.parse import parse_qs

import httpx
import httpx2
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

ISSUER = "https://idp.example"
CLIENT_ID = "our-client"
SECRET = "our-secret-at-the-upstream"  # noqa: S105 - a test value
REDIRECT = "https://auth.example/login/upstream/idp/callback"
NONCE = "n-0S6_WzA2Mj"
VERIFIER = "v" * 43


def b64(data: bytes) -> str:
    return urlsafe_b64encode(data).rstrip(b"=").decode()


class FakeUpstream:
    """Discovery, JWKS, token and userinfo endpoints; each test bends one answer."""

    def __init__(self) -> None:
        self.key = ECKey.generate_key("P-256", parameters={"kid": "k1"})
        self.access_token = "upstream-access-token"
        self.claims: dict[str, Any] = {}
        self.header: dict[str, Any] = {"alg": "ES256", "kid": "k1"}
        self.signing_key: Any = self.key
        self.discovery: dict[str, Any] = {
            "issuer": ISSUER,
            "authorization_endpoint": f"{ISSUER}/authorize",
            "token_endpoint": f"{ISSUER}/token",
            "userinfo_endpoint": f"{ISSUER}/userinfo",
            "jwks_uri": f"{ISSUER}/jwks",
            "id_token_signing_alg_values_supported": ["ES256", "HS256"],
            "authorization_response_iss_parameter_supported": True,
        }
        self.userinfo: dict[str, Any] = {"sub": "upstream-42", "email": "ada@example.com"}
        self.userinfo_body: bytes | None = None
        self.token_requests: list[dict[str, list[str]]] = []

    def id_token(self) -> str:
        now = int(time.time())
        digest = hashlib.sha256(self.access_token.encode()).digest()
        claims = {
            "iss": ISSUER, "sub": "upstream-42", "aud": CLIENT_ID, "exp": now + 300,
            "iat": now, "nonce": NONCE, "at_hash": b64(digest[:16]),
            "email": "ada@example.com", "email_verified": True, "name": "Ada",
            **self.claims,
        }  # fmt: skip
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(self.header, claims, self.signing_key, algorithms=[self.header["alg"]])

    def transports(self) -> dict[str, Any]:
        """Ours on httpx, Authlib's token request on httpx2: the same answers through both."""
        return {
            "transport": httpx.MockTransport(lambda r: self.handle(r, httpx)),
            "token_transport": httpx2.MockTransport(lambda r: self.handle(r, httpx2)),
        }

    def handle(self, request: Any, http: Any) -> Any:
        path = request.url.path
        if path == "/.well-known/openid-configuration":
            return http.Response(200, json=self.discovery)
        if path == "/jwks":
            return http.Response(200, json=KeySet([self.key]).as_dict(private=False))
        if path == "/token":
            self.token_requests.append(parse_qs(request.content.decode()))
            body = {"access_token": self.access_token, "token_type": "Bearer",
                    "id_token": self.id_token(), "expires_in": 300}  # fmt: skip
            return http.Response(200, json=body)
        if path == "/userinfo":
            if self.userinfo_body is not None:
                return http.Response(200, content=self.userinfo_body)
            return http.Response(200, json=self.userinfo)
        return http.Response(404)
