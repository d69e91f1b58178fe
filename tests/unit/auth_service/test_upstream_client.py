"""What an upstream provider's answers must be before we believe them (OIDC Core §3.1.3.7,
OIDC Discovery §4.3, RFC 9207 §2.4, OIDC Core §5.3.4). The upstream is outside our system, so
here an httpx MockTransport plays it; the live tests use a real second instance."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc.jwk import ECKey, OctKey

from auth_service.identity.brokering.upstream_client import (
    MAX_BYTES,
    UpstreamClient,
    UpstreamError,
)
from shared.models import UpstreamProvider
from tests.support.fake_upstream import (
    CLIENT_ID,
    ISSUER,
    NONCE,
    REDIRECT,
    SECRET,
    VERIFIER,
    FakeUpstream,
    b64,
)


@pytest.fixture
def upstream() -> FakeUpstream:
    return FakeUpstream()


@pytest.fixture
async def client(upstream: FakeUpstream) -> Any:
    client = UpstreamClient(allow_http=False, **upstream.transports())
    yield client
    await client.aclose()


def provider(**overrides: Any) -> UpstreamProvider:
    values: dict[str, Any] = {
        "id": "idp", "name": "IdP", "kind": "oidc", "issuer": ISSUER, "client_id": CLIENT_ID,
        "client_secret_encrypted": "-", "scope": "openid email", "created_at": datetime.now(UTC),
        **overrides,
    }  # fmt: skip
    return UpstreamProvider(**values)


async def sign_in(client: UpstreamClient, *, iss: str | None = ISSUER, nonce: str = NONCE) -> Any:
    return await client.identity(
        provider(), SECRET, redirect_uri=REDIRECT, code="the-code", verifier=VERIFIER,
        nonce=nonce, iss=iss,
    )  # fmt: skip


async def test_a_good_answer_gives_the_subject_and_verified_address(
    client: UpstreamClient, upstream: FakeUpstream
) -> None:
    identity = await sign_in(client)

    assert (identity.subject, identity.email, identity.email_verified) == (
        "upstream-42", "ada@example.com", True,
    )  # fmt: skip
    (sent,) = upstream.token_requests
    assert sent["code"] == ["the-code"] and sent["code_verifier"] == [VERIFIER]
    assert sent["redirect_uri"] == [REDIRECT]


async def test_the_authorization_url_carries_s256_state_and_nonce(client: UpstreamClient) -> None:
    url = await client.authorization_url(
        provider(), redirect_uri=REDIRECT, state="st", nonce=NONCE, verifier=VERIFIER
    )
    query = parse_qs(urlsplit(url).query)

    assert url.startswith(f"{ISSUER}/authorize?")
    assert query["state"] == ["st"] and query["nonce"] == [NONCE]
    expected = b64(hashlib.sha256(VERIFIER.encode()).digest())
    assert query["code_challenge"] == [expected] and query["code_challenge_method"] == ["S256"]


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"nonce": "another"}, "nonce of another request"),
        ({"aud": "someone-else"}, "audience of another client"),
        ({"iss": "https://evil.example"}, "another issuer"),
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"sub": None}, "no subject"),
        ({"at_hash": b64(b"0" * 16)}, "at_hash of another access token"),
        ({"aud": [CLIENT_ID, "other"], "azp": "other"}, "azp of another client"),
    ],
)
async def test_an_id_token_that_fails_a_check_is_refused(
    client: UpstreamClient, upstream: FakeUpstream, claims: dict[str, Any], why: str
) -> None:
    upstream.claims = claims

    with pytest.raises(UpstreamError):
        await sign_in(client)


async def test_an_id_token_signed_with_another_key_is_refused(
    client: UpstreamClient, upstream: FakeUpstream
) -> None:
    upstream.signing_key = ECKey.generate_key("P-256", parameters={"kid": "k1"})

    with pytest.raises(UpstreamError, match="ID token refused"):
        await sign_in(client)


async def test_an_hmac_id_token_keyed_with_our_client_secret_is_refused(
    client: UpstreamClient, upstream: FakeUpstream
) -> None:
    # Advertised by the upstream, but a symmetric key we share proves nothing about who signed.
    upstream.header = {"alg": "HS256"}
    upstream.signing_key = OctKey.import_key(SECRET)

    with pytest.raises(UpstreamError):
        await sign_in(client)


async def test_an_answer_naming_another_issuer_is_a_mix_up(client: UpstreamClient) -> None:
    with pytest.raises(UpstreamError, match="another issuer"):
        await sign_in(client, iss="https://other-idp.example")
    with pytest.raises(UpstreamError, match="another issuer"):
        await sign_in(client, iss=None)  # RFC 9207 §2.4: required once advertised


async def test_a_discovery_document_of_another_issuer_is_refused(
    client: UpstreamClient, upstream: FakeUpstream
) -> None:
    upstream.discovery["issuer"] = "https://idp.example/other"

    with pytest.raises(UpstreamError, match="discovery names another issuer"):
        await sign_in(client)


async def test_userinfo_about_another_subject_is_refused(
    client: UpstreamClient, upstream: FakeUpstream
) -> None:
    upstream.userinfo = {"sub": "someone-else", "email": "mallory@example.com"}

    with pytest.raises(UpstreamError, match="userinfo names another subject"):
        await sign_in(client)


async def test_an_oversized_userinfo_answer_is_refused(
    client: UpstreamClient, upstream: FakeUpstream
) -> None:
    upstream.userinfo_body = json.dumps({"sub": "upstream-42", "pad": "x" * MAX_BYTES}).encode()

    with pytest.raises(UpstreamError, match="too large"):
        await sign_in(client)


async def test_only_a_json_true_verifies_an_address(
    client: UpstreamClient, upstream: FakeUpstream
) -> None:
    upstream.claims = {"email_verified": "true"}

    assert (await sign_in(client)).email_verified is False


async def test_plain_http_endpoints_are_refused_outside_development(upstream: FakeUpstream) -> None:
    upstream.discovery["token_endpoint"] = "http://idp.example/token"
    client = UpstreamClient(allow_http=False, **upstream.transports())
    try:
        with pytest.raises(UpstreamError, match="not an https URL"):
            await sign_in(client)
    finally:
        await client.aclose()


async def test_plain_oauth2_takes_the_subject_from_the_configured_member(
    client: UpstreamClient, upstream: FakeUpstream
) -> None:
    upstream.userinfo = {"id": 1234, "login": "ada-gh", "email": "ada@example.com"}
    github_like = provider(
        kind="oauth2", issuer=None, authorization_endpoint=f"{ISSUER}/authorize",
        token_endpoint=f"{ISSUER}/token", userinfo_endpoint=f"{ISSUER}/userinfo",
        subject_claim="id",
    )  # fmt: skip

    identity = await client.identity(
        github_like, SECRET, redirect_uri=REDIRECT, code="c", verifier=VERIFIER, nonce="",
        iss=None,
    )  # fmt: skip

    assert (identity.subject, identity.preferred_username) == ("1234", "ada-gh")
    assert identity.email_verified is False


async def test_an_id_token_for_another_audience_is_refused_even_with_our_azp(
    client: UpstreamClient, upstream: FakeUpstream
) -> None:
    upstream.claims = {"aud": "another-client", "azp": CLIENT_ID}

    with pytest.raises(UpstreamError, match="not for this client"):
        await sign_in(client)


@pytest.mark.parametrize("member", ["jku", "jwk", "x5u"])
async def test_an_id_token_header_that_carries_keys_is_refused(
    client: UpstreamClient, upstream: FakeUpstream, member: str
) -> None:
    value: Any = {"jwk": upstream.key.as_dict(private=False)}.get(
        member, "https://evil.example/keys"
    )
    upstream.header = {**upstream.header, member: value}

    with pytest.raises(UpstreamError, match="ID token refused"):
        await sign_in(client)


@pytest.mark.parametrize(
    "endpoint", [5, None, "https://[::1", "ftp://idp.example/token", ["https://idp.example"]]
)
async def test_a_discovery_document_with_an_odd_endpoint_is_an_upstream_error(
    client: UpstreamClient, upstream: FakeUpstream, endpoint: object
) -> None:
    upstream.discovery["token_endpoint"] = endpoint

    with pytest.raises(UpstreamError):
        await client.authorization_url(
            provider(), redirect_uri=REDIRECT, state="s", nonce=NONCE, verifier=VERIFIER
        )


async def test_json_nested_deeper_than_the_parser_goes_is_an_upstream_error(
    client: UpstreamClient, upstream: FakeUpstream
) -> None:
    upstream.userinfo_body = b"[" * 200_000 + b"]" * 200_000

    with pytest.raises(UpstreamError, match="not JSON"):
        await sign_in(client)


@pytest.mark.parametrize("email", ["\uff41da@example.com", "a" * 250 + "@example.com"])
async def test_an_address_that_folding_or_cutting_would_change_is_not_used(
    client: UpstreamClient, upstream: FakeUpstream, email: str
) -> None:
    upstream.claims = {"email": email}
    upstream.userinfo = {"sub": "upstream-42", "email": email}

    identity = await sign_in(client)

    assert identity.email is None


async def test_text_no_database_could_store_is_dropped_from_names_and_addresses(
    client: UpstreamClient, upstream: FakeUpstream
) -> None:
    # As JSON escapes (\ud800): what a hostile upstream can send, whatever its encoding.
    upstream.userinfo_body = json.dumps({
        "sub": "upstream-42", "email": "ada@example.com\ud800", "name": "Ada\x00",
        "preferred_username": "\udfffada",
    }).encode()  # fmt: skip
    upstream.claims = {"email": None, "name": None}

    identity = await sign_in(client)

    assert (identity.email, identity.name, identity.preferred_username) == (None, "", None)


@pytest.mark.parametrize("subject", ["s\x00", "s\ud800", "sübject", "s" * 256])
async def test_a_subject_we_cannot_keep_is_refused(
    client: UpstreamClient, upstream: FakeUpstream, subject: str
) -> None:
    upstream.userinfo_body = json.dumps({"id": subject, "email": "ada@example.com"}).encode()
    github_like = provider(
        kind="oauth2", issuer=None, authorization_endpoint=f"{ISSUER}/authorize",
        token_endpoint=f"{ISSUER}/token", userinfo_endpoint=f"{ISSUER}/userinfo",
        subject_claim="id",
    )  # fmt: skip

    with pytest.raises(UpstreamError, match="a subject we cannot keep"):
        await client.identity(
            github_like, SECRET, redirect_uri=REDIRECT, code="c", verifier=VERIFIER, nonce="",
            iss=None,
        )  # fmt: skip
