"""DPoP proofs (RFC 9449): checking a proof against the request it came with (§4.3), the access
token hash (§4.2 `ath`), stateless server nonces (§8, §9) and single use of each proof's `jti`
(§11.1). Both services use it; a resource server needs only this module and a replay guard.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import string
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import urlsplit

from shared.errors import InvalidDpopProofError, InvalidTokenError, UseDpopNonceError
from shared.replay import ReplayGuard, replay_key
from shared.tokens import verify_embedded_key_jws

DPOP_TYP = "dpop+jwt"  # RFC 9449 §4.2
# What we accept in proofs and publish as dpop_signing_alg_values_supported (RFC 9449 §5.1) and
# in challenges' `algs` (§7.1): asymmetric only (§4.3 item 5).
DPOP_ALGORITHMS = ("ES256", "PS256", "EdDSA", "RS256")
MAX_JTI_LENGTH = 256
MAX_NONCE_LENGTH = 256
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# RFC 9449 §10: a base64url SHA-256 thumbprint is 43 characters.
_JKT = re.compile(r"^[A-Za-z0-9_-]{43}$")


def is_jwk_thumbprint(value: str) -> bool:
    """RFC 9449 §10 `dpop_jkt`: an RFC 7638 SHA-256 thumbprint, base64url without padding."""
    return _JKT.fullmatch(value) is not None


@lru_cache(maxsize=4096)
def access_token_hash(access_token: str) -> str:
    """RFC 9449 §4.2 `ath`: base64url(SHA-256(ASCII(access token))). A resource server sees the
    same token with every proof until it expires, so the hash is remembered for recent tokens."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _normalize_percent(text: str) -> str:
    # RFC 3986 §6.2.2.1-6.2.2.2: hex digits upper case, unreserved characters decoded.
    def fix(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else "%" + match.group(1).upper()

    return _PERCENT.sub(fix, text)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 / §6.2.2.3 for an absolute path."""
    segments = path.split("/")
    out: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment in (".", ".."):
            if segment == ".." and len(out) > 1:
                out.pop()
            if last:
                out.append("")
            continue
        out.append(segment)
    return "/".join(out)


@lru_cache(maxsize=4096)  # a client's proofs name the same few URLs; a request's URL repeats
def normalize_htu(url: str) -> str:
    """RFC 9449 §4.3 item 9: the URI without query and fragment, normalised per RFC 3986
    §6.2.2 (case, percent-encoding, dot segments) and §6.2.3 (default port, empty path)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname  # lower-cased by urlsplit
    if scheme not in _DEFAULT_PORTS or not host:
        raise ValueError("not an absolute http(s) URI")
    port = parts.port  # ValueError for a port that is not a number in range
    authority = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        authority += f":{port}"
    path = _remove_dot_segments(_normalize_percent(parts.path or "/")) or "/"
    return f"{scheme}://{authority}{path}"


class DpopNonces:
    """RFC 9449 §8-9 server nonces that need no storage: an HMAC over a time step, accepted for
    the current and the previous step (so a nonce lives between `lifetime` and twice that)."""

    def __init__(self, key: bytes, *, lifetime: int = 300) -> None:
        self._key, self._lifetime = key, lifetime

    def _for_step(self, step: int) -> str:
        step_bytes = step.to_bytes(8, "big")
        mac = hmac.new(self._key, b"dpop-nonce" + step_bytes, hashlib.sha256).digest()[:18]
        return base64.urlsafe_b64encode(step_bytes + mac).rstrip(b"=").decode("ascii")

    def current(self, now: float) -> str:
        return self._for_step(int(now // self._lifetime))

    def is_valid(self, nonce: object, now: float) -> bool:
        if not isinstance(nonce, str) or len(nonce) > MAX_NONCE_LENGTH:
            return False
        step = int(now // self._lifetime)
        return any(hmac.compare_digest(nonce, self._for_step(s)) for s in (step, step - 1))


class DpopProof(NamedTuple):
    """A proof that passed every check of RFC 9449 §4.3 except single use of its `jti`. (A named
    tuple: made on every DPoP request, and a frozen dataclass costs several times more.)"""

    jkt: str  # RFC 7638 thumbprint of the proof's key (RFC 9449 §6.1 cnf.jkt)
    jti: str
    iat: float
    # When the proof stops being acceptable (iat + window): how long its jti must be remembered.
    expires_at: float


def single_proof(values: Sequence[str]) -> str | None:
    """RFC 9449 §4.3 item 1: at most one DPoP header; None when there is none."""
    if len(values) > 1:
        raise InvalidDpopProofError("send exactly one DPoP header")
    return values[0] if values else None


def verify_dpop_proof(
    proof: str,
    *,
    method: str,
    url: str,
    now: float,
    window: int,
    algorithms: tuple[str, ...] = DPOP_ALGORITHMS,
    access_token: str | None = None,
    nonces: DpopNonces | None = None,
) -> DpopProof:
    """RFC 9449 §4.3 items 2-11 (and the `ath` of item 12 when `access_token` is given).

    Raises InvalidDpopProofError, or UseDpopNonceError with a fresh nonce when `nonces` is set
    and the proof lacks a valid one (§8).
    """
    try:
        verified = verify_embedded_key_jws(proof, typ=DPOP_TYP, algorithms=algorithms)
    except InvalidTokenError as exc:
        raise InvalidDpopProofError(exc.description) from None
    claims = verified.claims
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
        raise InvalidDpopProofError("the DPoP proof needs a jti")
    if claims.get("htm") != method:
        raise InvalidDpopProofError("the DPoP proof htm does not match the request method")
    htu = claims.get("htu")
    try:
        matches = isinstance(htu, str) and normalize_htu(htu) == normalize_htu(url)
    except ValueError:
        matches = False
    if not matches:
        raise InvalidDpopProofError("the DPoP proof htu does not match the request URI")
    iat = claims.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, int | float):
        raise InvalidDpopProofError("the DPoP proof needs an iat")
    # Compared without float arithmetic: JSON allows an integer past float's range (10**400),
    # and `now - iat` would then raise OverflowError (a 500) instead of refusing.
    if not (now - window <= iat <= now + window):
        raise InvalidDpopProofError("the DPoP proof iat is outside the accepted window")
    if access_token is not None:
        ath = claims.get("ath")
        if not isinstance(ath, str) or not hmac.compare_digest(
            ath, access_token_hash(access_token)
        ):
            raise InvalidDpopProofError("the DPoP proof ath does not match the access token")
    if nonces is not None and not nonces.is_valid(claims.get("nonce"), now):
        raise UseDpopNonceError(
            "the DPoP proof must carry the DPoP-Nonce the server sent", nonce=nonces.current(now)
        )
    return DpopProof(jkt=verified.jkt, jti=jti, iat=float(iat), expires_at=float(iat) + window)


class DpopProofChecker:
    """A protected resource's proof check (RFC 9449 §4.3, §7.1): the proof, its key against the
    token's `cnf.jkt`, then single use of its `jti` in `guard` (per process in memory, across
    every instance sharing a Redis)."""

    def __init__(
        self,
        guard: ReplayGuard,
        *,
        window: int = 60,
        algorithms: tuple[str, ...] = DPOP_ALGORITHMS,
        nonces: DpopNonces | None = None,
    ) -> None:
        self.guard, self.window, self.algorithms, self.nonces = guard, window, algorithms, nonces

    async def check(
        self,
        values: Sequence[str],
        *,
        method: str,
        url: str,
        access_token: str,
        jkt: str,
        now: float,
    ) -> DpopProof:
        proof = single_proof(values)
        if proof is None:
            raise InvalidDpopProofError("a DPoP proof is required with a DPoP access token")
        checked = verify_dpop_proof(
            proof,
            method=method,
            url=url,
            now=now,
            window=self.window,
            algorithms=self.algorithms,
            access_token=access_token,
            nonces=self.nonces,
        )
        # RFC 9449 §4.3 item 12: the proof's key is the one the token is bound to.
        if not hmac.compare_digest(checked.jkt, jkt):
            raise InvalidDpopProofError("the DPoP proof key is not the key the token is bound to")
        key = replay_key("dpop", checked.jkt, checked.jti)
        if not await self.guard.first_use(key, max(1.0, checked.expires_at - now)):
            raise InvalidDpopProofError("the DPoP proof was already used")
        return checked
