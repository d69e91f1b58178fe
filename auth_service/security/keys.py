"""Signing keys: generation, the key directory (mode 0600), RFC 7638 `kid`s and the in-memory KeySet.

Private keys are read from disk once when a KeySet is built and never leave this process; the
database only holds their public JWKs and schedule (`shared.models.SigningKey`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from shared.tokens import JoseKey, jwk_thumbprint, load_private_key, load_public_jwk, public_jwk

_PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def generate_private_key_pem(alg: str) -> bytes:
    """A fresh key for `alg`: RSA 2048 (RS256, PS256), P-256 (ES256) or Ed25519 (EdDSA, RFC 8037)."""
    private: _PrivateKey
    if alg in ("RS256", "PS256"):
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    elif alg == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
    else:
        raise ValueError(f"unsupported signing algorithm {alg}")
    return private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass(frozen=True, slots=True)
class NewKey:
    kid: str
    alg: str
    pem: bytes
    public_jwk: dict[str, Any]


def new_signing_key(alg: str) -> NewKey:
    pem = generate_private_key_pem(alg)
    key = load_private_key(pem, alg)
    jwk = public_jwk(key, kid="", alg=alg)
    kid = jwk_thumbprint(jwk)
    jwk["kid"] = kid
    return NewKey(kid=kid, alg=alg, pem=pem, public_jwk=jwk)


def _key_path(key_dir: Path, kid: str) -> Path:
    if not kid.replace("-", "").replace("_", "").isalnum():
        raise ValueError("kid is not a safe file name")
    return key_dir / f"{kid}.pem"


def write_private_key(key_dir: Path, kid: str, pem: bytes) -> Path:
    """Create the key file with mode 0600 from the start (no window with wider permissions)."""
    key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = _key_path(key_dir, kid)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return path


def has_private_key(key_dir: Path, kid: str) -> bool:
    return _key_path(key_dir, kid).is_file()


def read_private_key(key_dir: Path, kid: str) -> bytes | None:
    path = _key_path(key_dir, kid)
    return path.read_bytes() if path.is_file() else None


class KeyRecord(Protocol):
    """The schedule of one key as the database keeps it (`shared.models.SigningKey`)."""

    kid: str
    alg: str
    public_jwk: dict[str, Any]
    activates_at: datetime
    retires_at: datetime | None


@dataclass(frozen=True, slots=True)
class KeyEntry:
    kid: str
    alg: str
    public_jwk: dict[str, Any]
    activates_at: datetime
    retires_at: datetime | None
    private_key: JoseKey | None  # None when this instance has no file for it: publish, never sign
    public_key: JoseKey = field(repr=False)

    def is_published(self, now: datetime) -> bool:
        return self.retires_at is None or now < self.retires_at

    def require_private_key(self) -> JoseKey:
        if self.private_key is None:
            raise NoSigningKeyError(f"this instance holds no private key for kid {self.kid}")
        return self.private_key


class NoSigningKeyError(LookupError):
    pass


class KeySet:
    """An immutable snapshot of our keys; the app swaps in a new one when the schedule changes."""

    def __init__(self, entries: Iterable[KeyEntry]) -> None:
        # Newest activation first, so the first usable entry is the current signer.
        self._entries = sorted(entries, key=lambda e: (e.activates_at, e.kid), reverse=True)
        self._by_kid = {e.kid: e for e in self._entries}

    @classmethod
    def load(cls, records: Iterable[KeyRecord], key_dir: Path) -> KeySet:
        """Build from the key schedule, reading each private key from `key_dir` exactly once."""
        entries = []
        for record in records:
            pem = read_private_key(key_dir, record.kid)
            entries.append(
                KeyEntry(
                    kid=record.kid,
                    alg=record.alg,
                    public_jwk=record.public_jwk,
                    activates_at=record.activates_at,
                    retires_at=record.retires_at,
                    private_key=load_private_key(pem, record.alg) if pem is not None else None,
                    public_key=load_public_jwk(record.public_jwk, record.alg),
                )
            )
        return cls(entries)

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(self._by_kid)

    def signing_key(self, now: datetime, alg: str | None = None) -> KeyEntry:
        """The current signer for `alg` (one key per algorithm, RFC 7517 §4.4); any alg if None."""
        for entry in self._entries:
            if (
                entry.activates_at <= now
                and entry.private_key is not None
                and entry.is_published(now)
                and (alg is None or entry.alg == alg)
            ):
                return entry
        raise NoSigningKeyError(
            f"no active {alg or 'signing'} key with private material on this instance"
        )

    def jwks(self, now: datetime) -> dict[str, Any]:
        return {"keys": [e.public_jwk for e in self._entries if e.is_published(now)]}

    def next_change(self, now: datetime) -> datetime | None:
        """The next instant at which the signer or the published set changes."""
        instants = [e.activates_at for e in self._entries if e.activates_at > now]
        instants += [e.retires_at for e in self._entries if e.retires_at and e.retires_at > now]
        return min(instants, default=None)

    def verification_key(self, kid: str, now: datetime) -> tuple[str, JoseKey] | None:
        entry = self._by_kid.get(kid)
        if entry is None or not entry.is_published(now):
            return None
        return entry.alg, entry.public_key


def delete_private_key(key_dir: Path, kid: str) -> None:
    _key_path(key_dir, kid).unlink(missing_ok=True)
