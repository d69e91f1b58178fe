"""Signed request objects (RFC 9101, JAR): the authorization request as a JWT the client signed
with one of its registered keys, sent as `request` at /oauth/authorize or at the PAR endpoint.

The object's claims are the request (RFC 9101 §6.3): nothing sent beside it is used, except
`client_id`, which must agree. Every refusal is invalid_request_object (RFC 9101 §6.2): the
caller decides where it is shown (our own page at /oauth/authorize, JSON at PAR).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeGuard

from auth_service.oauth import fapi2
from auth_service.oauth.client_auth.base import ClientKeySource, ClientKeysUnavailable
from auth_service.oauth.client_auth.private_key_jwt import verify_client_signed_jwt
from auth_service.oauth.resources import RESOURCE_PARAM
from shared.errors import InvalidRequestError, InvalidRequestObjectError, InvalidTokenError
from shared.models import Client
from shared.tokens import SIGNATURE_ALGORITHMS

# RFC 9101 §6.1 / FAPI 2.0 Message Signing §5.3.1: asymmetric signatures only; `none` and HMAC
# (which would need a shared secret we keep only encrypted) are refused with every unknown alg.
ALGORITHMS = SIGNATURE_ALGORITHMS  # RS256, PS256, ES256, EdDSA
# RFC 9101 §4 / §10.8: the explicit type; RFC 7515 §4.1.9 lets "application/" be left out.
REQUEST_OBJECT_TYP = "oauth-authz-req+jwt"
# FAPI 2.0 Message Signing §5.3.1: exp no more than 60 minutes after nbf, nbf no more than
# 60 minutes in the past. We hold exp to 60 minutes from now, which bounds the jti store too.
MAX_LIFETIME = 3600
MAX_JTI_LENGTH = 255
# JWT claims that describe the object itself; they are no authorization request parameters.
JWT_CLAIMS = frozenset({"iss", "aud", "exp", "nbf", "iat", "jti"})


@dataclass(frozen=True, slots=True)
class RequestObjectContext:
    """What a request object is checked against: our issuer identifier (its audience), the
    time and leeway, the client's keys, and the single-use check of its `jti`."""

    issuer: str
    now: datetime
    leeway: int
    keys: ClientKeySource
    # (client_id, jti, expires_at) -> whether this is the jti's first use.
    first_use: Callable[[str, str, datetime], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class SignedParams:
    """An authorization request's parameters as strings, and its `resource` values apart: the
    one parameter that may be repeated (RFC 8707 §2), in an object as a string or an array."""

    params: dict[str, str]
    resources: tuple[str, ...] = ()


async def request_object_params(
    token: str, client: Client, client_id: str, context: RequestObjectContext
) -> SignedParams:
    """RFC 9101 §6.1-6.3: verify the object and return the authorization request it carries,
    its parameters as strings with `client_id` set; raises invalid_request_object."""
    if client.jwks is None and client.jwks_uri is None:
        raise InvalidRequestObjectError(
            "the client registered no keys (jwks or jwks_uri) to sign request objects with"
        )
    try:
        header, claims = await verify_client_signed_jwt(
            token, client, context.keys, fapi2.request_object_algorithms(client, ALGORITHMS)
        )
    except ClientKeysUnavailable:
        raise InvalidRequestObjectError("the client's keys could not be fetched") from None
    except InvalidTokenError as error:
        raise InvalidRequestObjectError(f"request object refused: {error.description}") from None
    typ = header.get("typ")
    if typ is not None and not _is_request_object_typ(typ):
        raise InvalidRequestObjectError(f"request object typ must be {REQUEST_OBJECT_TYP}")
    # FAPI 2.0 Message Signing §5.3.1 makes nbf required; RFC 9101 alone leaves it optional.
    if fapi2.is_fapi2(client.profile) and "nbf" not in claims:
        raise InvalidRequestObjectError("request object has no nbf (required for this client)")
    await _check_claims(claims, client_id, context)
    resources = _resources(claims.pop(RESOURCE_PARAM, None))
    return SignedParams(_as_params(claims, client_id), resources)


def _resources(value: object) -> tuple[str, ...]:
    """RFC 8707 §2 in a request object: one URI as a string, several as an array of them."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(item for item in value if item)
    raise InvalidRequestObjectError("request object resource must be a string or array of strings")


def _is_request_object_typ(typ: object) -> bool:
    if not isinstance(typ, str):
        return False
    typ = typ.lower()  # RFC 7515 §4.1.9: media type names are case-insensitive
    return typ.removeprefix("application/") == REQUEST_OBJECT_TYP


async def _check_claims(
    claims: dict[str, Any], client_id: str, context: RequestObjectContext
) -> None:
    # RFC 9101 §6.3 (and FAPI 2.0 Message Signing §5.3.1): iss is the client, aud is us.
    if claims.get("iss") != client_id:
        raise InvalidRequestObjectError("request object iss must be the client_id")
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if context.issuer not in [a for a in audiences if isinstance(a, str)]:
        raise InvalidRequestObjectError("request object aud must be the issuer identifier")
    # RFC 9101 §5: the client_id inside, when there, is the one the request was sent with.
    if "client_id" in claims and claims["client_id"] != client_id:
        raise InvalidRequestObjectError("request object client_id differs from the client_id")
    now = context.now.timestamp()
    exp = claims.get("exp")
    if not _is_number(exp):
        raise InvalidRequestObjectError("request object has no exp")
    if exp <= now - context.leeway:
        raise InvalidRequestObjectError("request object has expired")
    if exp > now + MAX_LIFETIME + context.leeway:
        raise InvalidRequestObjectError("request object exp is more than 60 minutes ahead")
    nbf = claims.get("nbf")
    if nbf is not None:
        if not _is_number(nbf) or nbf > now + context.leeway:
            raise InvalidRequestObjectError("request object is not valid yet")
        if nbf < now - MAX_LIFETIME - context.leeway:
            raise InvalidRequestObjectError("request object nbf is more than 60 minutes ago")
    # RFC 9101 §6.3: no request object inside the request object.
    if "request" in claims or "request_uri" in claims:
        raise InvalidRequestObjectError("a request object must not contain request or request_uri")
    jti = claims.get("jti")
    if jti is None:
        return
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH:
        raise InvalidRequestObjectError("request object jti is malformed")
    # A jti is kept until exp (plus leeway): an object replayed later is refused as expired.
    expires_at = datetime.fromtimestamp(float(exp), UTC) + timedelta(seconds=context.leeway)
    if not await context.first_use(client_id, jti, expires_at):
        raise InvalidRequestObjectError("request object jti was already used")


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_params(claims: dict[str, Any], client_id: str) -> dict[str, str]:
    """RFC 9101 §4: the claims are the request's parameters; as strings, the form they have in
    a query, so the rest of the flow (and a pushed request's storage) sees no difference."""
    params: dict[str, str] = {}
    for name, value in claims.items():
        if name in JWT_CLAIMS or value is None:
            continue
        if isinstance(value, str):
            params[name] = value
        elif isinstance(value, int) and not isinstance(value, bool):
            params[name] = str(value)  # max_age may be a JSON number
        elif isinstance(value, dict | list):
            # OIDC Core §5.5: `claims` is a JSON object; it stays JSON for validation to judge.
            params[name] = json.dumps(value, separators=(",", ":"))
        else:
            raise InvalidRequestObjectError("a request object parameter is not a string or number")
    params["client_id"] = client_id
    return {name: value for name, value in params.items() if value != ""}


def refuse_with_request_uri(params: dict[str, str], repeated: frozenset[str]) -> None:
    """RFC 9101 §5: `request` and `request_uri` are alternatives, never sent together."""
    if "request" in repeated:
        raise InvalidRequestError("request was sent more than once")
    if "request_uri" in params or "request_uri" in repeated:
        raise InvalidRequestError("request and request_uri must not both be sent (RFC 9101)")


async def pushed_params(
    form: dict[str, str],
    resources: tuple[str, ...],
    client: Client,
    context: RequestObjectContext,
) -> SignedParams:
    """RFC 9126 §3: at the PAR endpoint, a `request` object's claims are the pushed request
    (the client is authenticated already, so its client_id is the one to match)."""
    if "request" not in form:
        return SignedParams(form, resources)
    refuse_with_request_uri(form, frozenset())
    return await request_object_params(form["request"], client, client.client_id, context)
