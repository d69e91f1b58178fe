"""The two short-lived cookies of a sign-in through an upstream provider, sealed (Fernet under a
key derived for this use alone) so the browser can neither read nor change them.

- the flow cookie: state, nonce and PKCE verifier of the one upstream request under way, and
  where to go after it (RFC 6749 §10.12: `state` bound to the browser that started the flow;
  RFC 9700 §4.7.1: with PKCE as well);
- the link cookie: an upstream identity whose address belongs to an existing account, waiting
  for the person to sign in to that account and agree to the link.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from cryptography.fernet import Fernet, InvalidToken
from starlette.requests import Request
from starlette.responses import Response

from auth_service.web.pages import cookie_name

FLOW_COOKIE = "myauth_upstream"
LINK_COOKIE = "myauth_upstream_link"
MAX_AGE = 600  # seconds: long enough to sign in at the upstream, short enough to go stale

T = TypeVar("T", bound="Sealed")


@dataclass(frozen=True, slots=True)
class Sealed:
    @classmethod
    def from_json(cls: type[T], data: dict[str, Any]) -> T:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Flow(Sealed):
    provider_id: str
    state: str
    nonce: str
    verifier: str
    request_id: str
    next: str
    # "sign-in", or "link": started from /account by a signed-in person to add this provider,
    # whose session (its digest) alone may take the link.
    intent: str = "sign-in"
    session_hash: str = ""


@dataclass(frozen=True, slots=True)
class PendingLink(Sealed):
    provider_id: str
    subject: str
    label: str
    user_id: str  # the account whose address the upstream gave: only it may take the link
    request_id: str
    next: str


def _fernet(request: Request) -> Fernet:
    key = request.app.state.secret_box.derive_key("upstream sign-in cookies")
    return Fernet(base64.urlsafe_b64encode(key))


def _secure(request: Request) -> bool:
    secure: bool = request.app.state.settings.cookie_secure
    return secure


def put(request: Request, response: Response, name: str, value: Sealed) -> None:
    sealed = _fernet(request).encrypt(json.dumps(asdict(value)).encode()).decode("ascii")
    response.set_cookie(
        cookie_name(request, name), sealed, max_age=MAX_AGE, httponly=True,
        # Lax: the upstream's redirect back is a top-level GET from another site.
        samesite="lax", secure=_secure(request), path="/",
    )  # fmt: skip


def take(request: Request, name: str, kind: type[T]) -> T | None:
    """The cookie's content if this server sealed it less than MAX_AGE ago."""
    value = request.cookies.get(cookie_name(request, name))
    if not value:
        return None
    try:
        data = json.loads(_fernet(request).decrypt(value.encode("ascii"), ttl=MAX_AGE))
        return kind.from_json(data)
    except (InvalidToken, ValueError, TypeError, UnicodeError):
        return None


def drop(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(
        cookie_name(request, name), httponly=True, samesite="lax", secure=_secure(request),
        path="/",
    )  # fmt: skip
