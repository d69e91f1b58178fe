"""Device cookies (OWASP "Slow Down Online Guessing Attacks with Device Cookies").

A browser that signed in to an account gets a signed token bound to that account; presented
again for the same account, it lets the sign-in skip the per-account wait, so an attack on the
account does not lock its owner out. Stateless: each token is
`<issued-at>.<nonce>.<HMAC-SHA256(key, user id, issued-at, nonce)>`, so nothing is stored
(the throttle counts failures per nonce) and a token is honoured only for the account it names
in its MAC. One cookie holds the tokens of the last few accounts signed in on the browser.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

MAX_ACCOUNTS = 5  # tokens kept in one cookie: a shared family computer, not a kiosk
MAX_COOKIE_LENGTH = 512  # longer values are ignored unread
_SEP = "~"
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class DeviceCookies:
    def __init__(self, key: bytes, *, max_age: int) -> None:
        self._key = key
        self.max_age = max_age

    def _mac(self, user_id: str, issued_at: str, nonce: str) -> str:
        message = f"device-cookie\x00{user_id}\x00{issued_at}\x00{nonce}".encode()
        return _b64(hmac.new(self._key, message, hashlib.sha256).digest()[:16])

    def _for(self, token: str, user_id: str, now: int) -> str | None:
        """The nonce of `token` when it is a live token of `user_id`."""
        parts = token.split(".")
        if len(parts) != 3 or not _is_timestamp(parts[0]):
            return None
        issued_at, nonce, mac = parts
        if not 0 <= now - int(issued_at) < self.max_age:
            return None
        if not hmac.compare_digest(mac, self._mac(user_id, issued_at, nonce)):
            return None
        return nonce

    def device_id(self, cookie: str | None, user_id: str, now: int) -> str | None:
        """The id of this browser's token for `user_id`, or None when it holds none."""
        if not cookie or len(cookie) > MAX_COOKIE_LENGTH:
            return None
        for token in cookie.split(_SEP)[:MAX_ACCOUNTS]:
            nonce = self._for(token, user_id, now)
            if nonce is not None:
                return nonce
        return None

    def issue(self, cookie: str | None, user_id: str, now: int) -> str:
        """The cookie after a successful sign-in of `user_id`: a fresh token for it first, then
        the browser's tokens for other accounts (expired ones and the oldest beyond the limit
        dropped)."""
        issued_at, nonce = str(now), _b64(secrets.token_bytes(16))
        tokens = [f"{issued_at}.{nonce}.{self._mac(user_id, issued_at, nonce)}"]
        if cookie and len(cookie) <= MAX_COOKIE_LENGTH:
            for token in cookie.split(_SEP)[:MAX_ACCOUNTS]:
                head = token.split(".", 1)[0]
                if not _is_timestamp(head) or now - int(head) >= self.max_age:
                    continue
                if self._for(token, user_id, now) is None and token not in tokens:
                    tokens.append(token)
        return _SEP.join(tokens[:MAX_ACCOUNTS])


def _is_timestamp(text: str) -> bool:
    # ASCII digits only: str.isdigit() also accepts "²", which int() then refuses.
    return _TIMESTAMP.fullmatch(text) is not None
