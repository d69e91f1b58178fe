"""The one module that touches joserfc: keys, signing, and verifying JWTs with a strict policy (RFC 8725).

Every verification names its algorithms, issuer and audience; headers that carry keys or key URLs,
`crit` extensions and unknown `kid`s are refused before any signature work is done. Algorithms:
RS256, PS256, ES256 (RFC 7518 §3.3-3.5) and EdDSA over Ed25519 (RFC 8037 §3.1). joserfc holds the
keys and does the signature arithmetic; the compact form and the header policy are ours (one parse
per token, one header encoding per signing key).
"""

from __future__ import annotations

import binascii
import json
import math
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple, Protocol

from joserfc.errors import JoseError
from joserfc.jwa import JWSAlgModel
from joserfc.jwk import ECKey, JWKRegistry, OctKey, OKPKey, RSAKey
from joserfc.jws import JWSRegistry
from joserfc.util import urlsafe_b64encode
from pydantic import ValidationError

from shared.claims import (
    ACCESS_TOKEN_TYP,
    AccessTokenClaims,
    IdTokenClaims,
    validate_issuer_and_audience,
    validate_time_claims,
)
from shared.errors import InvalidTokenError

# Everything this module can sign and verify with. Asymmetric only (RFC 8725 §2.1, §3.1): an HMAC
# algorithm would let anyone holding the public key forge tokens, and `none` needs no key at all.
SIGNATURE_ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")
# What verifiers of our tokens accept unless they name their own list: every algorithm the auth
# service can hold a key for. The key's own `alg` must still equal the header's (RFC 7517 §4.4).
SUPPORTED_ALGORITHMS = SIGNATURE_ALGORITHMS
MAX_TOKEN_LENGTH = 8192
# The most clock leeway either service may be configured with (their `leeway` settings).
MAX_LEEWAY = 300
# RFC 8725 §3.10 / RFC 7515 §4.1: headers that would let the token choose its own key.
FORBIDDEN_HEADERS = frozenset({"jwk", "jku", "x5u", "x5c"})
_FROM_BASE64URL = bytes.maketrans(b"-_", b"+/")

JoseKey = RSAKey | ECKey | OKPKey

# Read from the table rather than through `JWSRegistry.get_alg`, which warns that RFC 9864
# deprecates the name EdDSA; it is still the name DPoP and private_key_jwt clients send.
_ALG_MODELS: dict[str, JWSAlgModel] = {a: JWSRegistry.algorithms[a] for a in SIGNATURE_ALGORITHMS}


class VerificationKeys(Protocol):
    """Where a verifier finds the public key for a `kid` (a JWKS cache, or the issuer's own key set)."""

    async def get_verification_key(self, kid: str) -> tuple[str, JoseKey] | None: ...


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259 section 6)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # "1e999" reads as infinity
        raise ValueError("number out of range")
    return value


# One decoder for every call: json.loads with options builds a new one each time, which was
# more than half the time of parsing a DPoP proof's claims (3.4 µs against 1.4 µs).
_STRICT_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


def strict_json(data: str | bytes) -> Any:
    """json.loads for what others send: RFC 8259 only (Python also reads NaN and Infinity, which
    would slip past every time comparison) and bounded nesting; anything else is ValueError."""
    try:
        if isinstance(data, bytes):  # fetched documents: json.loads finds their encoding
            return json.loads(data, parse_constant=_refuse_constant, parse_float=_finite_float)
        return _STRICT_DECODER.decode(data)
    except RecursionError:  # deeply nested arrays: Python's decoder recurses once per level
        raise ValueError("JSON nested too deeply") from None


# RFC 7518 section 3.3 / FAPI 2.0 section 5.4: RSA keys of at least 2048 bits.
MIN_RSA_BITS = 2048


