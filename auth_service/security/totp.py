"""TOTP (RFC 6238) and recovery codes: secrets, provisioning URIs, QR codes, verification."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime

import pyotp
import segno

ISSUER_NAME = "MyAuthProvider"
PERIOD = 30  # RFC 6238 §4: the default time step
RECOVERY_CODES = 10


def new_secret() -> str:
    # 160 bits, the HMAC-SHA1 key length RFC 4226 §4 recommends.
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, account: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=ISSUER_NAME)


def qr_code_data_uri(uri: str) -> str:
    """An SVG QR code as a data: URI, so the page needs neither script nor a second request."""
    return str(segno.make(uri, error="m").svg_data_uri(scale=5, border=2))


def matching_step(secret: str, code: str, now: datetime, *, last_step: int | None) -> int | None:
    """The time step `code` is valid for (now, or one step either side for clock drift,
    RFC 6238 §5.2), or None. A step at or before `last_step` is a replay and never matches."""
    code = code.strip().replace(" ", "")
    # isascii: str.isdigit() also accepts digits of other scripts, which no authenticator shows.
    if not (code.isascii() and code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    step = int(now.timestamp()) // PERIOD
    for candidate in (step, step - 1, step + 1):
        if last_step is not None and candidate <= last_step:
            continue
        if secrets.compare_digest(totp.generate_otp(candidate), code):
            return candidate
    return None


def new_recovery_codes() -> list[str]:
    """Ten one-time codes like `k7qm-x2vd-p9ta` (60 bits each), shown to the user once."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = base64.b32encode(secrets.token_bytes(8)).decode().lower()[:12]
        codes.append("-".join(raw[i : i + 4] for i in range(0, 12, 4)))
    return codes


def normalize_recovery_code(code: str) -> str:
    return code.strip().lower().replace(" ", "")
