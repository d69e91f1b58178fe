"""Server-side sessions: the browser holds a random id, and tokens never leave this server.

`request.session` is the stored dict itself, so Authlib (which keeps `state`, the PKCE verifier
and the nonce there) and our routes share it. The store is in memory: enough for a one-process
demo. A real deployment keeps sessions in Redis or a database, so restarts and several instances
share them; only `MemorySessionStore` changes.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "coolnotes_session"  # the provider on the same host uses other names: no clash
MAX_SESSIONS = 10_000  # a bound on memory: unauthenticated visitors can create sessions


class Session(dict[str, Any]):
    """`request.session`; call `regenerate()` when the user signs in (no session fixation)."""

    def __init__(self) -> None:
        super().__init__()
        self.wants_new_id = False

    def regenerate(self) -> None:
        self.wants_new_id = True


class MemorySessionStore:
    """Sessions by the SHA-256 of their id, like the provider stores its own; idle ones expire."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._sessions: dict[str, tuple[float, Session]] = {}

    def get(self, session_id: str) -> Session | None:
        key = _digest(session_id)
        entry = self._sessions.get(key)
        if entry is None or entry[0] <= self._clock():
            self._sessions.pop(key, None)
            return None
        self._sessions[key] = (self._clock() + self._ttl, entry[1])  # idle timeout slides
        return entry[1]

    def add(self, session: Session) -> str:
        """Store `session` under a new 256-bit id and return the id (the cookie value)."""
        if len(self._sessions) >= MAX_SESSIONS:
            self._prune()
        session_id = secrets.token_urlsafe(32)
        self._sessions[_digest(session_id)] = (self._clock() + self._ttl, session)
        return session_id

    def remove(self, session_id: str) -> None:
        self._sessions.pop(_digest(session_id), None)

    def _prune(self) -> None:
        now = self._clock()
        for key in [k for k, (expires, _) in self._sessions.items() if expires <= now]:
            del self._sessions[key]
        while len(self._sessions) >= MAX_SESSIONS:  # still full: forget the oldest
            del self._sessions[next(iter(self._sessions))]


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class ServerSessionMiddleware:
    """Puts the session in `scope["session"]`; sets or clears the cookie as it changes."""

    def __init__(self, app: ASGIApp, *, store: MemorySessionStore, secure: bool) -> None:
        self.app = app
        self.store = store
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        session_id = HTTPConnection(scope).cookies.get(COOKIE)
        stored = self.store.get(session_id) if session_id else None
        session = stored if stored is not None else Session()
        scope["session"] = session

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                cookie = self._commit(session_id if stored is not None else None, session)
                if cookie is not None:
                    MutableHeaders(scope=message).append("set-cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _commit(self, session_id: str | None, session: Session) -> str | None:
        """Store, re-key or drop the session; return a Set-Cookie value when the cookie changes."""
        if session_id is not None and session and not session.wants_new_id:
            return None  # same session, same cookie
        if session_id is not None:
            self.store.remove(session_id)  # emptied (logout) or re-keyed (sign-in)
        if not session:
            return self._cookie("", max_age=0) if session_id is not None else None
        session.wants_new_id = False
        return self._cookie(self.store.add(session))

    def _cookie(self, value: str, *, max_age: int | None = None) -> str:
        # HttpOnly: no script reads it. SameSite=Lax: sent on the provider's redirect back to
        # /auth/callback (a top-level GET), not on cross-site POSTs.
        parts = [f"{COOKIE}={value}", "Path=/", "HttpOnly", "SameSite=Lax"]
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts)
