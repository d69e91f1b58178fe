"""Provider metadata: OIDC Discovery 1.0 §3 and RFC 8414 §2. It lists only what exists."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from auth_service.oauth.authorize.request_object import ALGORITHMS as REQUEST_OBJECT_ALGORITHMS
from auth_service.oauth.client_auth import ASSERTION_SIGNING_ALGORITHMS, auth_method_names
from auth_service.security.pkce import SUPPORTED_METHODS
from shared.dpop import DPOP_ALGORITHMS
from shared.scopes import Scope


def provider_metadata(
    issuer: str,
    *,
    grant_types: Iterable[str],
    response_types: Iterable[str],
    scopes: Mapping[str, Scope],
    signing_algs: Iterable[str],
    registration_enabled: bool,
    require_pushed_authorization_requests: bool = False,
    client_id_metadata_documents: bool = False,
) -> dict[str, Any]:
    claims = sorted(
        {"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "azp", "at_hash"}
        | {claim for scope in scopes.values() for claim in scope.claims}
    )
    metadata: dict[str, Any] = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth/authorize",
        "token_endpoint": f"{issuer}/oauth/token",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "userinfo_endpoint": f"{issuer}/oauth/userinfo",
        "end_session_endpoint": f"{issuer}/oauth/logout",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        # RFC 8628 §4: where a device starts; its grant type is in grant_types_supported.
        "device_authorization_endpoint": f"{issuer}/oauth/device_authorization",
        "revocation_endpoint_auth_methods_supported": list(auth_method_names()),
        "introspection_endpoint": f"{issuer}/oauth/introspect",
        # RFC 7662 §2.1: the caller must authenticate, so not the public clients' `none`.
        "introspection_endpoint_auth_methods_supported": list(auth_method_names(public=False)),
        "scopes_supported": list(scopes),
        "claims_supported": claims,
        "response_types_supported": list(response_types),
        "response_modes_supported": ["query"],
        "grant_types_supported": sorted(grant_types),
        "subject_types_supported": ["public"],
        # OIDC Discovery §3: every algorithm we hold a key for (README "Signing algorithms").
        "id_token_signing_alg_values_supported": list(signing_algs),
        "token_endpoint_auth_methods_supported": list(auth_method_names()),
        "code_challenge_methods_supported": list(SUPPORTED_METHODS),
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        # RFC 9207 §3: every authorization response carries `iss`.
        "authorization_response_iss_parameter_supported": True,
        # RFC 9101 §10.5 / OIDC Discovery §3: signed request objects by value; a request_uri
        # names only our own pushed requests (RFC 9126), never a URL to fetch an object from.
        "request_parameter_supported": True,
        "request_object_signing_alg_values_supported": list(REQUEST_OBJECT_ALGORITHMS),
        "request_uri_parameter_supported": False,
        "claims_parameter_supported": False,
        # RFC 9126 §5: where to push, and whether every authorization request must be pushed.
        "pushed_authorization_request_endpoint": f"{issuer}/oauth/par",
        "require_pushed_authorization_requests": require_pushed_authorization_requests,
        # RFC 9449 §5.1
        "dpop_signing_alg_values_supported": list(DPOP_ALGORITHMS),
    }
    # RFC 8414 §2: the algorithms private_key_jwt and client_secret_jwt assertions may use.
    for endpoint in ("token", "revocation", "introspection"):
        metadata[f"{endpoint}_endpoint_auth_signing_alg_values_supported"] = list(
            ASSERTION_SIGNING_ALGORITHMS
        )
    if client_id_metadata_documents:
        # draft-ietf-oauth-client-id-metadata-document-00 §5: an https URL may be a client_id.
        metadata["client_id_metadata_document_supported"] = True
    if registration_enabled:
        metadata["registration_endpoint"] = f"{issuer}/oauth/register"  # RFC 8414 §2
    return metadata
