"""User codes a person types on a second screen (RFC 8628 §6.1): 8 characters of 20 consonants.

No vowels, so no word can be spelled; no digits, so nothing is mistaken for a letter. 20**8 is
about 2**34.5, enough with the per-address throttle on wrong codes (§5.1) and a 10 minute life.

So few codes that a bare SHA-256 of every one is computed in seconds: the stored digest is an
HMAC under a key from the key directory (as recovery codes are), so a copy of the database alone
does not tell which device request a code belongs to.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
LENGTH = 8
# The HKDF label of the digest key (auth_service.security.secret_box.SecretBox.derive_key).
KEY_PURPOSE = "user-code digest v1"  # HKDF info: "myauth " + this


def new_user_code() -> str:
    """A fresh code in its canonical form (no separator)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalize_user_code(value: str) -> str | None:
    """What the user typed, upper-cased, without dashes and spaces (§6.1: ignore what is not
    part of the code); None unless 8 characters of the alphabet remain."""
    text = "".join(ch for ch in value[:64].upper() if ch not in "- \t")
    if len(text) != LENGTH or any(ch not in ALPHABET for ch in text):
        return None
    return text


def display_user_code(code: str) -> str:
    """RFC 8628 §6.1: shown as XXXX-XXXX, easier to read and to type."""
    return f"{code[:4]}-{code[4:]}"


def user_code_digest(key: bytes, code: str) -> str:
    """Hex HMAC-SHA256 of a code in its canonical form, as stored and looked up."""
    return hmac.new(key, code.encode(), hashlib.sha256).hexdigest()
