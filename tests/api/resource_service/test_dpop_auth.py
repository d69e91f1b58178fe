"""DPoP-bound access tokens at the resource API (RFC 9449 §7): the proof is checked on every
request (method, URI, `ath`, key, single use, nonce), and a bound token is never a bearer token.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from resource_service.config import ResourceSettings
from resource_service.main import create_app as create_resource_app
from tests.conftest import AUDIENCE, ISSUER
from tests.factories import TestClient, TestUser
from tests.support.challenges import RESOURCE_METADATA
from tests.support.clock import TestClock
from tests.support.dpop import DpopKey, dpop_code_flow_token
from tests.support.services import require_redis

ME = f"{AUDIENCE}/api/v1/me"
REALM = "myauth-api"
ALGS = "ES256 PS256 EdDSA RS256"
_PARAM = re.compile(r'(\w+)="([^"]*)"')


def dpop_challenge(
    response: httpx.Response, resource_metadata: str = RESOURCE_METADATA
) -> dict[str, str]:
    """The DPoP challenge's parameters, once it names our metadata (RFC 9728 §5.1)."""
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("DPoP "), challenge
    params = dict(_PARAM.findall(challenge))
    assert params.pop("resource_metadata") == resource_metadata, challenge
    return params


def assert_dpop_error(
    response: httpx.Response,
    error: str,
    description: str,
    *,
    status: int = 401,
    resource_metadata: str = RESOURCE_METADATA,
) -> None:
    assert response.status_code == status, response.text
    assert response.json() == {"error": error, "error_description": description}
    assert dpop_challenge(response, resource_metadata) == {
        "realm": REALM,
        "error": error,
        "error_description": description,
        "algs": ALGS,
    }
    assert response.headers["cache-control"] == "no-store"


@pytest.fixture
def key() -> DpopKey:
    return DpopKey("ES256")


@pytest.fixture
async def dpop_token(
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    key: DpopKey,
    clock: TestClock,
) -> str:
    return await dpop_code_flow_token(auth_client, confidential_client, user, key, clock())


def dpop_headers(token: str, proof: str) -> dict[str, str]:
    return {"Authorization": f"DPoP {token}", "DPoP": proof}


async def test_me_dpop_token_with_proof_returns_profile_on_every_request(
    resource_client: httpx.AsyncClient, dpop_token: str, key: DpopKey, clock: TestClock
) -> None:
    for _ in range(2):  # the second answer comes from the token cache; its proof is still checked
        proof = key.proof("GET", ME, now=clock(), access_token=dpop_token)
        response = await resource_client.get("/api/v1/me", headers=dpop_headers(dpop_token, proof))
        assert response.status_code == 200, response.text
        assert response.json()["name"] == "Test User"


async def test_me_dpop_token_sent_as_bearer_returns_401_dpop_invalid_token(
    resource_client: httpx.AsyncClient, dpop_token: str
) -> None:
    response = await resource_client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {dpop_token}"}
    )

    # RFC 9449 §7.2: a bound token is never accepted as a bearer token.
    assert_dpop_error(
        response,
        "invalid_token",
        "the access token is DPoP-bound: send it with the DPoP scheme and a proof",
    )


@pytest.mark.parametrize(
    "case", ["method", "url", "other-key", "ath", "no-ath", "missing", "two", "replay", "old"]
)
async def test_me_dpop_bad_proof_returns_401_invalid_dpop_proof(
    resource_client: httpx.AsyncClient,
    dpop_token: str,
    key: DpopKey,
    clock: TestClock,
    case: str,
) -> None:
    now = clock()
    good = key.proof("GET", ME, now=now, access_token=dpop_token)
    proofs: list[str]
    description: str
    if case == "replay":
        first = await resource_client.get("/api/v1/me", headers=dpop_headers(dpop_token, good))
        assert first.status_code == 200, first.text
        proofs, description = [good], "the DPoP proof was already used"
    else:
        proofs, description = {
            "method": (
                [key.proof("POST", ME, now=now, access_token=dpop_token)],
                "the DPoP proof htm does not match the request method",
            ),
            "url": (
                [key.proof("GET", f"{AUDIENCE}/api/v1/email", now=now, access_token=dpop_token)],
                "the DPoP proof htu does not match the request URI",
            ),
            "other-key": (
                [DpopKey().proof("GET", ME, now=now, access_token=dpop_token)],
                "the DPoP proof key is not the key the token is bound to",
            ),
            "ath": (
                [key.proof("GET", ME, now=now, access_token=dpop_token + "x")],
                "the DPoP proof ath does not match the access token",
            ),
            "no-ath": (
                [key.proof("GET", ME, now=now)],
                "the DPoP proof ath does not match the access token",
            ),
            "missing": ([], "a DPoP proof is required with a DPoP access token"),
            "two": ([good, good], "send exactly one DPoP header"),
            "old": (
                [
                    key.proof(
                        "GET",
                        ME,
                        now=now,
                        access_token=dpop_token,
                        claims={"iat": int(now.timestamp()) - 120},
                    )
                ],
                "the DPoP proof iat is outside the accepted window",
            ),
        }[case]
    headers = [("Authorization", f"DPoP {dpop_token}"), *(("DPoP", p) for p in proofs)]

    response = await resource_client.get("/api/v1/me", headers=headers)

    assert_dpop_error(response, "invalid_dpop_proof", description)


async def test_me_bearer_token_sent_with_dpop_scheme_returns_401_dpop_invalid_token(
    resource_client: httpx.AsyncClient, tokens: dict[str, Any], key: DpopKey, clock: TestClock
) -> None:
    token = tokens["access_token"]
    proof = key.proof("GET", ME, now=clock(), access_token=token)

    response = await resource_client.get("/api/v1/me", headers=dpop_headers(token, proof))

    assert_dpop_error(
        response, "invalid_token", "the access token is not DPoP-bound: send it as Bearer"
    )


