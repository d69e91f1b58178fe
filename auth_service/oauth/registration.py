"""Dynamic client registration (RFC 7591) and its management protocol (RFC 7592).

Metadata goes through the same rules as the developer portal (`client_registry`). Unknown
metadata is ignored (RFC 7591 §2), defined metadata we cannot honour is refused
(`registration_metadata`), and everything registered is echoed in every response (§3.2.1).
"""

from __future__ import annotations

import hmac
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from auth_service.clients.registry import (
    ClientChanges,
    ClientKeys,
    ClientMetadataError,
    ClientSpec,
    Sealer,
    delete_client,
    register_client,
    update_client,
)
from auth_service.oauth import grants
from auth_service.oauth.client_auth import auth_method_names
from auth_service.oauth.registration_metadata import (
    provider_values,
    validate_extra_metadata,
    validate_id_token_alg,
)
from auth_service.repositories import Repositories
from auth_service.security.secrets import hash_token, new_token, token_matches
from shared.bearer import require_bearer
from shared.errors import (
    InvalidClientMetadataError,
    InvalidRedirectUriError,
    InvalidTokenError,
    OAuthError,
)
from shared.models import Client

REALM = "myauth-registration"


def _strings(metadata: dict[str, Any], name: str, default: Sequence[str]) -> list[str]:
    value = metadata.get(name, default)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or len(value) > 20:
        raise InvalidClientMetadataError(f"{name} must be an array of at most 20 strings")
    return value


def _string(metadata: dict[str, Any], name: str, *, limit: int = 2000) -> str | None:
    value = metadata.get(name)
    if value is not None and (not isinstance(value, str) or len(value) > limit):
        raise InvalidClientMetadataError(f"{name} must be a string of at most {limit} characters")
    return value


def _boolean(metadata: dict[str, Any], name: str) -> bool:
    value = metadata.get(name, False)
    if not isinstance(value, bool):
        raise InvalidClientMetadataError(f"{name} must be true or false")
    return value


def spec_from_metadata(metadata: dict[str, Any]) -> ClientSpec:
    """RFC 7591 §2 metadata -> our registration spec, with §2.1's grant/response type rules."""
    auth_method = _string(metadata, "token_endpoint_auth_method") or "client_secret_basic"
    # §2: grant_types defaults to authorization_code.
    grant_types = _strings(metadata, "grant_types", ["authorization_code"])
    response_types = _strings(metadata, "response_types", _response_types_for(grant_types))
    supported = grants.response_types()
    if set(response_types) - supported.keys():
        raise InvalidClientMetadataError(
            f"only the {' and '.join(supported)} response type is supported"
        )
    # §2.1: a response type and the grant type it starts are registered together.
    for response_type, grant_type in supported.items():
        if (response_type in response_types) != (grant_type in grant_types):
            raise InvalidClientMetadataError(
                f"response_types {response_type} needs grant_types {grant_type}"
            )
    # §2: what a self-registered client may use, as each grant type declares (the password
    # grant is for clients an operator marks first-party, never for self-registered ones).
    dynamic = grants.grant_types(dynamic_registration=True)
    if set(grant_types) - set(dynamic):
        raise InvalidClientMetadataError(f"grant_types may be {', '.join(dynamic)}")
    return ClientSpec(
        name=_string(metadata, "client_name", limit=200) or "Unnamed app",
        redirect_uris=_strings(metadata, "redirect_uris", []),
        post_logout_redirect_uris=_strings(metadata, "post_logout_redirect_uris", []),
        scope=_string(metadata, "scope", limit=1000) or "openid",
        grant_types=grant_types,
        is_public=auth_method in auth_method_names(public=True),
        homepage_uri=_string(metadata, "client_uri"),
        logo_uri=_string(metadata, "logo_uri"),
        token_endpoint_auth_method=auth_method,
        require_pushed_authorization_requests=_boolean(
            metadata, "require_pushed_authorization_requests"
        ),
        keys=_keys(metadata),
        dpop_bound_access_tokens=_dpop_bound(metadata),
        token_endpoint_auth_signing_alg=_string(
            metadata, "token_endpoint_auth_signing_alg", limit=10
        ),
        profile=_string(metadata, "profile", limit=16),
    )


