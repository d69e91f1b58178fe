"""User codes a person types on a second screen (RFC 8628 §6.1): 8 characters of 20 consonants.

No vowels, so no word can be spelled; no digits, so nothing is mistaken for a letter. 20**8 is
about 2**34.5, enough with the per-address throttle on wrong codes (§5.1) and a 10 minute life.
"""

from __future__ import annotations

import secrets

ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
LENGTH = 8


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
