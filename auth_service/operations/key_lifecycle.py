"""The signing key lifecycle against the database and key directory: first key, loading, rotation."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from anyio import to_thread

from auth_service.repositories import Repositories
from auth_service.repositories.signing_keys import SigningKeyRepository
from auth_service.security.keys import (
    KeySet,
    NewKey,
    has_private_key,
    new_signing_key,
    write_private_key,
)
from shared.models import SigningKey
from shared.tokens import JoseKey

logger = logging.getLogger(__name__)
# No token lives longer than a day: settings and per-client overrides are all capped at 86400 s.
# Retiring against the cap rather than today's settings keeps a key published for every token
# it signed even if a lifetime was lowered in between; a public key published too long costs nothing.
MAX_TOKEN_LIFETIME = timedelta(days=1)
# Verifiers accept tokens a little past exp (leeway); keep the key published a little longer.
RETIREMENT_MARGIN = timedelta(minutes=5)


class KeyStore:
    """Holds the current KeySet snapshot; readers call `current()` so a reload swaps it atomically."""

    def __init__(self, key_set: KeySet, clock: Callable[[], datetime]) -> None:
        self._key_set = key_set
        self._clock = clock

    def current(self) -> KeySet:
        return self._key_set

    def replace(self, key_set: KeySet) -> None:
        self._key_set = key_set

    async def get_verification_key(self, kid: str) -> tuple[str, JoseKey] | None:
        """`shared.tokens.VerificationKeys`: our own published keys, for tokens we issued."""
        return self._key_set.verification_key(kid, self._clock())


async def generate_signing_key(alg: str) -> NewKey:
    # RSA generation takes ~100 ms (more on a busy machine) and a rotation makes two (RS256,
    # PS256): off the event loop.
    return await to_thread.run_sync(new_signing_key, alg)


async def create_signing_key(
    repo: SigningKeyRepository,
    key_dir: Path,
    *,
    alg: str,
    now: datetime,
    activates_at: datetime,
    new_key: NewKey | None = None,
) -> SigningKey:
    """Generate a key (unless given one), write its private half (0600) and schedule its public half."""
    new_key = new_key or await generate_signing_key(alg)
    write_private_key(key_dir, new_key.kid, new_key.pem)
    row = SigningKey(
        kid=new_key.kid,
        alg=alg,
        public_jwk=new_key.public_jwk,
        created_at=now,
        activates_at=activates_at,
    )
    await repo.add(row)
    logger.info("signing key created", extra={"fields": {"kid": new_key.kid, "alg": alg}})
    return row


async def ensure_signing_key(
    repo: SigningKeyRepository, key_dir: Path, *, alg: str, now: datetime
) -> None:
    """On first start (or after switching algorithm) create a key that can sign right away."""
    for row in await repo.list_all():
        usable = row.activates_at <= now and (row.retires_at is None or row.retires_at > now)
        if usable and row.alg == alg and has_private_key(key_dir, row.kid):
            return
    await create_signing_key(repo, key_dir, alg=alg, now=now, activates_at=now)


async def rotate_signing_key(
    repos: Repositories,
    key_dir: Path,
    *,
    alg: str,
    now: datetime,
    activation_delay: int,
) -> SigningKey:
    """One algorithm's rotation where it is the only one held: every other key retires too."""
    (key,) = await rotate_signing_keys(
        repos,
        key_dir,
        algs=(alg,),
        held=(alg,),
        clock=lambda: now,
        activation_delay=activation_delay,
    )
    return key


async def rotate_signing_keys(
    repos: Repositories,
    key_dir: Path,
    *,
    algs: Sequence[str],
    held: Collection[str],
    clock: Callable[[], datetime],
    activation_delay: int,
) -> list[SigningKey]:
    """Pre-publish a new key per algorithm in `algs`, each signing `activation_delay` seconds
    after it is scheduled (architecture: Tokens).

    The keys they replace (same `alg`, one key per algorithm: RFC 7517 §4.4), and keys of an
    algorithm no longer `held`, stop signing when the new ones activate and stay published
    until the last token they can have signed has expired. The clock is read once the keys are
    generated, so slow key generation never eats into the activation delay.
    """
    generated = [await generate_signing_key(alg) for alg in algs]
    existing = await repos.signing_keys.list_all()
    now = clock()
    activates_at = now + timedelta(seconds=activation_delay)
    new_keys = [
        await create_signing_key(
            repos.signing_keys,
            key_dir,
            alg=key.alg,
            now=now,
            activates_at=activates_at,
            new_key=key,
        )
        for key in generated
    ]
    retires_at = activates_at + MAX_TOKEN_LIFETIME + RETIREMENT_MARGIN
    for key in existing:
        if key.retires_at is None and (key.alg in algs or key.alg not in held):
            key.retires_at = retires_at
    await repos.session.flush()
    return new_keys


def algs_due(keys: Iterable[SigningKey], held: Sequence[str], cutoff: datetime) -> list[str]:
    """The held algorithms whose newest key was created before `cutoff` (or that have none)."""
    newest: dict[str, datetime] = {}
    for key in keys:
        newest[key.alg] = max(key.created_at, newest.get(key.alg, key.created_at))
    return [alg for alg in held if alg not in newest or newest[alg] <= cutoff]
