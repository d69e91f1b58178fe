"""Clients identified by a URL: the Client ID Metadata Document found there, checked and kept as a
client row (draft-ietf-oauth-client-id-metadata-document-00 §4.1; README "Client ID Metadata
Documents").

Consents, grants, codes and refresh tokens all reference a client row, so a valid document is
copied into one (`from_metadata_document`), and rewritten when a later fetch finds it changed.
The document's metadata goes through the same RFC 7591 rules as dynamic registration, plus the
draft's own: its `client_id` is the URL, and it holds no secret, since none could be shared.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from auth_service.clients.metadata_documents import (
    BeforeFetch,
    MetadataDocumentError,
    MetadataDocumentFetcher,
)
from auth_service.clients.registry import (
    ClientKeys,
    ClientMetadataError,
    ClientSpec,
    validate_client_spec,
    with_profile,
)
from auth_service.oauth.registration import spec_from_metadata
from auth_service.oauth.registration_metadata import validate_extra_metadata, validate_id_token_alg
from auth_service.repositories import Repositories
from shared.errors import OAuthError
from shared.models import Client
from shared.scopes import SCOPES, format_scope, parse_scope

logger = logging.getLogger(__name__)


# §4.1: no shared secret can exist, so only `none` or proof with the client's own keys.
AUTH_METHODS = ("none", "private_key_jwt")
# What a client with no registration may hold: the browser flow and its refresh tokens (the
# issue's MCP section); never client_credentials, the password grant or anything else.
GRANT_TYPES = ("authorization_code", "refresh_token")
SECRET_MEMBERS = ("client_secret", "client_secret_expires_at")


def validate_document(
    client_id: str, document: dict[str, Any], *, signing_algs: Collection[str]
) -> tuple[ClientSpec, dict[str, Any], str | None]:
    """§4.1 and RFC 7591 §2: the spec to store, the informational metadata, the ID token alg."""
    # §4.1: simple string comparison (RFC 3986 §6.2.1), no normalisation.
    if document.get("client_id") != client_id:
        raise MetadataDocumentError("the document's client_id is not the URL it was fetched from")
    for name in SECRET_MEMBERS:
        if name in document:
            raise MetadataDocumentError(f"a client metadata document must not contain {name}")
    # As in registration, a JSON null counts as absent.
    metadata = {name: value for name, value in document.items() if value is not None}
    # No secret is possible, so a document that names no method uses none (RFC 7591's
    # client_secret_basic default cannot apply).
    method = metadata.setdefault("token_endpoint_auth_method", "none")
    if method not in AUTH_METHODS:
        raise MetadataDocumentError(
            f"token_endpoint_auth_method must be {' or '.join(AUTH_METHODS)}"
        )
    redirect_uris = metadata.get("redirect_uris")
    if not isinstance(redirect_uris, list) or not redirect_uris:
        raise MetadataDocumentError("the document must list its redirect_uris")
    grant_types = metadata.get("grant_types", ["authorization_code"])
    if not isinstance(grant_types, list) or not all(g in GRANT_TYPES for g in grant_types):
        raise MetadataDocumentError(f"grant_types may only be {' and '.join(GRANT_TYPES)}")
    # RFC 7591 §2: without `scope` the server may choose a default; every scope we define,
    # each still asked of the user on the consent page.
    metadata.setdefault("scope", format_scope(frozenset(SCOPES)))
    # Without a name the consent page names the client by its host (§6: shown prominently anyway).
    metadata.setdefault("client_name", urlsplit(client_id).hostname or client_id)
    try:
        spec = with_profile(spec_from_metadata(metadata))
        extra = validate_extra_metadata(metadata, signing_algs=signing_algs)
        id_token_alg = validate_id_token_alg(metadata, signing_algs, profile=spec.profile)
        validate_client_spec(spec)
    except (ClientMetadataError, OAuthError) as error:
        # The rule's text may quote the document (a scope, a member name, a URL): it goes to
        # our log only; the client is told no more than that the document was refused.
        text = error.description if isinstance(error, OAuthError) else str(error)
        logger.info("client metadata document refused: %s", text[:200])
        raise MetadataDocumentError("the client metadata document is invalid") from None
    return spec, extra, id_token_alg


async def resolve_client(
    repos: Repositories,
    fetcher: MetadataDocumentFetcher,
    client_id: str,
    *,
    signing_algs: Collection[str],
    now: datetime,
    before_fetch: BeforeFetch | None = None,
) -> Client:
    """The client row for a URL client_id: fetched (or cached) document, checked, stored.
    Raises MetadataDocumentError; the row is written only from a valid document. The caller
    has made sure no registered client holds this id (deps.client_by_id)."""
    problem = fetcher.url_problem(client_id)
    if problem is not None:
        raise MetadataDocumentError(problem)
    # Fetched before the first database read: on SQLite a transaction holds the one writer
    # lock, and a slow document server must not hold it for everyone.
    fetched = await fetcher.document(client_id, before_fetch)
    # Checked even when cached: a cached document may have been stored by a request that was
    # then refused (and rolled back with it).
    try:
        spec, extra, id_token_alg = validate_document(
            client_id, fetched.document, signing_algs=signing_algs
        )
    except MetadataDocumentError as error:
        # Remembered like a failed fetch (§4.3), so it is not fetched again on every request;
        # a fixed document is seen once the failure's short memory ends.
        fetcher.fail(client_id, error)
        raise
    existing = await repos.clients.get_by_client_id(client_id)
    if existing is not None and not existing.from_metadata_document:
        return existing  # registered meanwhile (deps.client_by_id looked first): it wins
    values = _row_values(spec, extra, id_token_alg)
    written = max(now, fetched.fetched_at)
    if existing is None:
        new = Client(client_id=client_id, created_at=now, updated_at=written, **values)
        return await repos.clients.add_if_absent(new)
    # Only a copy fetched after the row was written replaces it: another instance may still
    # hold an older copy in its cache and must not write it back over a newer one.
    newer = fetched.fetched_at >= existing.updated_at
    if newer and any(getattr(existing, name) != value for name, value in values.items()):
        for name, value in values.items():
            setattr(existing, name, value)
        existing.updated_at = written
        await repos.clients.save(existing)
    return existing


def _row_values(
    spec: ClientSpec, extra: dict[str, Any], id_token_alg: str | None
) -> dict[str, Any]:
    keys = spec.keys or ClientKeys()
    return {
        "from_metadata_document": True,
        "client_secret_hash": None,  # §4.1: never a secret
        "client_secret_encrypted": None,
        "name": spec.name.strip(),
        "redirect_uris": list(dict.fromkeys(spec.redirect_uris)),
        "post_logout_redirect_uris": list(dict.fromkeys(spec.post_logout_redirect_uris)),
        "scope": format_scope(parse_scope(spec.scope)),
        "grant_types": list(dict.fromkeys(spec.grant_types)),
        "is_public": spec.is_public,
        "require_pkce": True,  # RFC 9700 §2.1.1; the MCP authorization spec requires PKCE
        "homepage_uri": spec.homepage_uri,
        "logo_uri": spec.logo_uri,
        "token_endpoint_auth_method": spec.auth_method,
        "require_pushed_authorization_requests": spec.require_pushed_authorization_requests,
        "dpop_bound_access_tokens": spec.dpop_bound_access_tokens,
        "jwks": keys.jwks,
        "jwks_uri": keys.jwks_uri,
        "token_endpoint_auth_signing_alg": spec.token_endpoint_auth_signing_alg,
        "profile": spec.profile,
        "id_token_signed_response_alg": id_token_alg,
        "registered_metadata": extra,
    }
