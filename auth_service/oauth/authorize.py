"""The authorization endpoint's rules: RFC 6749 §4.1.1-4.1.2, RFC 7636, RFC 9207, OIDC Core §3.1.2.

Validation runs in the order that keeps redirects safe: the client, then the redirect URI (errors so
far are shown on our own page), then everything else (errors go back to the client).
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from auth_service.repositories import Repositories
from auth_service.security import pkce
from auth_service.security.secrets import hash_token, new_token
from shared.errors import (
    ConsentRequiredError,
    InvalidRequestError,
    InvalidScopeError,
    LoginRequiredError,
    OAuthError,
    RequestNotSupportedError,
    RequestUriNotSupportedError,
    UnauthorizedClientError,
    UnsupportedResponseTypeError,
)
from shared.models import (
    AuthorizationCode,
    Client,
    Consent,
    Grant,
    PendingAuthorization,
    UserSession,
)
from shared.scopes import SCOPES, format_scope, parse_scope

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

    def to_params(self) -> dict[str, Any]:
        return {
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
        )

    def min_auth_time(self, now: datetime) -> datetime | None:
        """OIDC Core §3.1.2.1: prompt=login and max_age demand an authentication this recent."""
        if self.prompt & {"login", "select_account"}:
            return now
        if self.max_age is not None:
            return now - timedelta(seconds=self.max_age)
        return None


def validate_client_and_redirect_uri(
    params: dict[str, str], repeated: frozenset[str], client: Client | None
) -> tuple[str, bool]:
    """RFC 6749 §3.1.2.4 / §4.1.2.1: errors here must never redirect. Returns (redirect_uri, given)."""
    if "client_id" in repeated:
        raise AuthorizationPageError(InvalidRequestError("client_id was sent more than once"))
    if "client_id" not in params:
        raise AuthorizationPageError(InvalidRequestError("client_id is missing"))
    if client is None:
        raise AuthorizationPageError(InvalidRequestError("the client is unknown"))
    if "redirect_uri" in repeated:
        raise AuthorizationPageError(InvalidRequestError("redirect_uri was sent more than once"))
    redirect_uri = params.get("redirect_uri")
    if redirect_uri is None:
        if len(client.redirect_uris) != 1:
            raise AuthorizationPageError(
                InvalidRequestError("redirect_uri is required: the client registered several")
            )
        return client.redirect_uris[0], False
    if not client.allows_redirect_uri(redirect_uri):
        raise AuthorizationPageError(
            InvalidRequestError("redirect_uri does not match any URI registered for this client")
        )
    return redirect_uri, True


def validate_authorization_request(
    params: dict[str, str], repeated: frozenset[str], client: Client | None
) -> AuthorizationRequest:
    """Validate everything; raise AuthorizationPageError or AuthorizationRedirectError."""
    redirect_uri, redirect_uri_given = validate_client_and_redirect_uri(params, repeated, client)
    assert client is not None  # noqa: S101 - checked above
    # A repeated state cannot be echoed "byte for byte", so it is not echoed at all.
    state = None if "state" in repeated else params.get("state")
    try:
        return _validate_rest(params, repeated, client, redirect_uri, redirect_uri_given, state)
    except OAuthError as error:
        raise AuthorizationRedirectError(
            error, redirect_uri, state, confirm=not client.is_vetted
        ) from None


def _validate_rest(
    params: dict[str, str],
    repeated: frozenset[str],
    client: Client,
    redirect_uri: str,
    redirect_uri_given: bool,
    state: str | None,
) -> AuthorizationRequest:
    if repeated:
        raise InvalidRequestError(f"parameter {sorted(repeated)[0]} was sent more than once")
    if state is not None and len(state) > MAX_STATE_LENGTH:
        raise InvalidRequestError("state is too long")
    # OIDC Core §6: we support neither request objects nor request_uri.
    if "request" in params:
        raise RequestNotSupportedError("request objects are not supported")
    if "request_uri" in params:
        raise RequestUriNotSupportedError("request_uri is not supported")
    if "claims" in params:
        raise InvalidRequestError("the claims parameter is not supported")
    _validate_response_type(params, client)
    scopes = _validate_scope(params.get("scope"), client)
    challenge, method = _validate_pkce(params, client)
    if "openid" in scopes and not redirect_uri_given:
        raise InvalidRequestError("redirect_uri is required for OpenID Connect requests")
    nonce = params.get("nonce")
    if nonce is not None and len(nonce) > MAX_NONCE_LENGTH:
        raise InvalidRequestError("nonce is too long")
    login_hint = params.get("login_hint")
    if login_hint is not None and len(login_hint) > MAX_LOGIN_HINT_LENGTH:
        login_hint = None  # a hint is only a convenience: drop it rather than fail
    return AuthorizationRequest(
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        redirect_uri_given=redirect_uri_given,
        scopes=scopes,
        state=state,
        nonce=nonce,
        code_challenge=challenge,
        code_challenge_method=method,
        prompt=_validate_prompt(params.get("prompt")),
        max_age=_validate_max_age(params.get("max_age")),
        login_hint=login_hint,
        client_vetted=client.is_vetted,
    )


def _validate_response_type(params: dict[str, str], client: Client) -> None:
    response_type = params.get("response_type")
    if response_type is None:
        raise InvalidRequestError("response_type is missing")
    if response_type != "code":
        # RFC 9700 §2.1.2: nothing that puts a token in the URL (implicit, hybrid).
        raise UnsupportedResponseTypeError("only response_type=code is supported")
    response_mode = params.get("response_mode")
    if response_mode is not None and response_mode != "query":
        raise InvalidRequestError("only response_mode=query is supported")
    if not client.allows_grant_type("authorization_code"):
        raise UnauthorizedClientError("this client may not use the authorization code flow")


def _validate_scope(scope: str | None, client: Client) -> frozenset[str]:
    scopes = parse_scope(scope)
    if not scopes:
        # RFC 6749 §3.3: with no default scope we fail the request.
        raise InvalidScopeError("scope is required")
    unknown = scopes - SCOPES.keys()
    if unknown:
        raise InvalidScopeError(f"unknown scope: {sorted(unknown)[0]}")
    if not scopes <= client.scopes:
        raise InvalidScopeError(
            f"scope not allowed for this client: {sorted(scopes - client.scopes)[0]}"
        )
    return scopes


def _validate_pkce(params: dict[str, str], client: Client) -> tuple[str | None, str | None]:
    challenge = params.get("code_challenge")
    method = params.get("code_challenge_method")
    if challenge is None:
        if method is not None:
            raise InvalidRequestError("code_challenge_method was sent without code_challenge")
        # RFC 9700 §2.1.1: PKCE for public clients always, for confidential ones by default.
        if client.is_public or client.require_pkce:
            raise InvalidRequestError("code_challenge is required (PKCE, RFC 7636)")
        return None, None
    # RFC 7636 §4.3 would default a missing method to "plain", which we refuse (RFC 9700 §2.1.1).
    if method not in pkce.SUPPORTED_METHODS:
        raise InvalidRequestError("code_challenge_method must be S256")
    if not pkce.is_valid_challenge(challenge):
        raise InvalidRequestError("code_challenge must be 43 base64url characters (RFC 7636 §4.2)")
    return challenge, method


def _validate_prompt(prompt: str | None) -> frozenset[str]:
    values = frozenset(prompt.split(" ")) if prompt else frozenset()
    if values - PROMPT_VALUES:
        raise InvalidRequestError("prompt has an unsupported value")
    if "none" in values and len(values) > 1:
        raise InvalidRequestError("prompt=none cannot be combined with other values")
    return values


def _validate_max_age(max_age: str | None) -> int | None:
    if max_age is None:
        return None
    if not max_age.isdigit() or len(max_age) > 9:
        raise InvalidRequestError("max_age must be a non-negative integer")
    return int(max_age)


class Step(enum.Enum):
    LOGIN = "login"
    CONSENT = "consent"
    ISSUE_CODE = "issue_code"


def next_step(
    request: AuthorizationRequest,
    *,
    session: UserSession | None,
    consent: Consent | None,
    min_auth_time: datetime | None,
) -> Step:
    """What the user must do next; prompt=none turns any needed interaction into an error."""
    needs_login = session is None or (
        min_auth_time is not None and session.auth_time < min_auth_time
    )
    needs_consent = (
        consent is None or not request.scopes <= consent.scopes or "consent" in request.prompt
    )
    if "none" in request.prompt:
        # OIDC Core §3.1.2.6: answer without showing any page.
        if needs_login:
            raise LoginRequiredError("the user is not logged in")
        if needs_consent:
            raise ConsentRequiredError("the user has not consented to these scopes")
    if needs_login:
        return Step.LOGIN
    return Step.CONSENT if needs_consent else Step.ISSUE_CODE


async def save_pending(
    repos: Repositories,
    request: AuthorizationRequest,
    *,
    now: datetime,
    ttl: int,
    min_auth_time: datetime | None,
) -> str:
    """Keep the validated request server-side while the user logs in or consents."""
    request_id = secrets.token_urlsafe(32)
    await repos.pending.add(
        PendingAuthorization(
            id=request_id,
            client_id=request.client_id,
            params=request.to_params(),
            min_auth_time=min_auth_time,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl),
        )
    )
    return request_id


def redirect_uri_with(redirect_uri: str, params: dict[str, str | None]) -> str:
    """Add response parameters to the redirect URI, keeping its own query (RFC 6749 §3.1.2)."""
    parts = urlsplit(redirect_uri)
    extra = urlencode({k: v for k, v in params.items() if v is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


async def issue_authorization_code(
    repos: Repositories,
    request: AuthorizationRequest,
    *,
    user_id: str,
    auth_time: datetime,
    now: datetime,
    ttl: int,
) -> str:
    """RFC 6749 §4.1.2: a new grant and its single-use code, bound to everything the request said."""
    grant = await repos.grants.add(
        Grant(
            user_id=user_id,
            client_id=request.client_id,
            scope=format_scope(request.scopes),
            auth_time=auth_time,
            created_at=now,
        )
    )
    code = new_token()
    await repos.codes.add(
        AuthorizationCode(
            code_hash=hash_token(code),
            grant_id=grant.id,
            client_id=request.client_id,
            user_id=user_id,
            redirect_uri=request.redirect_uri if request.redirect_uri_given else None,
            scope=format_scope(request.scopes),
            code_challenge=request.code_challenge,
            code_challenge_method=request.code_challenge_method,
            nonce=request.nonce,
            auth_time=auth_time,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl),
        )
    )
    return code
