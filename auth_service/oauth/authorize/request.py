"""An authorization request as validated (RFC 6749 §4.1.1, OIDC Core §3.1.2.1), its limits, and
the two ways it can fail: on our own page, or back at the client's redirect URI (RFC 6749 §4.1.2.1)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.errors import (
    OAuthError,
)
from shared.scopes import format_scope, parse_scope

MAX_STATE_LENGTH = 2048
MAX_NONCE_LENGTH = 512
MAX_LOGIN_HINT_LENGTH = 254
PROMPT_VALUES = frozenset({"none", "login", "consent", "select_account"})


class AuthorizationPageError(Exception):
    """An error shown on our own page: the client or redirect URI is not trustworthy yet."""

    def __init__(self, error: OAuthError) -> None:
        super().__init__(error.description)
        self.error = error


class AuthorizationRedirectError(Exception):
    """An error delivered to the client's verified redirect URI (RFC 6749 §4.1.2.1)."""

    def __init__(
        self, error: OAuthError, redirect_uri: str, state: str | None, *, confirm: bool = False
    ) -> None:
        super().__init__(error.description)
        self.error = error
        self.redirect_uri = redirect_uri
        self.state = state
        # The user clicks through instead of being sent on (a client nobody vetted).
        self.confirm = confirm


def stored_resources(value: object) -> tuple[str, ...]:
    """The resources kept with a pushed or pending request: a list of strings, or (one kept
    as a bare string) a single resource, never split into its characters."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(item for item in value if isinstance(item, str))
    return ()


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A fully validated authorization request."""

    client_id: str
    redirect_uri: str
    redirect_uri_given: bool
    scopes: frozenset[str]
    state: str | None
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    prompt: frozenset[str]
    max_age: int | None
    login_hint: str | None
    client_vetted: bool = True
    # RFC 9126 §4: the digest of the request_uri this request came from; issuing a code uses it up.
    pushed_request_hash: str | None = None
    # RFC 9449 §10: the DPoP key the code will be bound to.
    dpop_jkt: str | None = None
    # The client's security profile (FAPI 2.0 bounds its code lifetime), as validated.
    profile: str | None = None
    # RFC 8707 §2.1: the registered resource servers the tokens are asked for.
    resources: tuple[str, ...] = ()

    def to_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "redirect_uri": self.redirect_uri,
            "redirect_uri_given": self.redirect_uri_given,
            "scope": format_scope(self.scopes),
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": self.code_challenge,
            "code_challenge_method": self.code_challenge_method,
            "prompt": sorted(self.prompt),
            "max_age": self.max_age,
            "login_hint": self.login_hint,
            "client_vetted": self.client_vetted,
        }
        if self.pushed_request_hash is not None:
            params["pushed_request_hash"] = self.pushed_request_hash
        if self.dpop_jkt is not None:
            params["dpop_jkt"] = self.dpop_jkt
        if self.profile is not None:
            params["profile"] = self.profile
        if self.resources:
            params["resource"] = list(self.resources)
        return params

    @classmethod
    def from_params(cls, client_id: str, params: dict[str, Any]) -> AuthorizationRequest:
        return cls(
            client_id=client_id,
            redirect_uri=params["redirect_uri"],
            redirect_uri_given=params["redirect_uri_given"],
            scopes=parse_scope(params["scope"]),
            state=params["state"],
            nonce=params["nonce"],
            code_challenge=params["code_challenge"],
            code_challenge_method=params["code_challenge_method"],
            prompt=frozenset(params["prompt"]),
            max_age=params["max_age"],
            login_hint=params["login_hint"],
            client_vetted=params.get("client_vetted", True),
            pushed_request_hash=params.get("pushed_request_hash"),
            dpop_jkt=params.get("dpop_jkt"),
            profile=params.get("profile"),
            resources=stored_resources(params.get("resource", ())),
        )

    def min_auth_time(self, now: datetime) -> datetime | None:
        """OIDC Core §3.1.2.1: prompt=login and max_age demand an authentication this recent."""
        if self.prompt & {"login", "select_account"}:
            return now
        if self.max_age is not None:
            return now - timedelta(seconds=self.max_age)
        return None