def _import_key(data: bytes | dict[str, Any], alg: str, *, private: bool) -> JoseKey:
    """A joserfc key bound to `alg`, or ValueError: its kty, curve and `alg` member must all fit."""
    model = _ALG_MODELS.get(alg) if isinstance(alg, str) else None
    if model is None:
        raise ValueError(f"unsupported signing algorithm {alg}")
    if isinstance(data, dict) and (data.get("kty"), data.get("alg", alg)) != (model.key_type, alg):
        raise ValueError(f"the JWK is not a key for {alg}")
    try:
        key = JWKRegistry.import_key(data, model.key_type, parameters={"alg": alg})
        model.check_key(key)  # P-256 for ES256; the bound alg makes joserfc refuse it for any other
    except (JoseError, KeyError, TypeError):
        raise ValueError(f"not a key for {alg}") from None
    # RFC 8037 §3.1 also allows Ed448 under EdDSA; we neither issue nor expect it.
    if alg == "EdDSA" and getattr(key, "curve_name", None) != "Ed25519":
        raise ValueError("EdDSA keys must be Ed25519")
    if isinstance(key, OctKey) or key.is_private != private:
        raise ValueError("a signing key needs its private half, a verification key only its public")
    if isinstance(key, RSAKey) and key.raw_value.key_size < MIN_RSA_BITS:
        raise ValueError(f"RSA keys must have at least {MIN_RSA_BITS} bits")
    return key


@lru_cache(maxsize=32)
def load_private_key(pem: bytes, alg: str) -> JoseKey:
    """Parse a PEM key once per process: RSA parsing validates the key and costs ~50 ms, and a
    key-schedule reload should not pay it again for keys it already holds."""
    return _import_key(pem, alg, private=True)


def load_public_jwk(data: Mapping[str, Any], alg: str) -> JoseKey:
    """A verification key from a JWK (RFC 7517)."""
    return public_jwk_and_thumbprint(data, alg)[0]


def public_jwk_and_thumbprint(data: Mapping[str, Any], alg: str) -> tuple[JoseKey, str]:
    """The verification key of a JWK and its RFC 7638 thumbprint. A client signs every DPoP
    proof and client assertion with the same key, so the import (and the thumbprint, RFC 9449
    §6.1 cnf.jkt) is remembered by the JWK's canonical JSON, a bounded number of keys."""
    if not isinstance(alg, str):  # a JWK's own "alg" member may be any JSON value
        raise ValueError("the JWK's alg is not a string")
    if not isinstance(data, Mapping):
        raise ValueError("the JWK is not a JSON object")
    try:
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        raise ValueError("the JWK is not a JSON object") from None
    if len(canonical) > MAX_CACHED_JWK_CHARS:
        # Padded keys are imported every time: the cache holds 1024 keys of bounded size.
        key = _import_key(dict(data), alg, private=False)
        return key, key.thumbprint()
    return _imported_public_jwk(canonical, alg)


MAX_CACHED_JWK_CHARS = 4096  # an RSA-4096 public JWK is about 750 characters


@lru_cache(maxsize=1024)
def _imported_public_jwk(canonical: str, alg: str) -> tuple[JoseKey, str]:
    # Failures raise and are not cached: a bad key costs the same every time, as before.
    key = _import_key(json.loads(canonical), alg, private=False)
    return key, key.thumbprint()


