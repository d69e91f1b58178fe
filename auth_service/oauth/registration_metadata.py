"""Client metadata we can honour, beyond what the client table holds in its own columns
(RFC 7591 §2, OpenID Connect Dynamic Client Registration 1.0 §2).

RFC 7591 §3.2.1: the response holds the metadata as registered, so a defined field we would not
act on is refused with `invalid_client_metadata` (§3.2.2) instead of being dropped; a field that
nobody defined is ignored (§2). A JSON null counts as absent.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from auth_service.clients.registry import web_url_problem
from auth_service.oauth import fapi2
from shared.errors import InvalidClientMetadataError

# Defined metadata for features we do not have (encryption, signed userinfo, request objects,
# pairwise subjects, front/back-channel logout, software statements). Accepting it would
# register a promise we then break, e.g. `id_token_signed_response_alg: none` or an encrypted
# ID token sent in the clear. (`jwks` / `jwks_uri` are client keys for private_key_jwt.)
UNSUPPORTED = (
    "software_statement",
    "sector_identifier_uri",
    "id_token_encrypted_response_alg",
    "id_token_encrypted_response_enc",
    "userinfo_signed_response_alg",
    "userinfo_encrypted_response_alg",
    "userinfo_encrypted_response_enc",
    "request_object_signing_alg",
    "request_object_encryption_alg",
    "request_object_encryption_enc",
    "default_max_age",
    "default_acr_values",
    "initiate_login_uri",
    "request_uris",
    "frontchannel_logout_uri",
    "frontchannel_logout_session_required",
    "backchannel_logout_uri",
    "backchannel_logout_session_required",
)
APPLICATION_TYPES = ("web", "native")  # OIDC Registration §2
MAX_CONTACTS, MAX_TEXT = 20, 200


def provider_values(signing_alg: str) -> dict[str, Any]:
    """What every client is registered with: its ID token algorithm (the server default unless it
    chose one), public subject identifiers, and `auth_time` in every ID token (OIDC Registration §2)."""
    return {
        "id_token_signed_response_alg": signing_alg,
        "subject_type": "public",
        "require_auth_time": True,
    }


def validate_extra_metadata(
    metadata: dict[str, Any], *, signing_algs: Collection[str]
) -> dict[str, Any]:
    """Refuse what we cannot honour; return the informational metadata to keep and echo."""
    for name in UNSUPPORTED:
        if metadata.get(name) is not None:
            raise InvalidClientMetadataError(f"{name} is not supported by this server")
    _validate_provider_values(metadata, signing_algs)
    kept: dict[str, Any] = {}
    contacts = metadata.get("contacts")
    if contacts is not None:
        if not isinstance(contacts, list) or len(contacts) > MAX_CONTACTS:
            raise InvalidClientMetadataError(f"contacts must be an array of at most {MAX_CONTACTS}")
        if not all(isinstance(c, str) and 0 < len(c) <= 254 and c.isprintable() for c in contacts):
            raise InvalidClientMetadataError("each contact must be 1-254 printable characters")
        kept["contacts"] = contacts
    for name in ("tos_uri", "policy_uri"):
        url = metadata.get(name)
        if url is not None:
            problem = web_url_problem(url) if isinstance(url, str) else "the URL must be a string"
            if problem is not None:
                raise InvalidClientMetadataError(f"{name}: {problem}")
            kept[name] = url
    for name in ("software_id", "software_version"):
        text = metadata.get(name)
        if text is not None:
            if not isinstance(text, str) or not 0 < len(text) <= MAX_TEXT or not text.isprintable():
                raise InvalidClientMetadataError(f"{name} must be 1-{MAX_TEXT} characters")
            kept[name] = text
    application_type = metadata.get("application_type")
    if application_type is not None:
        if application_type not in APPLICATION_TYPES:
            raise InvalidClientMetadataError("application_type must be web or native")
        kept["application_type"] = application_type
    return kept


def validate_id_token_alg(
    metadata: dict[str, Any], signing_algs: Collection[str], *, profile: str | None = None
) -> str | None:
    """OIDC Registration §2 id_token_signed_response_alg: one we hold a key for, or None (the
    server default). Never `none` (an unsigned ID token proves nothing, OIDC Core §2) nor HS*,
    whose key would be the client secret (RFC 8725 §3.1); neither is ever held. A fapi2 client
    gets a FAPI 2.0 algorithm (never RS256), PS256 first when it chose none."""
    alg = metadata.get("id_token_signed_response_alg")
    if alg is not None and alg not in signing_algs:
        raise InvalidClientMetadataError(
            f"id_token_signed_response_alg must be one of {', '.join(signing_algs)}"
        )
    chosen, problem = fapi2.id_token_alg_problem(profile, alg, signing_algs)
    if problem is not None:
        raise InvalidClientMetadataError(problem)
    return chosen


def _validate_provider_values(metadata: dict[str, Any], signing_algs: Collection[str]) -> None:
    validate_id_token_alg(metadata, signing_algs)
    subject_type = metadata.get("subject_type")
    if subject_type is not None and subject_type != "public":
        raise InvalidClientMetadataError("subject_type must be public")
    # auth_time is in every ID token we issue, so either answer is honoured.
    require_auth_time = metadata.get("require_auth_time")
    if require_auth_time is not None and not isinstance(require_auth_time, bool):
        raise InvalidClientMetadataError("require_auth_time must be true or false")
