"""Client assertions (RFC 7523 §2.2) as a client builds them: keys, claims, and the form fields."""

from __future__ import annotations

import json
import secrets
import time
import warnings
from dataclasses import dataclass
from typing import Any

from joserfc import jws
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

from tests.conftest import ISSUER

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_ENDPOINT = f"{ISSUER}/oauth/token"


@dataclass(frozen=True)
class ClientKey:
    kid: str
    alg: str
    key: RSAKey | ECKey | OKPKey

    @property
    def public_jwk(self) -> dict[str, Any]:
        return {**self.key.as_dict(private=False), "kid": self.kid, "alg": self.alg, "use": "sig"}


def new_client_key(alg: str = "RS256", kid: str | None = None) -> ClientKey:
    kid = kid or f"{alg.lower()}-{secrets.token_hex(4)}"
    key: RSAKey | ECKey | OKPKey
    if alg in ("RS256", "PS256"):
        key = RSAKey.generate_key(2048)
    elif alg == "ES256":
        key = ECKey.generate_key("P-256")
    else:
        key = OKPKey.generate_key("Ed25519")
    return ClientKey(kid, alg, key)


def jwks_of(*keys: ClientKey) -> dict[str, Any]:
    return {"keys": [k.public_jwk for k in keys]}


def assertion_claims(client_id: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": ISSUER,
        "iat": now,
        "exp": now + 60,
        "jti": secrets.token_urlsafe(16),
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def sign_assertion(
    key: ClientKey | None,
    claims: dict[str, Any],
    *,
    secret: str | None = None,
    alg: str | None = None,
    **header: Any,
) -> str:
    """A compact JWS of `claims`: with the client's key, or HMAC with its secret."""
    payload = json.dumps(claims)
    if secret is not None:
        alg = alg or "HS256"
        return jws.serialize_compact(
            {"alg": alg, **header}, payload, OctKey.import_key(secret), algorithms=[alg]
        )
    assert key is not None
    alg = alg or key.alg
    protected = {"alg": alg, "kid": key.kid, **header}
    protected = {k: v for k, v in protected.items() if v is not None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # joserfc warns that RFC 9864 deprecates the name EdDSA
        return jws.serialize_compact(protected, payload, key.key, algorithms=[alg])


def assertion_form(assertion: str, **extra: str) -> dict[str, str]:
    return {"client_assertion_type": JWT_BEARER, "client_assertion": assertion, **extra}
