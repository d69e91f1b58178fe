"""The signing key lifecycle against the database and key directory: first key, loading, rotation."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from auth_service.repositories.signing_keys import SigningKeyRepository
from auth_service.security.keys import KeySet, new_signing_key, write_private_key
from shared.models import SigningKey

logger = logging.getLogger(__name__)


class KeyStore:
    """Holds the current KeySet snapshot; readers call `current()` so a reload swaps it atomically."""

    def __init__(self, key_set: KeySet) -> None:
        self._key_set = key_set

    def current(self) -> KeySet:
        return self._key_set

    def replace(self, key_set: KeySet) -> None:
        self._key_set = key_set


async def create_signing_key(
    repo: SigningKeyRepository, key_dir: Path, *, alg: str, now: datetime, activates_at: datetime
) -> SigningKey:
    """Generate a key, write its private half (0600) and schedule its public half."""
    new_key = new_signing_key(alg)
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


async def load_key_set(
    repo: SigningKeyRepository, key_dir: Path, *, alg: str, now: datetime
) -> KeySet:
    """The key set from the schedule; on first start (nothing that can sign) a key is created."""
    key_set = KeySet.load(await repo.list_all(), key_dir)
    if not _can_sign(key_set, now, alg):
        await create_signing_key(repo, key_dir, alg=alg, now=now, activates_at=now)
        key_set = KeySet.load(await repo.list_all(), key_dir)
    return key_set


def _can_sign(key_set: KeySet, now: datetime, alg: str) -> bool:
    try:
        return key_set.signing_key(now).alg == alg
    except LookupError:
        return False