async def test_me_dpop_malformed_token_returns_401_dpop_invalid_token(
    resource_client: httpx.AsyncClient, key: DpopKey, clock: TestClock
) -> None:
    proof = key.proof("GET", ME, now=clock(), access_token="garbage")

    response = await resource_client.get("/api/v1/me", headers=dpop_headers("garbage", proof))

    assert_dpop_error(response, "invalid_token", "malformed token")


async def test_email_dpop_token_without_the_scope_returns_403_dpop_insufficient_scope(
    resource_client: httpx.AsyncClient, dpop_token: str, key: DpopKey, clock: TestClock
) -> None:
    url = f"{AUDIENCE}/api/v1/email"
    proof = key.proof("GET", url, now=clock(), access_token=dpop_token)

    response = await resource_client.get("/api/v1/email", headers=dpop_headers(dpop_token, proof))

    assert response.status_code == 403, response.text
    assert dpop_challenge(response) == {
        "realm": REALM,
        "error": "insufficient_scope",
        "error_description": "the access token lacks the required scope",
        "scope": "email",
        "algs": ALGS,
    }


# --- the public URL behind a proxy, nonces, and replay across instances ----------------------------


async def _resource_client(
    settings: ResourceSettings, auth_app: FastAPI, clock: TestClock
) -> AsyncIterator[httpx.AsyncClient]:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=auth_app), base_url=ISSUER)
    app = create_resource_app(settings, clock=clock, http_client=http)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=AUDIENCE) as client:
            yield client
    await http.aclose()


@pytest.fixture
async def proxied_client(
    resource_settings: ResourceSettings, auth_app: FastAPI, clock: TestClock
) -> AsyncIterator[httpx.AsyncClient]:
    settings = resource_settings.model_copy(update={"public_url": "https://api.example/"})
    async for client in _resource_client(settings, auth_app, clock):
        yield client


async def test_me_dpop_htu_is_checked_against_the_public_url(
    proxied_client: httpx.AsyncClient, dpop_token: str, key: DpopKey, clock: TestClock
) -> None:
    internal = key.proof("GET", ME, now=clock(), access_token=dpop_token)
    public = key.proof("GET", "https://api.example/api/v1/me", now=clock(), access_token=dpop_token)

    refused = await proxied_client.get("/api/v1/me", headers=dpop_headers(dpop_token, internal))
    accepted = await proxied_client.get("/api/v1/me", headers=dpop_headers(dpop_token, public))

    assert_dpop_error(
        refused,
        "invalid_dpop_proof",
        "the DPoP proof htu does not match the request URI",
        # The metadata is where clients reach the API: at its public URL too.
        resource_metadata="https://api.example/.well-known/oauth-protected-resource",
    )
    assert accepted.status_code == 200, accepted.text


@pytest.fixture
async def nonce_client(
    resource_settings: ResourceSettings, auth_app: FastAPI, clock: TestClock
) -> AsyncIterator[httpx.AsyncClient]:
    settings = resource_settings.model_copy(update={"dpop_nonce_secret": "n" * 40})
    async for client in _resource_client(settings, auth_app, clock):
        yield client


async def test_me_dpop_nonce_required_asks_with_401_then_accepts_it(
    nonce_client: httpx.AsyncClient, dpop_token: str, key: DpopKey, clock: TestClock
) -> None:
    proof = key.proof("GET", ME, now=clock(), access_token=dpop_token)

    first = await nonce_client.get("/api/v1/me", headers=dpop_headers(dpop_token, proof))

    description = "the DPoP proof must carry the DPoP-Nonce the server sent"
    assert_dpop_error(first, "use_dpop_nonce", description)  # RFC 9449 §9
    nonce = first.headers["dpop-nonce"]
    with_nonce = key.proof("GET", ME, now=clock(), access_token=dpop_token, nonce=nonce)
    second = await nonce_client.get("/api/v1/me", headers=dpop_headers(dpop_token, with_nonce))
    assert second.status_code == 200, second.text


async def test_me_dpop_replay_at_another_instance_sharing_redis_is_refused(
    resource_settings: ResourceSettings,
    auth_app: FastAPI,
    dpop_token: str,
    key: DpopKey,
    clock: TestClock,
) -> None:
    settings = resource_settings.model_copy(update={"redis_url": require_redis()})
    proof = key.proof("GET", ME, now=clock(), access_token=dpop_token)
    responses = []
    for _ in range(2):  # two instances, one after the other, each with its own memory
        async for client in _resource_client(settings, auth_app, clock):
            responses.append(
                await client.get("/api/v1/me", headers=dpop_headers(dpop_token, proof))
            )

    assert responses[0].status_code == 200, responses[0].text
    assert_dpop_error(responses[1], "invalid_dpop_proof", "the DPoP proof was already used")


def test_dpop_htu_is_compared_with_the_path_as_sent_not_the_decoded_one() -> None:
    from starlette.requests import Request

    from resource_service.deps import _path_as_sent

    scope = {"type": "http", "path": "/api/v1/notes/5?x", "raw_path": b"/api/v1/notes/5%3Fx",
             "query_string": b"", "headers": []}  # fmt: skip
    # A proof for /api/v1/notes/5 cannot match a request that asked for "5%3Fx".
    assert _path_as_sent(Request(scope)) == "/api/v1/notes/5%3Fx"
    without_raw = Request({**scope, "raw_path": None})
    assert _path_as_sent(without_raw) == without_raw.url.path
