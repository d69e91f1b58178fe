"""The per-client FAPI 2.0 profile (FAPI 2.0 Security Profile, final): what registering a
client with `profile: "fapi2"` means, and the request-time rules no client column holds.

Registration forces or checks what is a column (PAR required, DPoP required, private_key_jwt
with keys, no password grant, a FAPI signing algorithm); the hooks below are called where each
remaining rule belongs: authorization request validation (PKCE, `redirect_uri` in the push),
code issuance (lifetime), client assertions (algorithms) and the refresh grant (no rotation).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from shared.errors import InvalidRequestError
from shared.models import Client

FAPI2 = "fapi2"
PROFILES = (FAPI2,)
# §5.4.1: the only signing algorithms for every JWS, ours (tokens) and the client's (assertions).
SIGNING_ALGS = ("PS256", "ES256", "EdDSA")
# §5.3.2.2: authorization codes live at most 60 seconds.
MAX_CODE_LIFETIME = 60
# §5.3.2.1: no resource owner password credentials; the code flow (and refresh, and a client
# acting for itself) only.
GRANT_TYPES = frozenset({"authorization_code", "refresh_token", "client_credentials"})


def is_fapi2(profile: str | None) -> bool:
    return profile == FAPI2


def registration_problem(
    profile: str | None,
    *,
    is_public: bool,
    auth_method: str,
    grant_types: Sequence[str],
    auth_signing_alg: str | None,
) -> tuple[str, str] | None:
    """(message, field) when a registration breaks its profile, else None (RFC 7591 §3.2.2
    invalid_client_metadata). PAR and DPoP are not checked here: the profile forces them on."""
    if profile is None:
        return None
    if profile not in PROFILES:
        return f"profile must be {' or '.join(PROFILES)}", "profile"
    # §5.3.2.1: confidential clients only, authenticated with private_key_jwt (mTLS is not
    # offered here).
    if is_public or auth_method != "private_key_jwt":
        return "a fapi2 client must use token_endpoint_auth_method private_key_jwt", (
            "token_endpoint_auth_method"
        )
    refused = sorted(set(grant_types) - GRANT_TYPES)
    if refused:
        return f"a fapi2 client cannot use the {refused[0]} grant", "grant_types"
    if auth_signing_alg is not None and auth_signing_alg not in SIGNING_ALGS:
        return (
            f"token_endpoint_auth_signing_alg of a fapi2 client must be {_algs(SIGNING_ALGS)}",
            "token_endpoint_auth_signing_alg",
        )
    return None


def id_token_alg_problem(
    profile: str | None, alg: str | None, held: Collection[str]
) -> tuple[str | None, str | None]:
    """(the algorithm to register, a problem): §5.4.1 never RS256 for a fapi2 client. Without a
    choice, the first FAPI algorithm the server holds a key for is registered."""
    if not is_fapi2(profile):
        return alg, None
    usable = [a for a in SIGNING_ALGS if a in held]
    if alg is None:
        if not usable:
            return None, "a fapi2 client needs PS256, ES256 or EdDSA in AUTH_SIGNING_ALGS"
        return usable[0], None
    if alg not in SIGNING_ALGS:
        return None, f"id_token_signed_response_alg of a fapi2 client must be {_algs(SIGNING_ALGS)}"
    return alg, None


def assertion_algorithms(client: Client, method_algorithms: tuple[str, ...]) -> tuple[str, ...]:
    """The algorithms `client`'s assertions may use: its registered
    `token_endpoint_auth_signing_alg` (RFC 7591 §2) alone when set, and for a fapi2 client
    never RS256 (§5.4.1)."""
    algorithms = method_algorithms
    if is_fapi2(client.profile):
        algorithms = tuple(a for a in algorithms if a in SIGNING_ALGS)
    if client.token_endpoint_auth_signing_alg is not None:
        algorithms = tuple(a for a in algorithms if a == client.token_endpoint_auth_signing_alg)
    return algorithms


def request_object_algorithms(client: Client, algorithms: tuple[str, ...]) -> tuple[str, ...]:
    """§5.4.1 for a fapi2 client's signed request objects (RFC 9101): never RS256."""
    if is_fapi2(client.profile):
        return tuple(a for a in algorithms if a in SIGNING_ALGS)
    return algorithms


def validate_authorization_request(client: Client, *, redirect_uri_given: bool) -> None:
    """§5.3.2.2 for a fapi2 client's (pushed) authorization request: `redirect_uri` sent, PKCE
    S256 required whatever `require_pkce` says (the S256-only rule holds for everyone)."""
    if not is_fapi2(client.profile):
        return
    if not redirect_uri_given:
        raise InvalidRequestError(
            "redirect_uri is required in the pushed authorization request "
            "(FAPI 2.0 Security Profile section 5.3.2.2)"
        )


def requires_pkce(client: Client) -> bool:
    """§5.3.2.2: PKCE with S256 for every fapi2 request."""
    return is_fapi2(client.profile)


def code_lifetime(profile: str | None, configured: int) -> int:
    """§5.3.2.2: at most 60 seconds for a fapi2 client's codes."""
    return min(configured, MAX_CODE_LIFETIME) if is_fapi2(profile) else configured


def rotates_refresh_tokens(client: Client) -> bool:
    """§5.3.2.1: a fapi2 client's refresh tokens are not rotated (they are DPoP-bound instead)."""
    return not is_fapi2(client.profile)


def binds_refresh_tokens(client: Client) -> bool:
    """RFC 9449 §5: public clients' refresh tokens are bound to their DPoP key; so are a fapi2
    client's, which are not rotated, so that a copy is useless without the key."""
    return client.is_public or is_fapi2(client.profile)


def _algs(algs: Sequence[str]) -> str:
    return ", ".join(algs[:-1]) + f" or {algs[-1]}" if len(algs) > 1 else "".join(algs)