def public_jwk(private_key: JoseKey, *, kid: str, alg: str) -> dict[str, Any]:
    return dict(private_key.as_dict(private=False), kid=kid, alg=alg, use="sig")


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 §3 SHA-256 thumbprint over the members its kty requires (RFC 8037 §2 for OKP)."""
    return JWKRegistry.import_key(dict(jwk)).thumbprint()


@lru_cache(maxsize=64)
def _header_segment(alg: str, kid: str, typ: str) -> bytes:
    # Sorted and without spaces: the bytes python-jose wrote, so tokens look as they always did.
    header = json.dumps({"alg": alg, "kid": kid, "typ": typ}, separators=(",", ":"), sort_keys=True)
    return urlsafe_b64encode(header.encode("ascii"))


def sign(claims: Mapping[str, Any], key: JoseKey, *, kid: str, alg: str, typ: str) -> str:
    """A compact JWS (RFC 7515 §7.1) of the claims with header {alg, kid, typ}."""
    model = _ALG_MODELS[alg]
    model.check_key(key)  # joserfc refuses a key loaded for another algorithm
    payload = json.dumps(dict(claims), separators=(",", ":")).encode("utf-8")
    signing_input = _header_segment(alg, kid, typ) + b"." + urlsafe_b64encode(payload)
    signature = urlsafe_b64encode(model.sign(signing_input, key))
    return (signing_input + b"." + signature).decode("ascii")


class _Compact(NamedTuple):
    header: dict[str, Any]
    signing_input: bytes
    payload: bytes
    signature: bytes


def _b64decode(segment: bytes) -> bytes:
    """RFC 7515 §2 base64url, unpadded. binascii's strict mode is much cheaper than joserfc's
    regex-checked decoder, and a verification decodes three segments."""
    if b"+" in segment or b"/" in segment or b"=" in segment:
        raise binascii.Error("not base64url")
    padded = segment.translate(_FROM_BASE64URL) + b"=" * (-len(segment) % 4)
    return binascii.a2b_base64(padded, strict_mode=True)


def _split(token: str, error: str = "malformed token") -> _Compact:
    """The three segments of RFC 7515 §7.1."""
    if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        raise InvalidTokenError(error)
    try:
        signing_input, _, signature = token.encode("ascii").rpartition(b".")
        header_segment, _, payload = signing_input.partition(b".")
        header = strict_json(_b64decode(header_segment).decode("utf-8"))
        payload, signature = _b64decode(payload), _b64decode(signature)
    except ValueError:  # binascii.Error, UnicodeError and JSONDecodeError all are
        raise InvalidTokenError(error) from None
    if not isinstance(header, dict):
        raise InvalidTokenError(error)
    return _Compact(header, signing_input, payload, signature)


@lru_cache(maxsize=64)
def _split_client_jwt(token: str) -> _Compact:
    """_split, remembered for the last few tokens: a client assertion is read to choose its
    method, then its client, then verified, and one parse serves all three. The header is
    shared by those reads: read it, never change it. A malformed token raises, uncached."""
    return _split(token)


def client_jwt_alg(token: str) -> str | None:
    """The `alg` a client assertion's header names, or None when it cannot be read."""
    try:
        alg = _split_client_jwt(token).header.get("alg")
    except InvalidTokenError:
        return None
    return alg if isinstance(alg, str) else None


def _police_header(header: dict[str, Any], allowed_algorithms: tuple[str, ...]) -> dict[str, Any]:
    alg = header.get("alg")
    # RFC 8725 §3.1: the caller's list for this use, and never an algorithm we have no key type for.
    if alg not in allowed_algorithms or alg not in _ALG_MODELS:
        raise InvalidTokenError("token algorithm is not allowed")
    if FORBIDDEN_HEADERS & header.keys():
        raise InvalidTokenError("token header must not carry keys")
    if "crit" in header:  # RFC 7515 §4.1.11: we understand no extension, so any crit is fatal
        raise InvalidTokenError("token header has critical extensions we do not understand")
    if not isinstance(header.get("kid"), str) or not header["kid"]:
        raise InvalidTokenError("token header has no kid")
    return header


def read_header(token: str, *, allowed_algorithms: tuple[str, ...]) -> dict[str, Any]:
    """Parse and police the JOSE header without trusting the token yet."""
    return _police_header(_split(token).header, allowed_algorithms)


def unverified_audiences(token: str) -> tuple[str, ...]:
    """The `aud` values of a token not yet verified: only to choose which audience to verify
    it against (the signature check that follows is what makes the choice trustworthy)."""
    try:
        claims = strict_json(_split(token).payload.decode("utf-8"))
    except ValueError:
        raise InvalidTokenError("malformed token") from None
    aud = claims.get("aud") if isinstance(claims, dict) else None
    values = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    return tuple(value for value in values if isinstance(value, str))


def _verified_claims(parts: _Compact, key: JoseKey, alg: str) -> dict[str, Any]:
    model = _ALG_MODELS.get(alg)
    if model is None or parts.header.get("alg") != alg:
        raise InvalidTokenError("token signature is invalid")
    try:
        model.check_key(key)  # RFC 8725 §3.1: the key's type and bound alg, not just the header's
        valid = model.verify(parts.signing_input, parts.signature, key)
    except (JoseError, ValueError):
        valid = False
    if not valid:
        raise InvalidTokenError("token signature is invalid")
    try:
        claims = strict_json(parts.payload.decode("utf-8"))  # RFC 7519 §7.2: UTF-8 JSON
    except ValueError:
        raise InvalidTokenError("token signature is invalid") from None
    if not isinstance(claims, dict):
        raise InvalidTokenError("token payload is not a JSON object")
    return claims


def verify_signature(token: str, key: JoseKey, alg: str) -> dict[str, Any]:
    """Check the signature with one named algorithm and return the JSON payload."""
    return _verified_claims(_split(token, "token signature is invalid"), key, alg)


