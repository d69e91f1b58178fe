"""Encryption at rest for the few secrets we must be able to read back (TOTP seeds).

Fernet (AES-128-CBC with HMAC-SHA256, from `cryptography`) under a key generated on first use
and kept beside the signing keys in the key directory, mode 0600: the database alone never
holds enough to recover a second factor.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

KEY_FILE = "data-encryption.key"


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)
        self._key = key

    def derive_key(self, purpose: str) -> bytes:
        """A separate 256-bit key for `purpose`, so one key file serves several uses without one
        key doing two jobs: HKDF-Expand (RFC 5869 section 2.3) of the random data key, with the
        purpose as its info."""
        expand = HKDFExpand(algorithm=hashes.SHA256(), length=32, info=f"myauth {purpose}".encode())
        return expand.derive(base64.urlsafe_b64decode(self._key))

    @classmethod
    def load_or_create(cls, key_dir: Path) -> SecretBox:
        key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = key_dir / KEY_FILE
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return cls(path.read_bytes().strip())
        key = Fernet.generate_key()
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        return cls(key)

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, ciphertext: str) -> str | None:
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError):
            return None
