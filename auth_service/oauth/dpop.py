"""DPoP at the authorization server (RFC 9449): proofs at the token and PAR endpoints (§5,
§10.1), the `dpop_jkt` authorization parameter (§10) and how an access token is bound (§5, §6.1).

A proof's `jti` is single use through `first_use`: in Redis when configured (every instance at
once), else in the database (every instance sharing it; see `security.replay`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from auth_service.repositories import Repositories
from auth_service.security.replay import first_use
from auth_service.unit_of_work import UnitOfWork
from shared.dpop import (
    DPOP_ALGORITHMS,
    DpopNonces,
    DpopProof,
    is_jwk_thumbprint,
    single_proof,
    verify_dpop_proof,
)
from shared.errors import InvalidDpopProofError, InvalidRequestError
from shared.models import Client
from shared.replay import ReplayGuard


@dataclass(frozen=True, slots=True)
class DpopPolicy:
    """The server's DPoP settings: the iat window, the algorithms, and nonces when required."""

    window: int = 60
    algorithms: tuple[str, ...] = DPOP_ALGORITHMS
    nonces: DpopNonces | None = None

    def fresh_nonce(self, now: datetime) -> str | None:
        """RFC 9449 §8.2: a nonce for the next proof, sent with every answer when required."""
        return self.nonces.current(now.timestamp()) if self.nonces is not None else None


async def validate_dpop_request(
    values: Sequence[str],
    *,
    method: str,
    url: str,
    policy: DpopPolicy,
    repos: Repositories | UnitOfWork,
    replay_guard: ReplayGuard | None,
    now: datetime,
    access_token: str | None = None,
) -> DpopProof | None:
    """RFC 9449 §4.3 (and §11.1 single use) for a request to one of our endpoints; None when
    the request carries no proof. Raises InvalidDpopProofError or UseDpopNonceError.
    `access_token` (userinfo, §7) makes the proof's `ath` required."""
    proof = single_proof(values)
    if proof is None:
        return None
    checked = verify_dpop_proof(
        proof,
        method=method,
        url=url,
        now=now.timestamp(),
        window=policy.window,
        algorithms=policy.algorithms,
        nonces=policy.nonces,
        access_token=access_token,
    )
    fresh = await first_use(
        repos,
        replay_guard,
        purpose="dpop",
        issuer=checked.jkt,
        jti=checked.jti,
        expires_at=datetime.fromtimestamp(checked.expires_at, UTC),
        now=now,
    )
    if not fresh:
        raise InvalidDpopProofError("the DPoP proof was already used")
    return checked


def validate_proof_required(proof: DpopProof | None, client: Client) -> str | None:
    """RFC 9449 §5.2: a client registered with dpop_bound_access_tokens must send a proof.
    Returns the key thumbprint the tokens will be bound to, if any."""
    if proof is None:
        if client.dpop_bound_access_tokens:
            raise InvalidDpopProofError("this client must send a DPoP proof (RFC 9449 section 5.2)")
        return None
    return proof.jkt


def validate_dpop_jkt(value: str | None) -> str | None:
    """RFC 9449 §10: `dpop_jkt` is the base64url SHA-256 JWK thumbprint of the client's key."""
    if value is not None and not is_jwk_thumbprint(value):
        raise InvalidRequestError("dpop_jkt must be a base64url SHA-256 JWK thumbprint")
    return value


def bind_pushed_request(params: dict[str, str], proof: DpopProof | None) -> dict[str, str]:
    """RFC 9449 §10.1: a DPoP proof on the PAR request binds the code like `dpop_jkt`; when both
    are sent they must name the same key. Returns the parameters to store."""
    if proof is None:
        return params
    given = params.get("dpop_jkt")
    if given is not None and given != proof.jkt:
        raise InvalidDpopProofError("dpop_jkt does not match the key of the DPoP proof")
    return {**params, "dpop_jkt": proof.jkt}