def is_access_token_typ(typ: object) -> bool:
    # RFC 9068 §4: "at+jwt", or the full media type; media types compare case-insensitively.
    return isinstance(typ, str) and typ.lower() in (
        ACCESS_TOKEN_TYP,
        "application/" + ACCESS_TOKEN_TYP,
    )


async def verify_jwt(
    token: str,
    *,
    keys: VerificationKeys,
    issuer: str,
    audience: str,
    now: datetime,
    leeway: int,
    algorithms: tuple[str, ...] = SUPPORTED_ALGORITHMS,
    typ_check: Callable[[object], bool] | None = None,
) -> dict[str, Any]:
    """Header policy, key by `kid`, signature, issuer, audience and time; returns the claims."""
    parts = _split(token)
    header = _police_header(parts.header, algorithms)
    if typ_check is not None and not typ_check(header.get("typ")):
        # RFC 9068 §4: an ID token or any other JWT signed by the same key is not an access token.
        raise InvalidTokenError("token is not an access token")
    found = await keys.get_verification_key(header["kid"])
    if found is None:
        raise InvalidTokenError("token was signed by an unknown key")
    key_alg, key = found
    if key_alg != header["alg"]:
        raise InvalidTokenError("token algorithm does not match its key")
    claims = _verified_claims(parts, key, key_alg)
    validate_issuer_and_audience(claims, issuer=issuer, audience=audience)
    validate_time_claims(claims, now=now, leeway=leeway)
    return claims


async def decode_access_token(
    token: str,
    *,
    keys: VerificationKeys,
    issuer: str,
    audience: str,
    now: datetime,
    leeway: int = 30,
    algorithms: tuple[str, ...] = SUPPORTED_ALGORITHMS,
) -> AccessTokenClaims:
    """Verify an RFC 9068 access token; raises `InvalidTokenError` with a short reason."""
    claims = await verify_jwt(
        token,
        keys=keys,
        issuer=issuer,
        audience=audience,
        now=now,
        leeway=leeway,
        algorithms=algorithms,
        typ_check=is_access_token_typ,
    )
    try:
        return AccessTokenClaims.model_validate(claims)
    except ValidationError:
        raise InvalidTokenError("token claims are malformed") from None


async def decode_id_token_hint(
    token: str,
    *,
    keys: VerificationKeys,
    issuer: str,
    algorithms: tuple[str, ...] = SUPPORTED_ALGORITHMS,
) -> IdTokenClaims:
    """Verify an ID token we issued, presented back to us as `id_token_hint`.

    OIDC Core §3.1.2.1 and RP-Initiated Logout §2: the hint may have expired, so `exp` is not
    checked, and its audience is whichever client it was issued to, which the caller compares
    with the client it expects. Signature, issuer and token type are checked here.
    """
    parts = _split(token)
    header = _police_header(parts.header, algorithms)
    if is_access_token_typ(header.get("typ")):
        raise InvalidTokenError("an access token is not an ID token")
    found = await keys.get_verification_key(header["kid"])
    if found is None or found[0] != header["alg"]:
        raise InvalidTokenError("token was signed by an unknown key")
    claims = _verified_claims(parts, found[1], found[0])
    if claims.get("iss") != issuer:
        raise InvalidTokenError("token issuer is not trusted")
    try:
        return IdTokenClaims.model_validate(claims)
    except ValidationError:
        raise InvalidTokenError("token claims are malformed") from None


# Client assertions (RFC 7523 §3, OIDC Core §9): the client's key, not ours, so the header may
# omit `kid` when the client registered a single key, and HS256 is allowed only keyed by the
# client's own secret. RFC 7518 §3.2: an HMAC key must be at least as long as the hash output;
# our client secrets hold 256 bits, so HS384 and HS512 would be keyed below their strength.
SECRET_ASSERTION_ALGORITHMS = ("HS256",)
# RFC 7517 §4 / RFC 7518 §6.2.2, §6.3.2, §6.4, RFC 8037 §2: members only a private key has.
PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def read_assertion_header(token: str, *, allowed_algorithms: tuple[str, ...]) -> dict[str, Any]:
    """The policed header of a client assertion or request object (RFC 8725 §3.1, §3.10): an
    allowed algorithm, no key or key URL of its own, no crit, a well-formed kid if any."""
    header = _split_client_jwt(token).header
    if header.get("alg") not in allowed_algorithms:
        raise InvalidTokenError("token algorithm is not allowed")
    if FORBIDDEN_HEADERS & header.keys():
        raise InvalidTokenError("token header must not carry keys")
    if "crit" in header:
        raise InvalidTokenError("token header has critical extensions we do not understand")
    kid = header.get("kid")
    if kid is not None and (not isinstance(kid, str) or not kid):
        raise InvalidTokenError("token header has a malformed kid")
    return header


