"""Validating an authorization request: RFC 6749 §4.1.1-4.1.2, RFC 7636, OIDC Core §3.1.2.

Validation runs in the order that keeps redirects safe: the client, then the redirect URI (errors so
far are shown on our own page), then everything else (errors go back to the client).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from auth_service.oauth import fapi2
from auth_service.oauth.authorize.request import (
    MAX_LOGIN_HINT_LENGTH,
    MAX_NONCE_LENGTH,
    MAX_STATE_LENGTH,
    PROMPT_VALUES,
    AuthorizationPageError,
    AuthorizationRedirectError,
    AuthorizationRequest,
)
from auth_service.oauth.dpop import validate_dpop_jkt
from auth_service.oauth.resources import ResourceRegistry, validate_resources
from auth_service.security import pkce
from shared.errors import (
    InvalidRequestError,
    InvalidScopeError,
    OAuthError,
    RequestNotSupportedError,
    RequestUriNotSupportedError,
    UnauthorizedClientError,
    UnsupportedResponseTypeError,
)
from shared.models import (
    Client,
)
from shared.scopes import SCOPES, parse_scope


def known_client(params: dict[str, str], repeated: frozenset[str], client: Client | None) -> Client:
    """The client the request names, or our error page (RFC 6749 §4.1.2.1: never a redirect)."""
    if "client_id" in repeated:
        raise AuthorizationPageError(InvalidRequestError("client_id was sent more than once"))
    if "client_id" not in params:
        raise AuthorizationPageError(InvalidRequestError("client_id is missing"))
    if client is None:
        raise AuthorizationPageError(InvalidRequestError("the client is unknown"))
    return client


def validate_client_and_redirect_uri(
    params: dict[str, str], repeated: frozenset[str], client: Client | None
) -> tuple[str, bool]:
    """RFC 6749 §3.1.2.4 / §4.1.2.1: errors here must never redirect. Returns (redirect_uri, given)."""
    client = known_client(params, repeated, client)
    if "redirect_uri" in repeated:
        raise AuthorizationPageError(InvalidRequestError("redirect_uri was sent more than once"))
    redirect_uri = params.get("redirect_uri")
    if redirect_uri is None:
        # OIDC Core §3.1.2.1 makes redirect_uri REQUIRED, and RFC 6749 §4.1.2.1 never follows a
        # missing one, even to the only registered URI. Read from the raw scope: a malformed
        # scope must not hide that this is an OpenID Connect request, nor a repeated one (its
        # values are dropped before this point, so it may be one).
        if "scope" in repeated or "openid" in params.get("scope", "").split(" "):
            raise AuthorizationPageError(
                InvalidRequestError(
                    "redirect_uri is required for OpenID Connect requests "
                    "(OpenID Connect Core section 3.1.2.1)"
                )
            )
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
    client = known_client(params, repeated, client)
    redirect_uri, redirect_uri_given = validate_client_and_redirect_uri(params, repeated, client)
    # A repeated state cannot be echoed "byte for byte", so it is not echoed at all.
    state = None if "state" in repeated else params.get("state")
    try:
        return _validate_rest(params, repeated, client, redirect_uri, redirect_uri_given, state)
    except OAuthError as error:
        raise AuthorizationRedirectError(
            error, redirect_uri, state, confirm=not client.is_vetted
        ) from None


async def validate_request_resources(
    registry: ResourceRegistry,
    authz: AuthorizationRequest,
    resources: Sequence[str],
    client: Client,
) -> AuthorizationRequest:
    """RFC 8707 §2.1: each `resource` registered and allowed for the client, checked last, once
    the redirect URI is known good: a refusal goes back to it (RFC 6749 §4.1.2.1)."""
    if not resources:
        return authz
    try:
        return replace(
            authz, resources=await validate_resources(registry, client, resources, authz.scopes)
        )
    except OAuthError as error:
        raise AuthorizationRedirectError(
            error, authz.redirect_uri, authz.state, confirm=not client.is_vetted
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
    # RFC 9101 §6.3: request objects and our PAR request_uris are unpacked before validation
    # (request_object.py, pushed.py); one still here came from within those and is refused.
    if "request" in params:
        raise RequestNotSupportedError("request objects are not supported")
    if "request_uri" in params:
        raise RequestUriNotSupportedError("request_uri is not supported")
    if "claims" in params:
        raise InvalidRequestError("the claims parameter is not supported")
    _validate_response_type(params, client)
    scopes = validate_scope(params.get("scope"), client)
    challenge, method = _validate_pkce(params, client)
    fapi2.validate_authorization_request(client, redirect_uri_given=redirect_uri_given)
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
        dpop_jkt=validate_dpop_jkt(params.get("dpop_jkt")),
        profile=client.profile,
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


def validate_scope(scope: str | None, client: Client) -> frozenset[str]:
    """RFC 6749 §3.3: required (no default scope), known, and allowed for the client; also
    the device authorization endpoint's rule (RFC 8628 §3.1)."""
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
        if client.is_public or client.require_pkce or fapi2.requires_pkce(client):
            raise InvalidRequestError("code_challenge is required (PKCE, RFC 7636)")
        return None, None
    # RFC 7636 §4.3 would default a missing method to "plain", which we refuse (RFC 9700 §2.1.1).
    if method not in pkce.SUPPORTED_METHODS:
        raise InvalidRequestError("code_challenge_method must be S256")
    if not pkce.is_valid_challenge(challenge):
        raise InvalidRequestError(
            "code_challenge must be 43 base64url characters (RFC 7636 section 4.2)"
        )
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
