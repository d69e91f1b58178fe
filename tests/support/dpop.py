"""A DPoP client key and the proofs it signs (RFC 9449 §4.2), with any part broken on request."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import datetime
from functools import lru_cache
from typing import Any

import httpx
from joserfc.jwk import ECKey, OKPKey, RSAKey
from joserfc.jws import JWSRegistry

from shared.dpop import access_token_hash
from shared.tokens import jwk_thumbprint
from tests.conftest import ISSUER
from tests.factories import TestClient, TestUser
from tests.support.flows import AuthorizationRequest, get_code

Key = ECKey | RSAKey | OKPKey


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _generate(alg: str) -> Key:
    if alg == "ES256":
        return ECKey.generate_key("P-256")
    if alg == "EdDSA":
        return OKPKey.generate_key("Ed25519")
    return RSAKey.generate_key(2048)


@lru_cache(maxsize=4)
def _shared_rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048)  # RSA keys take a while: one per run is enough


class DpopKey:
    """A client's proof-of-possession key pair."""

    def __init__(self, alg: str = "ES256") -> None:
        self.alg = alg
        self.key = _shared_rsa_key() if alg in ("PS256", "RS256") else _generate(alg)
        self.jwk: dict[str, Any] = self.key.as_dict(private=False)
        self.jkt = jwk_thumbprint(self.jwk)

    def sign(self, header: dict[str, Any], claims: dict[str, Any]) -> str:
        signing_input = (
            _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
        ).encode("ascii")
        signature = JWSRegistry.algorithms[self.alg].sign(signing_input, self.key)
        return signing_input.decode("ascii") + "." + _b64(signature)

    def proof(
        self,
        method: str,
        url: str,
        *,
        now: datetime,
        access_token: str | None = None,
        nonce: str | None = None,
        header: dict[str, Any] | None = None,
        claims: dict[str, Any] | None = None,
        drop: tuple[str, ...] = (),
    ) -> str:
        """A valid proof for `method url`; `header`/`claims` override members, `drop` removes."""
        full_header: dict[str, Any] = {"typ": "dpop+jwt", "alg": self.alg, "jwk": self.jwk}
        full_claims: dict[str, Any] = {
            "jti": secrets.token_urlsafe(16),
            "htm": method,
            "htu": url,
            "iat": int(now.timestamp()),
        }
        if access_token is not None:
            full_claims["ath"] = access_token_hash(access_token)
        if nonce is not None:
            full_claims["nonce"] = nonce
        full_header.update(header or {})
        full_claims.update(claims or {})
        for name in drop:
            full_header.pop(name, None)
            full_claims.pop(name, None)
        return self.sign(full_header, full_claims)


def unverified_payload(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    result: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return result


async def dpop_code_flow_token(
    auth: httpx.AsyncClient, client: TestClient, user: TestUser, key: DpopKey, now: datetime
) -> str:
    """A DPoP-bound access token (scope `openid profile`) from a real code flow of `client`."""
    request = AuthorizationRequest(client, scope="openid profile")
    code = await get_code(auth, request, user)
    response = await auth.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": request.redirect_uri,
            "code_verifier": request.verifier,
        },
        headers={"DPoP": key.proof("POST", f"{ISSUER}/oauth/token", now=now)},
        auth=client.basic_auth(),
    )
    assert response.json()["token_type"] == "DPoP", response.text
    token: str = response.json()["access_token"]
    return token
