"""Pushed authorization requests at the authorization endpoint (RFC 9126 §4): a request_uri of
ours stands for the parameters the client pushed, and a client that must push gets nothing else in.

Every refusal of a request_uri is shown on our own page: what it names cannot be trusted, so
neither can a redirect URI taken from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from auth_service.oauth.authorize.request import (
    AuthorizationPageError,
    AuthorizationRedirectError,
    stored_resources,
)
from auth_service.oauth.authorize.request_object import (
    RequestObjectContext,
    refuse_with_request_uri,
    request_object_params,
)
from auth_service.oauth.authorize.validation import validate_client_and_redirect_uri
from auth_service.oauth.resources import RESOURCE_PARAM
from auth_service.repositories import Repositories
from auth_service.security.secrets import hash_token
from shared.errors import InvalidRequestError, InvalidRequestUriError, OAuthError
from shared.models import Client

# RFC 9126 §2.2: the URN namespace registered for request URIs the server hands out.
REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
MAX_REQUEST_URI_LENGTH = 200


@dataclass(frozen=True, slots=True)
class RequestParams:
    """The parameters to validate: the query (or form) as sent, or the pushed ones."""

    params: dict[str, str]
    repeated: frozenset[str]
    pushed_request_hash: str | None = None
    # RFC 8707 §2.1: the `resource` values, which may be repeated.
    resources: tuple[str, ...] = ()


def is_pushed_request_uri(value: str) -> bool:
    return value.startswith(REQUEST_URI_PREFIX)


async def authorization_params(
    repos: Repositories,
    params: dict[str, str],
    repeated: frozenset[str],
    client: Client | None,
    *,
    server_requires_par: bool,
    now: datetime,
    request_objects: RequestObjectContext,
    resources: tuple[str, ...] = (),
) -> RequestParams:
    """RFC 9126 §4: the pushed parameters and only those (the rest of the query is ignored);
    without a pushed request, the request as sent unless PAR is required. RFC 9101 §6.3: a
    `request` object likewise stands for the whole request."""
    if "request_uri" in repeated:
        raise AuthorizationPageError(InvalidRequestError("request_uri was sent more than once"))
    signed = "request" in params or "request" in repeated
    if signed:
        try:
            refuse_with_request_uri(params, repeated)
        except OAuthError as error:
            raise AuthorizationPageError(error) from None
    request_uri = params.get("request_uri")
    if request_uri is None or not is_pushed_request_uri(request_uri):
        # Any other request_uri is for validation to refuse (request_uri_not_supported).
        if client is not None and (
            server_requires_par or client.require_pushed_authorization_requests
        ):
            _refuse_unpushed(params, repeated, client, server_requires_par=server_requires_par)
        if signed:
            return await _signed_params(params, repeated, client, request_objects)
        return RequestParams(params, repeated, resources=resources)
    if "client_id" in repeated:
        raise AuthorizationPageError(InvalidRequestError("client_id was sent more than once"))
    if "client_id" not in params:
        raise AuthorizationPageError(
            InvalidRequestError("client_id is required with request_uri (RFC 9126 section 4)")
        )
    if client is None:
        raise AuthorizationPageError(InvalidRequestError("the client is unknown"))
    request_uri_hash = hash_token(request_uri)
    pushed = (
        await repos.pushed.get_by_hash(request_uri_hash)
        if len(request_uri) <= MAX_REQUEST_URI_LENGTH
        else None
    )
    # Another client's request_uri looks like an unknown one: it tells nothing about it.
    if pushed is None or pushed.client_id != client.client_id:
        raise AuthorizationPageError(
            InvalidRequestUriError("the request_uri is not known for this client")
        )
    if pushed.used_at is not None:
        raise AuthorizationPageError(InvalidRequestUriError("the request_uri was already used"))
    if pushed.expires_at <= now:
        raise AuthorizationPageError(
            InvalidRequestUriError("the request_uri has expired (RFC 9126 section 4)")
        )
    pushed_params = dict(pushed.params)
    # Stored as the list push_authorization_request validated (pushed_authorization.py).
    pushed_resources = stored_resources(pushed_params.pop(RESOURCE_PARAM, ()))
    return RequestParams(pushed_params, frozenset(), request_uri_hash, pushed_resources)


async def _signed_params(
    params: dict[str, str],
    repeated: frozenset[str],
    client: Client | None,
    context: RequestObjectContext,
) -> RequestParams:
    """RFC 9101 §5: client_id in the query names the keys; every refusal is shown on our page,
    since a redirect_uri in an object not verified cannot be trusted."""
    if "client_id" in repeated:
        raise AuthorizationPageError(InvalidRequestError("client_id was sent more than once"))
    client_id = params.get("client_id")
    if client_id is None:
        raise AuthorizationPageError(
            InvalidRequestError("client_id is required with request (RFC 9101 section 5)")
        )
    if client is None:
        raise AuthorizationPageError(InvalidRequestError("the client is unknown"))
    try:
        unpacked = await request_object_params(params["request"], client, client_id, context)
    except OAuthError as error:
        raise AuthorizationPageError(error) from None
    return RequestParams(unpacked.params, frozenset(), resources=unpacked.resources)


def _refuse_unpushed(
    params: dict[str, str], repeated: frozenset[str], client: Client, *, server_requires_par: bool
) -> None:
    """RFC 9126 §4: invalid_request for a request that was not pushed. Once the client and
    redirect URI are verified, the error goes back to the client like any other (RFC 6749
    §4.1.2.1); until then the checks that run first show our own page."""
    redirect_uri, _ = validate_client_and_redirect_uri(params, repeated, client)
    state = None if "state" in repeated else params.get("state")
    who = "this server" if server_requires_par else "this client"
    raise AuthorizationRedirectError(
        InvalidRequestError(
            f"{who} requires pushed authorization requests: push the request to the "
            "pushed authorization request endpoint and send its request_uri (RFC 9126)"
        ),
        redirect_uri,
        state,
        confirm=not client.is_vetted,
    )


async def use_pushed_request(repos: Repositories, request_uri_hash: str, now: datetime) -> None:
    """RFC 9126 §4: a request_uri gives one code; a second sign-in that began with it loses."""
    if not await repos.pushed.use(request_uri_hash, now):
        raise AuthorizationPageError(InvalidRequestUriError("the request_uri was already used"))
