"""PKCE (RFC 7636) with S256 only: `plain` is refused (RFC 9700 §2.1.1)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

SUPPORTED_METHODS = ("S256",)
# RFC 7636 §4.1: 43-128 characters from the unreserved set.
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
# RFC 7636 §4.2: BASE64URL(SHA256(verifier)) is always 43 characters, no padding.
_S256_CHALLENGE = re.compile(r"[A-Za-z0-9\-_]{43}")


def is_valid_verifier(verifier: str) -> bool:
    return _VERIFIER.fullmatch(verifier) is not None


def is_valid_challenge(challenge: str) -> bool:
    return _S256_CHALLENGE.fullmatch(challenge) is not None


def s256_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verifier_matches(verifier: str, challenge: str, method: str) -> bool:
    """RFC 7636 §4.6, constant-time; any method but S256 never matches."""
    if method != "S256" or not is_valid_verifier(verifier):
        return False
    return hmac.compare_digest(s256_challenge(verifier), challenge)
