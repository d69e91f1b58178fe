"""A JWS verifier that shares no code with ours: `cryptography` directly, from the published JWK.

RS256 is RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3), PS256 RSASSA-PSS with SHA-256, MGF1
SHA-256 and a 32-byte salt (§3.5), ES256 ECDSA P-256 with the raw 64-byte R || S signature
(§3.4), EdDSA Ed25519 (RFC 8037 §3.1). Tests check our tokens with it, so a fault in
shared/tokens.py cannot hide behind itself.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _int(segment: str) -> int:
    return int.from_bytes(_b64(segment), "big")


def verify_independently(token: str, jwk: dict[str, Any]) -> dict[str, Any]:
    """The claims of `token` if its signature verifies with `jwk` under the JWK's own `alg`;
    raises `cryptography.exceptions.InvalidSignature` (or AssertionError) otherwise."""
    header_segment, payload_segment, signature_segment = token.split(".")
    header = json.loads(_b64(header_segment))
    assert header["alg"] == jwk["alg"], (header, jwk["alg"])
    signed = f"{header_segment}.{payload_segment}".encode("ascii")
    signature = _b64(signature_segment)
    alg = jwk["alg"]
    if alg in ("RS256", "PS256"):
        assert jwk["kty"] == "RSA"
        rsa_key = rsa.RSAPublicNumbers(_int(jwk["e"]), _int(jwk["n"])).public_key()
        scheme: padding.AsymmetricPadding = (
            padding.PKCS1v15()
            if alg == "RS256"
            else padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        )
        rsa_key.verify(signature, signed, scheme, hashes.SHA256())
    elif alg == "ES256":
        assert (jwk["kty"], jwk["crv"], len(signature)) == ("EC", "P-256", 64)
        ec_key = ec.EllipticCurvePublicNumbers(
            _int(jwk["x"]), _int(jwk["y"]), ec.SECP256R1()
        ).public_key()
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        ec_key.verify(der, signed, ec.ECDSA(hashes.SHA256()))
    elif alg == "EdDSA":
        assert (jwk["kty"], jwk["crv"]) == ("OKP", "Ed25519")
        Ed25519PublicKey.from_public_bytes(_b64(jwk["x"])).verify(signature, signed)
    else:
        raise AssertionError(f"unexpected alg {alg}")
    claims: dict[str, Any] = json.loads(_b64(payload_segment))
    return claims
