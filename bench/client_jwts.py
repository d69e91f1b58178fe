"""What the high-security cases' load generator sends: DPoP proofs (RFC 9449 §4.2) and
`private_key_jwt` client assertions (RFC 7523 §2.2), signed before a run, one per request.

Each is single-use on the server (a proof's `jti`, an assertion's `jti`), so they are made into
pools right before each run like the authorization codes, on the load generator's CPU.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from joserfc.jwk import ECKey, RSAKey
from joserfc.jws import JWSRegistry

from shared.dpop import access_token_hash

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _compact(header: dict[str, Any], claims: dict[str, Any], key: Any, alg: str) -> str:
    signing_input = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
    signature = JWSRegistry.algorithms[alg].sign(signing_input.encode("ascii"), key)
    return signing_input + "." + _b64(signature)


class DpopSigner:
    """One ES256 proof-of-possession key, as a client holds it (RFC 9449 §4.2)."""

    def __init__(self) -> None:
        self.key = ECKey.generate_key("P-256")
        self._header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": self.key.as_dict(private=False)}

    def proof(self, method: str, url: str, access_token: str | None = None) -> str:
        claims: dict[str, Any] = {
            "htm": method,
            "htu": url,
            "iat": int(time.time()),
            "jti": secrets.token_urlsafe(12),
        }
        if access_token is not None:
            claims["ath"] = access_token_hash(access_token)
        return _compact(self._header, claims, self.key, "ES256")


class AssertionSigner:
    """A `private_key_jwt` client's PS256 key: FAPI 2.0 allows PS256, and RSA verification is
    the server's cheapest of the allowed algorithms."""

    alg = "PS256"

    def __init__(self) -> None:
        self.kid = "bench-" + secrets.token_hex(4)
        self.key = RSAKey.generate_key(2048)

    @property
    def jwks(self) -> dict[str, Any]:
        public = {**self.key.as_dict(private=False), "kid": self.kid, "alg": self.alg, "use": "sig"}
        return {"keys": [public]}

    def token_request(self, client_id: str, audience: str) -> str:
        """A client_credentials body authenticated by a fresh assertion (RFC 7523 §2.2)."""
        now = int(time.time())
        claims = {
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "iat": now,
            "exp": now + 120,
            "jti": secrets.token_urlsafe(12),
        }
        header = {"alg": self.alg, "kid": self.kid, "typ": "JWT"}
        assertion = _compact(header, claims, self.key, self.alg)
        return urlencode(
            {
                "grant_type": "client_credentials",
                "client_assertion_type": JWT_BEARER,
                "client_assertion": assertion,
            }
        )
