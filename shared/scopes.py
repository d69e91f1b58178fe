"""The scope catalogue and scope-string handling (RFC 6749 §3.3).

`scope` is the space-delimited wire string, `scopes` the parsed frozenset. The consent page,
discovery's `scopes_supported` and the userinfo claims all read `SCOPES`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from shared.errors import InvalidScopeError


@dataclass(frozen=True, slots=True)
class Scope:
    name: str
    description: str  # shown on the consent screen, completes "This app wants to ..."
    claims: tuple[str, ...] = ()  # OIDC claims this scope releases (OIDC Core §5.4)
    requires_user: bool = False  # meaningless without a person: never granted to client_credentials


SCOPES: dict[str, Scope] = {
    s.name: s
    for s in (
        Scope(
            "openid",
            "confirm who you are (sign you in with your MyAuthProvider account)",
            ("sub",),
            requires_user=True,
        ),
        Scope(
            "profile",
            "see your username and display name",
            ("name", "preferred_username", "updated_at"),
            requires_user=True,
        ),
        Scope("email", "see your email address", ("email", "email_verified"), requires_user=True),
        Scope("read:notes", "read your notes"),
        Scope("write:notes", "create, change and delete your notes"),
        Scope("offline_access", "keep access while you are not using the app", requires_user=True),
    )
}

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
MAX_SCOPE_LENGTH = 1000


def parse_scope(scope: str | None) -> frozenset[str]:
    """Split a wire `scope` string; raise `InvalidScopeError` on bad syntax (not on unknown names)."""
    if scope is None or scope == "":
        return frozenset()
    if len(scope) > MAX_SCOPE_LENGTH:
        raise InvalidScopeError("scope is too long")
    tokens = scope.split(" ")
    if any(not _SCOPE_TOKEN.fullmatch(token) for token in tokens):
        raise InvalidScopeError("scope must be space-separated scope tokens")
    return frozenset(tokens)


def format_scope(scopes: Iterable[str]) -> str:
    """Canonical wire form: catalogue order first, then any others alphabetically."""
    names = set(scopes)
    known = [name for name in SCOPES if name in names]
    return " ".join(known + sorted(names - SCOPES.keys()))


def user_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """The scopes among `scopes` that only make sense on behalf of a person."""
    return frozenset(name for name in scopes if name in SCOPES and SCOPES[name].requires_user)


def unknown_scopes(scopes: Iterable[str]) -> frozenset[str]:
    return frozenset(scopes) - SCOPES.keys()


def describe(scopes: Iterable[str]) -> list[Scope]:
    """The catalogue entries for `scopes`, in catalogue order, for the consent screen."""
    names = set(scopes)
    return [scope for name, scope in SCOPES.items() if name in names]
