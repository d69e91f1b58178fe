"""shared.tokens: header policy (RFC 8725), time claims (RFC 7519 §4.1.4-4.1.6), RFC 9068 access tokens."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from joserfc import jwt

from auth_service.security.keys import NewKey, new_signing_key
from shared.claims import AccessTokenClaims, validate_time_claims
from shared.errors import InvalidTokenError
from shared.tokens import (
    MAX_TOKEN_LENGTH,
    JoseKey,
    decode_access_token,
    load_public_jwk,
    read_header,
)
from tests.support.forge import Forger, access_claims, compact, segment

ISSUER = "http://auth.test"
AUDIENCE = "http://resource.test"
NOW = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
TS = int(NOW.timestamp())
LEEWAY = 30
ALGS = ("RS256", "ES256")


class StaticKeys:
    """A VerificationKeys with a fixed kid -> (alg, key) map."""

    def __init__(self, keys: dict[str, tuple[str, JoseKey]]) -> None:
        self.keys = keys

    async def get_verification_key(self, kid: str) -> tuple[str, JoseKey] | None:
        return self.keys.get(kid)


@pytest.fixture(scope="module")
def signing_key() -> NewKey:
    return new_signing_key("RS256")


@pytest.fixture(scope="module")
def forger(signing_key: NewKey) -> Forger:
    return Forger.from_pem(signing_key.kid, signing_key.pem)


@pytest.fixture(scope="module")
def keys(signing_key: NewKey) -> StaticKeys:
    public = load_public_jwk(signing_key.public_jwk, "RS256")
    return StaticKeys({signing_key.kid: ("RS256", public)})


@pytest.fixture
def claims() -> dict[str, Any]:
    return access_claims(NOW, sub="user-1", client_id="client-1")


async def _decode(token: str, keys: StaticKeys, **overrides: Any) -> AccessTokenClaims:
    kwargs: dict[str, Any] = {
        "keys": keys,
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "now": NOW,
        "leeway": LEEWAY,
    }
    kwargs.update(overrides)
    return await decode_access_token(token, **kwargs)


def _header_only(header: dict[str, Any]) -> str:
    return compact(header, {})


# --- read_header -----------------------------------------------------------------------------------


def test_read_header_rs256_with_kid_returns_header() -> None:
    header = {"alg": "RS256", "kid": "k1", "typ": "at+jwt"}

    assert read_header(_header_only(header), allowed_algorithms=ALGS) == header


@pytest.mark.parametrize("alg", ["none", "None", "HS256", "RS384", "PS256", "", None])
def test_read_header_disallowed_algorithm_is_refused(alg: str | None) -> None:
    header = {"kid": "k1"} if alg is None else {"alg": alg, "kid": "k1"}

    with pytest.raises(InvalidTokenError, match="^token algorithm is not allowed$"):
        read_header(_header_only(header), allowed_algorithms=ALGS)


@pytest.mark.parametrize("name", ["jwk", "jku", "x5u", "x5c"])
def test_read_header_key_or_key_url_in_header_is_refused(name: str) -> None:
    header = {"alg": "RS256", "kid": "k1", name: "https://attacker.example/key"}

    with pytest.raises(InvalidTokenError, match="^token header must not carry keys$"):
        read_header(_header_only(header), allowed_algorithms=ALGS)


@pytest.mark.parametrize("crit", [["exp"], [], "b64"])
def test_read_header_any_crit_is_refused(crit: Any) -> None:
    header = {"alg": "RS256", "kid": "k1", "crit": crit}

    with pytest.raises(InvalidTokenError, match="critical extensions"):
        read_header(_header_only(header), allowed_algorithms=ALGS)


@pytest.mark.parametrize("kid", [None, "", 7, ["k1"]], ids=["missing", "empty", "int", "list"])
def test_read_header_without_string_kid_is_refused(kid: Any) -> None:
    header: dict[str, Any] = {"alg": "RS256"}
    if kid is not None:
        header["kid"] = kid

    with pytest.raises(InvalidTokenError, match="^token header has no kid$"):
        read_header(_header_only(header), allowed_algorithms=ALGS)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "!!!.e30.",
        segment({"alg": "RS256"})[:-3] + "@@@.e30.",
        "bm90IGpzb24.e30.",
        "WzFd.e30.",
    ],
    ids=[
        "empty",
        "no-dots",
        "one-dot",
        "three-dots",
        "bad-base64",
        "bad-base64-tail",
        "header-not-json",
        "header-not-object",
    ],
)
def test_read_header_malformed_token_is_refused(token: str) -> None:
    with pytest.raises(InvalidTokenError, match="^malformed token$"):
        read_header(token, allowed_algorithms=ALGS)


RS256_HEAD = segment({"alg": "RS256", "kid": "k1"})  # 35 characters: one short of a padded block


@pytest.mark.parametrize(
    "token",
    [
        f"{RS256_HEAD}=.e30.",
        f"{RS256_HEAD}.e30=.",
        f"{RS256_HEAD}.e30.ab+c",
        f"{RS256_HEAD}.e30.ab/c",
    ],
    ids=["padded-header", "padded-payload", "plus-in-signature", "slash-in-signature"],
)
def test_read_header_segment_that_is_not_unpadded_base64url_is_refused(token: str) -> None:
    # RFC 7515 §2: base64url without padding; the same token unpadded is read.
    assert read_header(f"{RS256_HEAD}.e30.", allowed_algorithms=ALGS)["kid"] == "k1"

    with pytest.raises(InvalidTokenError, match="^malformed token$"):
        read_header(token, allowed_algorithms=ALGS)


def test_read_header_token_at_length_limit_is_read() -> None:
    head = segment({"alg": "RS256", "kid": "k1"}) + "."
    token = head + "A" * (MAX_TOKEN_LENGTH - len(head) - 1) + "."
    assert len(token) == MAX_TOKEN_LENGTH

    assert read_header(token, allowed_algorithms=ALGS)["kid"] == "k1"


def test_read_header_token_over_length_limit_is_refused() -> None:
    head = segment({"alg": "RS256", "kid": "k1"}) + "."
    token = head + "A" * (MAX_TOKEN_LENGTH - len(head)) + "."

    with pytest.raises(InvalidTokenError, match="^malformed token$"):
        read_header(token, allowed_algorithms=ALGS)


# --- validate_time_claims ----------------------------------------------------------------------------


def _times(**claims: Any) -> dict[str, Any]:
    return {"exp": TS + 60, "iat": TS, **claims}


@pytest.mark.parametrize(
    ("claims", "leeway"),
    [
        (_times(exp=TS - LEEWAY + 1), LEEWAY),
        (_times(exp=TS + 1), 0),
        (_times(exp=float(TS - LEEWAY) + 0.5), LEEWAY),
        (_times(nbf=TS + LEEWAY), LEEWAY),
        (_times(nbf=TS), 0),
        (_times(iat=TS + LEEWAY), LEEWAY),
        (_times(iat=TS), 0),
    ],
    ids=[
        "exp-just-inside-leeway",
        "exp-next-second-no-leeway",
        "exp-float",
        "nbf-at-leeway-edge",
        "nbf-now-no-leeway",
        "iat-at-leeway-edge",
        "iat-now-no-leeway",
    ],
)
def test_validate_time_claims_inside_leeway_is_accepted(
    claims: dict[str, Any], leeway: int
) -> None:
    validate_time_claims(claims, now=NOW, leeway=leeway)


@pytest.mark.parametrize(
    ("claims", "leeway", "message"),
    [
        (_times(exp=TS - LEEWAY), LEEWAY, "token has expired"),
        (_times(exp=TS), 0, "token has expired"),
        (_times(exp=None), LEEWAY, "token has expired"),
        (_times(exp=str(TS + 60)), LEEWAY, "token has expired"),
        (_times(exp=True), LEEWAY, "token has expired"),
        (_times(nbf=TS + LEEWAY + 1), LEEWAY, "token is not valid yet"),
        (_times(nbf=TS + 1), 0, "token is not valid yet"),
        (_times(nbf="soon"), LEEWAY, "token is not valid yet"),
        (_times(iat=TS + LEEWAY + 1), LEEWAY, "token was issued in the future"),
        (_times(iat=None), LEEWAY, "token was issued in the future"),
        (_times(exp=10**400), LEEWAY, "token has expired"),
        (_times(iat=-(10**400)), LEEWAY, "token was issued in the future"),
    ],
    ids=[
        "exp-at-leeway-edge",
        "exp-now-no-leeway",
        "exp-null",
        "exp-string",
        "exp-bool",
        "nbf-past-leeway",
        "nbf-future-no-leeway",
        "nbf-string",
        "iat-past-leeway",
        "iat-null",
        "exp-past-float-range",
        "iat-past-float-range",
    ],
)
def test_validate_time_claims_outside_leeway_is_refused(
    claims: dict[str, Any], leeway: int, message: str
) -> None:
    with pytest.raises(InvalidTokenError, match=f"^{message}$"):
        validate_time_claims(claims, now=NOW, leeway=leeway)


def test_validate_time_claims_missing_exp_is_refused() -> None:
    with pytest.raises(InvalidTokenError, match="^token has expired$"):
        validate_time_claims({"iat": TS}, now=NOW, leeway=LEEWAY)


def test_validate_time_claims_missing_iat_is_refused_when_required() -> None:
    with pytest.raises(InvalidTokenError, match="^token was issued in the future$"):
        validate_time_claims({"exp": TS + 60}, now=NOW, leeway=LEEWAY)


def test_validate_time_claims_missing_iat_is_accepted_when_optional() -> None:
    validate_time_claims({"exp": TS + 60}, now=NOW, leeway=LEEWAY, require_iat=False)


def test_validate_time_claims_future_iat_is_refused_even_when_optional() -> None:
    with pytest.raises(InvalidTokenError, match="^token was issued in the future$"):
        validate_time_claims(
            {"exp": TS + 60, "iat": TS + LEEWAY + 1}, now=NOW, leeway=LEEWAY, require_iat=False
        )


# --- decode_access_token -----------------------------------------------------------------------------


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT", "Application/At+Jwt"])
async def test_decode_access_token_at_jwt_typ_is_accepted(
    forger: Forger, keys: StaticKeys, claims: dict[str, Any], typ: str
) -> None:
    token = forger.sign_exact({"alg": "RS256", "kid": forger.kid, "typ": typ}, claims)

    decoded = await _decode(token, keys)

    assert decoded == AccessTokenClaims.model_validate(claims)


@pytest.mark.parametrize(
    "typ", ["JWT", "jwt", "application/jwt", "at+jwt; x=1", "", None, 1], ids=repr
)
async def test_decode_access_token_other_typ_is_refused(
    forger: Forger, keys: StaticKeys, claims: dict[str, Any], typ: Any
) -> None:
    header: dict[str, Any] = {"alg": "RS256", "kid": forger.kid}
    if typ is not None:
        header["typ"] = typ
    token = forger.sign_exact(header, claims)

    # RFC 9068 §4: typ must be at+jwt, so an ID token or any other JWT from this key is refused.
    with pytest.raises(InvalidTokenError, match="^token is not an access token$"):
        await _decode(token, keys)


async def test_decode_access_token_jose_default_typ_is_refused(
    forger: Forger, keys: StaticKeys, claims: dict[str, Any]
) -> None:
    # joserfc's jwt.encode writes typ "JWT" when the caller names none.
    token = jwt.encode({"alg": "RS256", "kid": forger.kid}, claims, forger.private_key)

    with pytest.raises(InvalidTokenError, match="^token is not an access token$"):
        await _decode(token, keys)


async def test_decode_access_token_audience_in_list_is_accepted(
    forger: Forger, keys: StaticKeys, claims: dict[str, Any]
) -> None:
    claims["aud"] = ["http://other.test", AUDIENCE]

    decoded = await _decode(forger.sign(claims), keys)

    assert decoded.audiences == ("http://other.test", AUDIENCE)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"aud": "http://other.test"}, "token is not meant for this audience"),
        ({"aud": ["http://other.test"]}, "token is not meant for this audience"),
        ({"aud": None}, "token is not meant for this audience"),
        ({"iss": ISSUER + "/"}, "token issuer is not trusted"),
        ({"iss": None}, "token issuer is not trusted"),
        ({"exp": TS - LEEWAY}, "token has expired"),
        ({"jti": None}, "token claims are malformed"),
        ({"client_id": None}, "token claims are malformed"),
        ({"sub": ""}, "token claims are malformed"),
    ],
    ids=[
        "other-aud",
        "other-aud-list",
        "no-aud",
        "iss-trailing-slash",
        "no-iss",
        "expired",
        "no-jti",
        "no-client-id",
        "empty-sub",
    ],
)
async def test_decode_access_token_bad_claim_is_refused(
    forger: Forger, keys: StaticKeys, claims: dict[str, Any], change: dict[str, Any], message: str
) -> None:
    changed = {k: v for k, v in {**claims, **change}.items() if v is not None}

    with pytest.raises(InvalidTokenError, match=f"^{message}$"):
        await _decode(forger.sign(changed), keys)


async def test_decode_access_token_unknown_kid_is_refused(
    forger: Forger, keys: StaticKeys, claims: dict[str, Any]
) -> None:
    with pytest.raises(InvalidTokenError, match="^token was signed by an unknown key$"):
        await _decode(forger.sign(claims, kid="other"), keys)


async def test_decode_access_token_key_of_other_algorithm_is_refused(
    forger: Forger, keys: StaticKeys, claims: dict[str, Any]
) -> None:
    mislabelled = StaticKeys({forger.kid: ("ES256", keys.keys[forger.kid][1])})

    with pytest.raises(InvalidTokenError, match="^token algorithm does not match its key$"):
        await _decode(forger.sign(claims), mislabelled)


async def test_decode_access_token_signed_by_other_key_under_same_kid_is_refused(
    keys: StaticKeys, signing_key: NewKey, claims: dict[str, Any]
) -> None:
    impostor = Forger.from_pem(signing_key.kid, new_signing_key("RS256").pem)

    with pytest.raises(InvalidTokenError, match="^token signature is invalid$"):
        await _decode(impostor.sign(claims), keys)


async def test_decode_access_token_hs256_with_public_key_is_refused(
    forger: Forger, keys: StaticKeys, claims: dict[str, Any]
) -> None:
    with pytest.raises(InvalidTokenError, match="^token algorithm is not allowed$"):
        await _decode(forger.hmac_with_public_key(claims), keys)


async def test_decode_access_token_non_object_payload_is_refused(
    forger: Forger, keys: StaticKeys
) -> None:
    token = forger.sign_bytes({"alg": "RS256", "kid": forger.kid, "typ": "at+jwt"}, b"[1, 2]")

    with pytest.raises(InvalidTokenError, match="^token payload is not a JSON object$"):
        await _decode(token, keys)


async def test_decode_access_token_leeway_is_a_parameter(
    forger: Forger, keys: StaticKeys, claims: dict[str, Any]
) -> None:
    token = forger.sign({**claims, "exp": TS - 10})

    assert (await _decode(token, keys, leeway=30)).exp == TS - 10
    with pytest.raises(InvalidTokenError, match="^token has expired$"):
        await _decode(token, keys, leeway=5)


def test_a_public_jwk_is_imported_once_and_its_thumbprint_matches_rfc_7638() -> None:
    """Clients send the same key with every proof: the second import is the first one's key."""
    from joserfc.jwk import ECKey

    from shared.tokens import jwk_thumbprint, public_jwk_and_thumbprint

    jwk = ECKey.generate_key("P-256").as_dict(private=False)
    first_key, first_jkt = public_jwk_and_thumbprint(jwk, "ES256")
    again_key, again_jkt = public_jwk_and_thumbprint(dict(reversed(list(jwk.items()))), "ES256")
    assert again_key is first_key
    assert first_jkt == again_jkt == jwk_thumbprint(jwk)
    for _ in range(2):  # a refusal is not remembered as a key
        with pytest.raises(ValueError):
            public_jwk_and_thumbprint(jwk, "PS256")
        with pytest.raises(ValueError):
            public_jwk_and_thumbprint({**jwk, "d": jwk["x"]}, "ES256")


def test_a_padded_jwk_is_imported_each_time_but_still_verifies() -> None:
    """Large JWKs (extra members) are kept out of the import cache, which holds small keys."""
    from joserfc.jwk import ECKey

    from shared.tokens import MAX_CACHED_JWK_CHARS, public_jwk_and_thumbprint

    jwk = {
        **ECKey.generate_key("P-256").as_dict(private=False),
        "x-pad": "a" * MAX_CACHED_JWK_CHARS,
    }
    first, jkt = public_jwk_and_thumbprint(jwk, "ES256")
    again, _ = public_jwk_and_thumbprint(jwk, "ES256")
    assert first is not again
    assert (
        jkt == public_jwk_and_thumbprint({k: v for k, v in jwk.items() if k != "x-pad"}, "ES256")[1]
    )
    with pytest.raises(ValueError):
        public_jwk_and_thumbprint("not a jwk", "ES256")  # type: ignore[arg-type]