def read_assertion(
    token: str, *, allowed_algorithms: tuple[str, ...]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The policed header and the *unverified* claims of a client assertion: who it claims to be
    decides which keys verify it. Never act on the claims before a verify_* call below."""
    header = read_assertion_header(token, allowed_algorithms=allowed_algorithms)
    try:
        claims = strict_json(_split_client_jwt(token).payload.decode("utf-8"))
    except ValueError:
        raise InvalidTokenError("malformed token") from None
    if not isinstance(claims, dict):
        raise InvalidTokenError("token payload is not a JSON object")
    return header, claims


def verify_with_jwk_set(
    token: str, jwks: Mapping[str, Any], *, algorithms: tuple[str, ...]
) -> dict[str, Any]:
    """Verify an asymmetric JWS (RFC 7515) with a key of the client's JWK Set: the one its `kid`
    names, or, without a `kid`, each key of the set that fits the algorithm (RFC 7517 §4.5)."""
    try:
        parts = _split_client_jwt(token)
    except InvalidTokenError:
        raise InvalidTokenError("token signature is invalid") from None
    alg = parts.header.get("alg")
    if alg not in algorithms or alg not in _ALG_MODELS:
        raise InvalidTokenError("token algorithm is not allowed")
    kid = parts.header.get("kid")
    keys = jwks.get("keys")
    for data in keys if isinstance(keys, list) else []:
        if not isinstance(data, dict) or (kid is not None and data.get("kid") != kid):
            continue
        if PRIVATE_JWK_MEMBERS & data.keys() or data.get("use", "sig") != "sig":
            continue
        try:
            key = load_public_jwk(data, alg)
        except ValueError:
            continue  # another key type, or a key bound to another algorithm
        try:
            return _verified_claims(parts, key, alg)
        except InvalidTokenError:
            if kid is not None:
                raise
    raise InvalidTokenError("token was not signed by a registered key")


def verify_with_secret(token: str, secret: str, *, algorithms: tuple[str, ...]) -> dict[str, Any]:
    """Verify an HMAC JWS (RFC 7518 §3.2) keyed by a client secret; constant-time comparison."""
    try:
        parts = _split_client_jwt(token)
    except InvalidTokenError:
        raise InvalidTokenError("token signature is invalid") from None
    alg = parts.header.get("alg")
    if alg not in algorithms or alg not in SECRET_ASSERTION_ALGORITHMS:
        raise InvalidTokenError("token algorithm is not allowed")
    model = JWSRegistry.algorithms[alg]
    key = OctKey.import_key(secret.encode("utf-8"))
    try:
        valid = model.verify(parts.signing_input, parts.signature, key)
    except (JoseError, ValueError):
        valid = False
    if not valid:
        raise InvalidTokenError("token signature is invalid")
    try:
        claims = strict_json(parts.payload.decode("utf-8"))
    except ValueError:
        raise InvalidTokenError("token signature is invalid") from None
    if not isinstance(claims, dict):
        raise InvalidTokenError("token payload is not a JSON object")
    return claims


def public_jwk_problem(data: object) -> str | None:
    """Why `data` is not a public signing JWK we could verify with (RFC 7517 §4), or None."""
    if not isinstance(data, dict):
        return "each key must be a JSON object"
    if PRIVATE_JWK_MEMBERS & data.keys():
        return "keys must be public: no private or symmetric key members"
    algs = [data["alg"]] if "alg" in data else list(SIGNATURE_ALGORITHMS)
    for alg in algs:
        try:
            load_public_jwk(data, alg)
            return None
        except ValueError:
            continue
    return "a key is not an RSA, P-256 or Ed25519 public key for RS256, PS256, ES256 or EdDSA"


class EmbeddedKeyJws(NamedTuple):
    header: dict[str, Any]
    claims: dict[str, Any]
    jkt: str  # RFC 7638 thumbprint of the embedded key


def verify_embedded_key_jws(token: str, *, typ: str, algorithms: tuple[str, ...]) -> EmbeddedKeyJws:
    """A JWS signed by the public key in its own `jwk` header (DPoP proofs, RFC 9449 §4.2-4.3).

    Checks the `typ`, the algorithm against `algorithms`, that the `jwk` is a public key of that
    algorithm and nothing else names a key (`jku`, `x5u`, `x5c`, `crit`), then the signature.
    """
    if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        raise InvalidTokenError("malformed token")
    header_segment, _, _ = token.partition(".")
    embedded = _embedded_key_header(header_segment)
    header = embedded.header
    alg = header.get("alg")
    if alg not in algorithms or alg not in _ALG_MODELS:
        raise InvalidTokenError("proof algorithm is not allowed")
    if header.get("typ") != typ:
        raise InvalidTokenError(f"proof typ must be {typ}")
    if embedded.problem is not None or embedded.key is None or embedded.jkt is None:
        raise InvalidTokenError(embedded.problem or "proof jwk is not a public key for its alg")
    parts = _split_after_header(token, header)
    return EmbeddedKeyJws(header, _verified_claims(parts, embedded.key, alg), embedded.jkt)


class _EmbeddedKeyHeader(NamedTuple):
    header: dict[str, Any]  # shared by every proof with this header: read, never change it
    key: JoseKey | None  # None: the jwk is no public key for the header's alg
    jkt: str | None
    # What is wrong with the header's keys whatever the caller allows, found once per header.
    problem: str | None


_OTHER_KEY_HEADERS = FORBIDDEN_HEADERS - {"jwk"}


def _embedded_key_problem(header: dict[str, Any]) -> str | None:
    """RFC 9449 §4.3 items 5-6 and RFC 8725 §3.10: the `jwk` names the key, and nothing else."""
    if _OTHER_KEY_HEADERS & header.keys() or "crit" in header:
        return "proof header must carry no key but its jwk"
    jwk = header.get("jwk")
    if not isinstance(jwk, dict):
        return "proof header has no jwk"
    if PRIVATE_JWK_MEMBERS & jwk.keys():
        return "proof jwk must not contain a private key"
    return None


# A client sends the same header (typ, alg, jwk) with every proof it signs, so its parse and
# key import are remembered by the header segment itself: with the proof's new signature to
# verify each time, they were a fifth of a DPoP request. Bounded, like the JWK cache.
MAX_CACHED_HEADER_CHARS = 6000


def _embedded_key_header(segment: str) -> _EmbeddedKeyHeader:
    if len(segment) > MAX_CACHED_HEADER_CHARS:
        return _parse_embedded_key_header(segment)
    return _cached_embedded_key_header(segment)


@lru_cache(maxsize=1024)
def _cached_embedded_key_header(segment: str) -> _EmbeddedKeyHeader:
    # A malformed header raises and is not cached.
    return _parse_embedded_key_header(segment)


def _parse_embedded_key_header(segment: str) -> _EmbeddedKeyHeader:
    try:
        header = strict_json(_b64decode(segment.encode("ascii")).decode("utf-8"))
    except ValueError:  # binascii.Error, UnicodeError and JSONDecodeError all are
        raise InvalidTokenError("malformed token") from None
    if not isinstance(header, dict):
        raise InvalidTokenError("malformed token")
    problem = _embedded_key_problem(header)
    jwk, alg = header.get("jwk"), header.get("alg")
    if problem is not None or not isinstance(jwk, dict) or alg not in _ALG_MODELS:
        return _EmbeddedKeyHeader(header, None, None, problem)
    try:
        key, jkt = public_jwk_and_thumbprint(jwk, alg)
    except (ValueError, JoseError, KeyError, TypeError):
        return _EmbeddedKeyHeader(header, None, None, None)
    return _EmbeddedKeyHeader(header, key, jkt, None)


def _split_after_header(token: str, header: dict[str, Any]) -> _Compact:
    """`_split` for a token whose header is already parsed."""
    try:
        signing_input, _, signature = token.encode("ascii").rpartition(b".")
        payload = signing_input.partition(b".")[2]
        return _Compact(header, signing_input, _b64decode(payload), _b64decode(signature))
    except ValueError:
        raise InvalidTokenError("malformed token") from None
