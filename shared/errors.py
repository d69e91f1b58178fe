"""Protocol errors, one class per error code, and their JSON rendering (RFC 6749 §5.2, RFC 6750 §3).

Each error is raised where its rule is checked and rendered once: back-channel endpoints and the
resource API answer with `oauth_error_response`; the authorization endpoint's front channel has
its own renderer in the auth service.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

NO_STORE_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# RFC 6749 §4.1.2.1 and §5.2 (error_description), RFC 6750 §3 (WWW-Authenticate attributes):
# %x20-21 / %x23-5B / %x5D-7E, so no double quote, no backslash and nothing beyond ASCII.
PROTOCOL_TEXT_CHARACTERS = frozenset(map(chr, (0x20, 0x21, *range(0x23, 0x5C), *range(0x5D, 0x7F))))


def protocol_text(value: str) -> str:
    """`value` reduced to the characters RFC 6749 §5.2 allows in `error_description`: a double
    quote becomes a single one, anything else outside the set (request values may hold `\\`,
    non-ASCII or control characters) a question mark."""
    if PROTOCOL_TEXT_CHARACTERS.issuperset(value):
        return value
    return "".join(
        ch if ch in PROTOCOL_TEXT_CHARACTERS else "'" if ch == '"' else "?" for ch in value
    )


def format_challenge(scheme: str, params: Iterable[tuple[str, str | None]]) -> str:
    """An RFC 7235 §2.1 challenge: `scheme` and its auth-params as quoted strings, in order, those
    whose value is None left out. RFC 6750 §3: every value is reduced to the error_description
    set, so none can hold a quote or backslash that would need escaping or end it early."""
    rendered = [f'{name}="{protocol_text(value)}"' for name, value in params if value is not None]
    return f"{scheme} {', '.join(rendered)}" if rendered else scheme


class OAuthError(Exception):
    """An error with a registered OAuth/OIDC `error` code, an HTTP status and a safe description."""

    error: ClassVar[str] = "server_error"
    status_code: ClassVar[int] = 400
    default_description: ClassVar[str] = "the request failed"

    def __init__(self, description: str | None = None, *, challenge: str | None = None) -> None:
        # Every text we send passes here, so a request value interpolated into it cannot put a
        # character on the wire that RFC 6749 §5.2 forbids.
        self.description = protocol_text(description or self.default_description)
        # A ready WWW-Authenticate value; set by whoever knows which scheme the caller used.
        self.challenge = challenge
        super().__init__(self.description)

    def to_dict(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}

    def headers(self) -> dict[str, str]:
        headers = dict(NO_STORE_HEADERS)
        if self.challenge is not None:
            headers["WWW-Authenticate"] = self.challenge
        return headers


# RFC 6749 §4.1.2.1 and §5.2
class InvalidRequestError(OAuthError):
    error = "invalid_request"
    default_description = "the request is missing a parameter or is malformed"


class InvalidClientError(OAuthError):
    error = "invalid_client"
    status_code = 401
    default_description = "client authentication failed"


class InvalidGrantError(OAuthError):
    error = "invalid_grant"
    default_description = "the grant is invalid, expired, revoked or was issued to another client"


class UnauthorizedClientError(OAuthError):
    error = "unauthorized_client"
    default_description = "the client is not allowed to use this grant or response type"


class ForbiddenClientError(UnauthorizedClientError):
    """An authenticated client asking for something it was not allowed (e.g. introspection)."""

    status_code = 403


class UnsupportedGrantTypeError(OAuthError):
    error = "unsupported_grant_type"
    default_description = "the grant type is not supported"


class UnsupportedResponseTypeError(OAuthError):
    error = "unsupported_response_type"
    default_description = "the response type is not supported"


class InvalidScopeError(OAuthError):
    error = "invalid_scope"
    default_description = "the requested scope is invalid, unknown or not allowed"


# RFC 8707 §2; also RFC 8693 §2.2.2 for an audience or resource a token exchange may not target.
class InvalidTargetError(OAuthError):
    error = "invalid_target"
    default_description = "the requested resource is invalid, unknown or not allowed"


class AccessDeniedError(OAuthError):
    error = "access_denied"
    status_code = 403
    default_description = "the resource owner denied the request"


# RFC 8628 §3.5: the token endpoint's answers to a device that polls with its device code.
class AuthorizationPendingError(OAuthError):
    error = "authorization_pending"
    default_description = "the user has not yet answered the authorization request"


class SlowDownError(OAuthError):
    error = "slow_down"
    default_description = "polling too fast: add 5 seconds to the interval"


class ExpiredTokenError(OAuthError):
    error = "expired_token"
    default_description = "the device_code has expired: start a new device authorization"


class DeviceAccessDeniedError(AccessDeniedError):
    """RFC 8628 §3.5 access_denied at the token endpoint: a 400 like every error there (RFC
    6749 §5.2), not the 403 of a refused resource request."""

    status_code = 400


class ServerError(OAuthError):
    error = "server_error"
    status_code = 500
    default_description = "the server encountered an unexpected condition"


class TemporarilyUnavailableError(OAuthError):
    error = "temporarily_unavailable"
    status_code = 503
    default_description = "the service is temporarily unavailable, try again shortly"

    def __init__(self, description: str | None = None, *, retry_after: int = 2) -> None:
        super().__init__(description)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {**super().headers(), "Retry-After": str(self.retry_after)}


class TooManyRequestsError(TemporarilyUnavailableError):
    """RFC 6585 §4 status 429. OAuth has no code for rate limits; temporarily_unavailable (RFC 6749
    §4.1.2.1) says "try again later", and Retry-After says when."""

    status_code = 429
    default_description = "too many requests, try again later"


# RFC 7009 §2.2.1
class UnsupportedTokenTypeError(OAuthError):
    error = "unsupported_token_type"
    default_description = "revocation of this token type is not supported"


# RFC 7591 §3.2.2
class InvalidRedirectUriError(OAuthError):
    error = "invalid_redirect_uri"
    default_description = "a redirect URI is invalid"


class InvalidClientMetadataError(OAuthError):
    error = "invalid_client_metadata"
    default_description = "the client metadata is invalid"


# OIDC Core §3.1.2.6
class InteractionRequiredError(OAuthError):
    error = "interaction_required"
    default_description = "the user must interact with the authorization server"


class LoginRequiredError(OAuthError):
    error = "login_required"
    default_description = "the user must log in"


class ConsentRequiredError(OAuthError):
    error = "consent_required"
    default_description = "the user must consent"


class RequestNotSupportedError(OAuthError):
    error = "request_not_supported"
    default_description = "request objects are not supported"


class InvalidRequestObjectError(OAuthError):
    # RFC 9101 §6.2 / OIDC Core §3.1.2.6: the request object is invalid or could not be verified.
    error = "invalid_request_object"
    default_description = "the request object is invalid"


class RequestUriNotSupportedError(OAuthError):
    error = "request_uri_not_supported"
    default_description = "request_uri is not supported"


class InvalidRequestUriError(OAuthError):
    """OIDC Core §3.1.2.6 / RFC 9101 §6.2: the request_uri refers to nothing usable (RFC 9126 §4:
    unknown, expired, used, or pushed by another client)."""

    error = "invalid_request_uri"
    default_description = "the request_uri is invalid, expired or was already used"


# RFC 9449 §5, §7.1, §8 and §12.2: DPoP proof errors (the token endpoint's 400 shape; a
# protected resource answers them as DpopChallengeError instead).
class InvalidDpopProofError(OAuthError):
    error = "invalid_dpop_proof"
    default_description = "the DPoP proof is invalid"


class UseDpopNonceError(OAuthError):
    error = "use_dpop_nonce"
    default_description = "use the DPoP-Nonce the server sent"

    def __init__(self, description: str | None = None, *, nonce: str) -> None:
        super().__init__(description)
        self.nonce = nonce

    def headers(self) -> dict[str, str]:
        return {**super().headers(), "DPoP-Nonce": self.nonce}


class DpopChallengeError(OAuthError):
    """RFC 9449 §7.1: a protected resource refusing a request, 401 (403 for scope) with a DPoP
    challenge naming the error and the algorithms it accepts; other challenges may follow.
    `resource_metadata` is the RFC 9728 §5.1 URL of the resource's metadata."""

    status_code = 401

    def __init__(
        self,
        code: str,
        description: str,
        *,
        realm: str,
        algs: str,
        status: int = 401,
        scope: str | None = None,
        nonce: str | None = None,
        also: str | None = None,
        resource_metadata: str | None = None,
    ) -> None:
        super().__init__(description)
        self.code, self.status_code, self.nonce = code, status, nonce  # type: ignore[misc]
        self.scope = scope
        self.challenge = format_challenge(
            "DPoP",
            [
                ("realm", realm),
                ("error", code),
                ("error_description", self.description),
                ("scope", scope),
                ("algs", algs),
                ("resource_metadata", resource_metadata),
            ],
        )
        if also is not None:
            self.challenge += ", " + also

    def to_dict(self) -> dict[str, str]:
        return {"error": self.code, "error_description": self.description}

    def headers(self) -> dict[str, str]:
        headers = super().headers()
        if self.nonce is not None:
            headers["DPoP-Nonce"] = self.nonce
        return headers