def _keys(metadata: dict[str, Any]) -> ClientKeys:
    """RFC 7591 §2 jwks (a JWK Set object) and jwks_uri; checked by the registry's rules."""
    jwks = metadata.get("jwks")
    if jwks is not None and not isinstance(jwks, dict):
        raise InvalidClientMetadataError("jwks must be a JWK Set object")
    return ClientKeys(jwks=jwks, jwks_uri=_string(metadata, "jwks_uri"))


def _dpop_bound(metadata: dict[str, Any]) -> bool:
    """RFC 9449 §5.2 `dpop_bound_access_tokens`, false when absent."""
    value = metadata.get("dpop_bound_access_tokens", False)
    if not isinstance(value, bool):
        raise InvalidClientMetadataError("dpop_bound_access_tokens must be true or false")
    return value


def _response_types_for(grant_types: Sequence[str]) -> list[str]:
    """RFC 7591 §2.1: the response types that go with these grant types."""
    return [rt for rt, grant in grants.response_types().items() if grant in grant_types]


def _protocol_error(error: ClientMetadataError) -> OAuthError:
    # RFC 7591 §3.2.2: redirect URI problems have their own code.
    if error.field in ("redirect_uris", "post_logout_redirect_uris"):
        return InvalidRedirectUriError(str(error))
    return InvalidClientMetadataError(str(error))


def validate_initial_access_token(authorization: str | None, expected: str | None) -> None:
    """RFC 7591 §3: when the operator configured an initial access token, the registration
    request must carry it as a bearer token (RFC 6750 §2.1); a wrong one is invalid_token."""
    if expected is None:
        return
    token = require_bearer(authorization, realm=REALM)
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise InvalidTokenError("the initial access token is not valid", realm=REALM)


def client_metadata(client: Client, *, issuer: str, signing_alg: str) -> dict[str, Any]:
    """RFC 7591 §3.2.1 / RFC 7592 §3: the registered metadata and how to manage it."""
    metadata: dict[str, Any] = {
        **provider_values(client.id_token_signed_response_alg or signing_alg),
        **client.registered_metadata,
        "client_id": client.client_id,
        "client_id_issued_at": int(client.created_at.timestamp()),
        "client_name": client.name,
        "redirect_uris": client.redirect_uris,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "grant_types": client.grant_types,
        "response_types": _response_types_for(client.grant_types),
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "scope": client.scope,
        "registration_client_uri": f"{issuer}/oauth/register/{client.client_id}",
    }
    if client.require_pushed_authorization_requests:
        # RFC 9126 §6; omitted means false, so a false one is echoed by omission.
        metadata["require_pushed_authorization_requests"] = True
    if client.dpop_bound_access_tokens:
        metadata["dpop_bound_access_tokens"] = True  # RFC 9449 §5.2; false is the default
    if client.profile is not None:
        metadata["profile"] = client.profile  # ours (README "The FAPI 2.0 profile")
    if not client.is_public:
        metadata["client_secret_expires_at"] = 0  # §3.2.1: 0 means it does not expire
    for name, value in (
        ("client_uri", client.homepage_uri),
        ("logo_uri", client.logo_uri),
        ("jwks", client.jwks),
        ("jwks_uri", client.jwks_uri),
        ("token_endpoint_auth_signing_alg", client.token_endpoint_auth_signing_alg),
    ):
        if value:
            metadata[name] = value
    return metadata


