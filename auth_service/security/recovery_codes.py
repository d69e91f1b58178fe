"""Storage form of second-factor recovery codes: HMAC-SHA256 under a key from the key directory.

A recovery code has 60 bits of entropy: enough against guessing online (attempts are throttled),
not against someone who copied the database and tries every code offline. Keyed with a secret
the database never holds, and bound to the user id, a stolen table is worth nothing on its own
(NIST SP 800-63B section 5.1.2.1, look-up secrets resistant to offline attack, and section 5.1.1.2,
a secret known only to the verifier). A fast keyed hash suffices: the key, not the cost, stops
the attack, and argon2 per code would make each sign-in pay ten slow hashes.
"""

from __future__ import annotations

import hashlib
import hmac

# The HKDF label of the key (auth_service.security.secret_box.SecretBox.derive_key).
KEY_PURPOSE = "recovery-code digest v1"  # HKDF info: "myauth " + this


def recovery_code_digest(key: bytes, user_id: str, code: str) -> str:
    """Hex HMAC-SHA256 of the user id and the normalised code (no dashes, lower case)."""
    message = f"{user_id}\x00{code}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def legacy_digest(code: str) -> str:
    """The bare SHA-256 that codes made before HMAC digests were stored under; still accepted
    so codes users already wrote down keep working until used or replaced."""
    return hashlib.sha256(code.encode()).hexdigest()