class BearerTokenError(OAuthError):
    """An RFC 6750 §3 error: the challenge names the realm, the code and, if any, the scope and
    (RFC 9728 §5.1) the URL of the protected resource's metadata."""

    status_code = 401

    def __init__(
        self,
        description: str | None = None,
        *,
        realm: str = "api",
        scope: str | None = None,
        resource_metadata: str | None = None,
    ) -> None:
        super().__init__(description)
        # Kept apart as well, so a caller re-rendering this error in another scheme (DPoP) takes
        # the values, never parses them back out of the header.
        self.realm, self.scope, self.resource_metadata = realm, scope, resource_metadata
        self.challenge = format_challenge(
            "Bearer",
            [
                ("realm", realm),
                ("error", self.error),
                ("error_description", self.description),
                ("scope", scope),
                ("resource_metadata", resource_metadata),
            ],
        )


class InvalidTokenError(BearerTokenError):
    error = "invalid_token"
    default_description = "the access token is invalid"


class InsufficientScopeError(BearerTokenError):
    error = "insufficient_scope"
    status_code = 403
    default_description = "the access token lacks the required scope"


class BearerRequestError(BearerTokenError):
    error = "invalid_request"
    status_code = 400
    default_description = "the request is malformed"


class MissingTokenError(OAuthError):
    """No credentials at all: RFC 6750 §3.1 says the challenge then carries no error code. It may
    still say which scope to ask for (RFC 6750 §3) and where the resource's metadata is (RFC 9728
    §5.1), which is how a client that knows only the URL finds its authorization server."""

    status_code = 401
    default_description = "a bearer access token is required"

    def __init__(
        self,
        *,
        realm: str = "api",
        scope: str | None = None,
        resource_metadata: str | None = None,
    ) -> None:
        challenge = format_challenge(
            "Bearer", [("realm", realm), ("scope", scope), ("resource_metadata", resource_metadata)]
        )
        super().__init__(challenge=challenge)

    def to_dict(self) -> dict[str, str]:
        return {"error_description": self.description}


def oauth_error_response(exc: OAuthError) -> JSONResponse:
    """Render an error the way every back-channel endpoint does (RFC 6749 §5.2)."""
    return JSONResponse(exc.to_dict(), status_code=exc.status_code, headers=exc.headers())


async def oauth_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OAuthError)  # noqa: S101 - registered for OAuthError only
    return oauth_error_response(exc)