async def register(
    repos: Repositories,
    metadata: dict[str, Any],
    *,
    now: datetime,
    issuer: str,
    signing_alg: str,
    seal: Sealer | None = None,
    signing_algs: Collection[str],
) -> dict[str, Any]:
    """RFC 7591 §3: register the client; the response echoes what was registered (§3.2.1)."""
    spec = spec_from_metadata(metadata)
    extra = validate_extra_metadata(metadata, signing_algs=signing_algs)
    id_token_alg = validate_id_token_alg(metadata, signing_algs, profile=spec.profile)
    try:
        registered = await register_client(repos, spec, now=now, seal=seal)
    except ClientMetadataError as error:
        raise _protocol_error(error) from None
    registered.client.registered_metadata = extra
    registered.client.id_token_signed_response_alg = id_token_alg
    await repos.clients.save(registered.client)
    registration_token = new_token()
    await repos.clients.set_registration_token_hash(
        registered.client.client_id, hash_token(registration_token)
    )
    response = client_metadata(registered.client, issuer=issuer, signing_alg=signing_alg)
    response["registration_access_token"] = registration_token
    if registered.client_secret is not None:
        response["client_secret"] = registered.client_secret  # shown once; only a digest is kept
    return response


async def client_for_registration_token(repos: Repositories, client_id: str, token: str) -> Client:
    """RFC 7592 §3: an unknown client and a wrong token look the same (401 invalid_token)."""
    client = await repos.clients.get_by_client_id(client_id) if len(client_id) <= 64 else None
    if client is None or not token_matches(token, client.registration_access_token_hash):
        raise InvalidTokenError(
            "the registration access token is not valid for this client", realm=REALM
        )
    return client


async def update(
    repos: Repositories,
    client: Client,
    metadata: dict[str, Any],
    *,
    now: datetime,
    issuer: str,
    signing_alg: str,
    signing_algs: Collection[str],
) -> dict[str, Any]:
    """RFC 7592 §2.2: the request carries the full metadata; omitted fields take their defaults."""
    if metadata.get("client_id") != client.client_id:
        raise InvalidClientMetadataError("client_id must be the registered client's id")
    secret = metadata.get("client_secret")
    if secret is not None and not token_matches(str(secret), client.client_secret_hash):
        raise InvalidClientMetadataError("client_secret does not match the registered secret")
    spec = spec_from_metadata(metadata)
    extra = validate_extra_metadata(metadata, signing_algs=signing_algs)
    if spec.is_public != client.is_public:
        raise InvalidClientMetadataError(
            "token_endpoint_auth_method cannot change between public and confidential"
        )
    changes = ClientChanges(
        name=spec.name,
        redirect_uris=spec.redirect_uris,
        post_logout_redirect_uris=spec.post_logout_redirect_uris,
        scope=spec.scope,
        grant_types=spec.grant_types,
        homepage_uri=spec.homepage_uri or "",
        logo_uri=spec.logo_uri or "",
        token_endpoint_auth_method=spec.auth_method,
        require_pushed_authorization_requests=spec.require_pushed_authorization_requests,
        keys=spec.keys,  # §2.2: the full metadata, so keys not sent are no longer registered
        dpop_bound_access_tokens=spec.dpop_bound_access_tokens,
        token_endpoint_auth_signing_alg=spec.token_endpoint_auth_signing_alg or "",
        profile=spec.profile or "",
    )
    id_token_alg = validate_id_token_alg(metadata, signing_algs, profile=spec.profile)
    try:
        await update_client(repos, client, changes, now=now)
    except ClientMetadataError as error:
        raise _protocol_error(error) from None
    # §2.2 replaces the whole registration: what is not sent again is no longer registered.
    client.registered_metadata = extra
    client.id_token_signed_response_alg = id_token_alg
    await repos.clients.save(client)
    return client_metadata(client, issuer=issuer, signing_alg=signing_alg)


async def deregister(repos: Repositories, client: Client, *, now: datetime) -> None:
    """RFC 7592 §2.3: the client and every grant, token and consent it held are gone."""
    await delete_client(repos, client, now=now)
