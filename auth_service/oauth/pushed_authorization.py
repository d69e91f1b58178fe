"""The pushed authorization request endpoint (RFC 9126 §2): an authenticated client sends its
authorization request on the back channel and gets a short-lived request_uri for it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from auth_service.oauth.authorize.pushed import REQUEST_URI_PREFIX
from auth_service.oauth.authorize.request import (
    AuthorizationPageError,
    AuthorizationRedirectError,
)
from auth_service.oauth.authorize.validation import (
    validate_authorization_request,
    validate_request_resources,
)
from auth_service.oauth.resources import RESOURCE_PARAM, ResourceRegistry
from auth_service.repositories import Repositories
from auth_service.security.secrets import hash_token
from shared.errors import InvalidRequestError
from shared.models import Client, PushedAuthorizationRequest

# RFC 9126 §2.1: these only authenticate the client; they are no part of the authorization
# request and are never stored with it.
CLIENT_AUTHENTICATION_PARAMS = frozenset(
    {"client_secret", "client_assertion", "client_assertion_type"}
)


@dataclass(frozen=True, slots=True)
class PushedRequest:
    """RFC 9126 §2.2: the success response."""

    request_uri: str
    expires_in: int

    def to_wire(self) -> dict[str, str | int]:
        return {"request_uri": self.request_uri, "expires_in": self.expires_in}


async def push_authorization_request(
    repos: Repositories,
    client: Client,
    form: dict[str, str],
    *,
    now: datetime,
    lifetime: int,
    registry: ResourceRegistry,
    resources: tuple[str, ...] = (),
) -> PushedRequest:
    """RFC 9126 §2.1-2.3: validate the pushed parameters as /oauth/authorize would, answering any
    error as JSON (never a redirect), and keep them under the digest of a new request_uri.
    `resources` (RFC 8707 §2.1) are kept as a list beside them."""
    if "request_uri" in form:
        raise InvalidRequestError(
            "request_uri must not be sent to the pushed authorization request endpoint "
            "(RFC 9126 section 2.1)"
        )
    params = {k: v for k, v in form.items() if k not in CLIENT_AUTHENTICATION_PARAMS}
    # Client authentication already tied a body client_id to the client; Basic-only clients
    # may leave it out, so it is taken from the client that authenticated.
    params["client_id"] = client.client_id
    try:
        # The redirect URI must be one the client registered: the section 2.4 option to accept
        # another from an authenticated client is not offered.
        authz = validate_authorization_request(params, frozenset(), client)
        authz = await validate_request_resources(registry, authz, resources, client)
    except (AuthorizationPageError, AuthorizationRedirectError) as exc:
        raise exc.error from None
    stored: dict[str, object] = dict(params)
    if authz.resources:
        stored[RESOURCE_PARAM] = list(authz.resources)
    # RFC 9126 §7.1: 256 random bits, so a request_uri cannot be guessed.
    request_uri = REQUEST_URI_PREFIX + secrets.token_urlsafe(32)
    await repos.pushed.add(
        PushedAuthorizationRequest(
            request_uri_hash=hash_token(request_uri),
            client_id=client.client_id,
            params=stored,
            created_at=now,
            expires_at=now + timedelta(seconds=lifetime),
        )
    )
    return PushedRequest(request_uri, lifetime)
