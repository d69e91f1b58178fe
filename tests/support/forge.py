"""Hand-built JWTs for attacking verifiers: signed with the issuer's real key, or signed wrongly."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from joserfc.jws import JWSRegistry

from shared.tokens import JoseKey, load_private_key
from tests.conftest import AUDIENCE, ISSUER


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def segment(value: Mapping[str, Any]) -> str:
    return b64url(json.dumps(dict(value), separators=(",", ":")).encode("utf-8"))


def compact(header: Mapping[str, Any], claims: Mapping[str, Any], signature: bytes = b"") -> str:
    return f"{segment(header)}.{segment(claims)}.{b64url(signature)}"


def unverified_claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = json.loads(b64url_decode(token.split(".")[1]))
    return claims


def unverified_header(token: str) -> dict[str, Any]:
    header: dict[str, Any] = json.loads(b64url_decode(token.split(".")[0]))
    return header


def with_claims(token: str, **changes: Any) -> str:
    """The same header and signature over a payload with `changes` applied."""
    header, _, signature = token.split(".")
    claims = {**unverified_claims(token), **changes}
    return f"{header}.{segment(claims)}.{signature}"


def flip_payload_char(token: str) -> str:
    """One base64url character of the payload changed, everything else byte for byte."""
    header, payload, signature = token.split(".")
    i = len(payload) // 2
    flipped = "B" if payload[i] != "B" else "C"
    return f"{header}.{payload[:i]}{flipped}{payload[i + 1 :]}.{signature}"


def access_claims(now: datetime, *, sub: str, **overrides: Any) -> dict[str, Any]:
    """Claims of a valid RFC 9068 access token for the test issuer and audience."""
    iat = int(now.timestamp())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": sub,
        "aud": AUDIENCE,
        "client_id": "forged-client",
        "scope": "openid profile",
        "iat": iat,
        "exp": iat + 300,
        "jti": secrets.token_urlsafe(16),
    }
    claims.update(overrides)
    return claims


@dataclass(frozen=True)
class Forger:
    """Signs arbitrary headers and claims with the issuer's own private key."""

    kid: str
    private_key: JoseKey
    public_pem: bytes

    @classmethod
    def from_key_dir(cls, key_dir: Path, kid: str) -> Forger:
        return cls.from_pem(kid, (key_dir / f"{kid}.pem").read_bytes())

    @classmethod
    def from_pem(cls, kid: str, pem: bytes) -> Forger:
        public = serialization.load_pem_private_key(pem, password=None).public_key()
        public_pem = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return cls(kid=kid, private_key=load_private_key(pem, "RS256"), public_pem=public_pem)

    def sign(self, claims: Mapping[str, Any], **header: Any) -> str:
        """RS256 with the real key; `header` adds to or overrides {alg, kid, typ: at+jwt}."""
        return self.sign_exact({"alg": "RS256", "kid": self.kid, "typ": "at+jwt", **header}, claims)

    def sign_exact(self, header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
        """RS256 with the real key over exactly `header`: nothing added, nothing defaulted."""
        return self.sign_bytes(header, json.dumps(dict(claims), separators=(",", ":")).encode())

    def sign_bytes(self, header: Mapping[str, Any], payload: bytes, alg: str = "RS256") -> str:
        """`alg` with the real key over exactly `header` and `payload`, even a header that lies."""
        signing_input = f"{segment(header)}.{b64url(payload)}"
        # joserfc's bare algorithm: no key-to-alg check, so a forger can mislabel on purpose.
        model = JWSRegistry.algorithms[alg]
        signature = model.sign(signing_input.encode("ascii"), self.private_key)
        return f"{signing_input}.{b64url(signature)}"

    def unsigned(self, claims: Mapping[str, Any]) -> str:
        """RFC 7519 §6 unsecured JWT: alg none, empty signature."""
        return compact({"alg": "none", "typ": "at+jwt", "kid": self.kid}, claims)

    def hmac_with_public_key(self, claims: Mapping[str, Any]) -> str:
        """The RFC 8725 §2.1 confusion: HS256 keyed with the public key everyone can fetch."""
        header = {"alg": "HS256", "typ": "at+jwt", "kid": self.kid}
        signing_input = f"{segment(header)}.{segment(claims)}".encode("ascii")
        mac = hmac.new(self.public_pem, signing_input, hashlib.sha256).digest()
        return f"{signing_input.decode('ascii')}.{b64url(mac)}"
