"""What the cases consume: users and clients, authorization codes, refresh-token families and
access tokens, all made by the auth service's own code against the benchmark's database."""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx

from auth_service.clients.registry import ClientKeys, ClientSpec, register_client
from auth_service.config import AuthSettings
from auth_service.identity.accounts import create_user
from auth_service.oauth.authorize.codes import issue_authorization_code
from auth_service.oauth.authorize.request import AuthorizationRequest
from auth_service.oauth.tokens import TokenPolicy, issue_refresh_token
from auth_service.repositories import Repositories
from auth_service.security.passwords import PasswordHasher
from auth_service.security.pkce import s256_challenge
from bench.client_jwts import DpopSigner
from shared.database import make_engine, make_sessionmaker
from shared.models import Client, Grant

T = TypeVar("T")
REDIRECT_URI = "http://127.0.0.1:9/callback"
CODE_SCOPE = frozenset({"openid", "profile"})  # an OIDC login: the exchange signs two JWTs
FAMILY_SCOPE = frozenset({"profile"})  # what GET /api/v1/me needs
USERS = 20
BATCH = 500  # rows per transaction while preparing pools
DEFAULTS = AuthSettings.model_fields


@dataclass(frozen=True, slots=True)
class Credentials:
    client_id: str
    client_secret: str

    @property
    def basic(self) -> str:
        """RFC 6749 §2.3.1 client_secret_basic (our ids and secrets need no form-encoding)."""
        pair = f"{self.client_id}:{self.client_secret}".encode("ascii")
        return "Basic " + base64.b64encode(pair).decode("ascii")


@dataclass(frozen=True, slots=True)
class Seeded:
    user_ids: tuple[str, ...]
    service: Credentials  # client_credentials
    first_party: Credentials  # password + refresh_token: the refresh families
    introspector: Credentials  # may call /oauth/introspect
    web_app: Credentials  # authorization_code + refresh_token
    keyed_client_id: str  # client_credentials with private_key_jwt (no secret)


CLIENTS = {
    "service": ClientSpec(
        name="Bench Service",
        redirect_uris=[],
        scope="read:notes write:notes",
        grant_types=["client_credentials"],
    ),
    "first_party": ClientSpec(
        name="Bench Console",
        redirect_uris=[],
        scope="profile",
        is_first_party=True,
        grant_types=["password", "refresh_token"],
    ),
    "introspector": ClientSpec(
        name="Bench Gateway",
        redirect_uris=[],
        scope="read:notes",
        can_introspect=True,
        grant_types=["client_credentials"],
    ),
    "web_app": ClientSpec(
        name="Bench Web App",
        redirect_uris=[REDIRECT_URI],
        scope="openid profile email",
        grant_types=["authorization_code", "refresh_token"],
    ),
}


@asynccontextmanager
async def _repositories(database_url: str) -> AsyncIterator[Callable[[], Repositories]]:
    engine = make_engine(database_url)
    sessionmaker = make_sessionmaker(engine)
    try:
        yield lambda: Repositories.over(sessionmaker())
    finally:
        await engine.dispose()


def keyed_client(jwks: dict[str, Any]) -> ClientSpec:
    """A service authenticating with private_key_jwt (RFC 7523 §2.2), its public keys inline."""
    return ClientSpec(
        name="Bench Keyed Service",
        redirect_uris=[],
        scope="read:notes",
        grant_types=["client_credentials"],
        token_endpoint_auth_method="private_key_jwt",  # noqa: S106 - a method name
        keys=ClientKeys(jwks=jwks),
    )


async def seed(database_url: str, client_jwks: dict[str, Any]) -> Seeded:
    """Users and the five clients. Passwords are hashed cheaply: no case logs anyone in."""
    hasher = PasswordHasher(time_cost=1, memory_kib=64, parallelism=1)
    now = datetime.now(UTC)
    async with _repositories(database_url) as open_repos:
        repos = open_repos()
        async with repos.session:
            user_ids = []
            for n in range(USERS):
                user = await create_user(
                    repos,
                    hasher,
                    username=f"bench{n}",
                    email=f"bench{n}@example.com",
                    password=secrets.token_urlsafe(12),
                    name=f"Bench User {n}",
                    now=now,
                )
                user_ids.append(user.id)
            credentials = {}
            for key, spec in CLIENTS.items():
                registered = await register_client(repos, spec, now=now)
                assert registered.client_secret is not None  # noqa: S101 - all are confidential
                credentials[key] = Credentials(
                    registered.client.client_id, registered.client_secret
                )
            keyed = await register_client(repos, keyed_client(client_jwks), now=now)
            await repos.session.commit()
    return Seeded(user_ids=tuple(user_ids), keyed_client_id=keyed.client.client_id, **credentials)


async def _in_batches(
    database_url: str, count: int, make: Callable[[Repositories, int], Awaitable[T]]
) -> list[T]:
    results: list[T] = []
    async with _repositories(database_url) as open_repos:
        while len(results) < count:
            repos = open_repos()
            async with repos.session:
                for _ in range(min(BATCH, count - len(results))):
                    results.append(await make(repos, len(results)))
                await repos.session.commit()
    return results


async def authorization_codes(database_url: str, seeded: Seeded, count: int) -> list[str]:
    """`count` token-request bodies, each redeeming its own fresh code with its PKCE verifier."""
    ttl = DEFAULTS["authorization_code_ttl"].default

    async def make(repos: Repositories, n: int) -> str:
        verifier = secrets.token_urlsafe(48)
        now = datetime.now(UTC)
        request = AuthorizationRequest(
            client_id=seeded.web_app.client_id,
            redirect_uri=REDIRECT_URI,
            redirect_uri_given=True,
            scopes=CODE_SCOPE,
            state=None,
            nonce=secrets.token_urlsafe(8),
            code_challenge=s256_challenge(verifier),
            code_challenge_method="S256",
            prompt=frozenset(),
            max_age=None,
            login_hint=None,
        )
        user_id = seeded.user_ids[n % len(seeded.user_ids)]
        code = await issue_authorization_code(
            repos, request, user_id=user_id, auth_time=now, now=now, ttl=ttl
        )
        return urlencode(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT_URI,
                "code_verifier": verifier,
            }
        )

    return await _in_batches(database_url, count, make)


async def refresh_tokens(database_url: str, seeded: Seeded, count: int) -> list[str]:
    """`count` refresh tokens, each of its own family, as the password grant would leave them."""
    policy = TokenPolicy(
        issuer="",
        audience="",
        access_token_ttl=DEFAULTS["access_token_ttl"].default,
        id_token_ttl=DEFAULTS["id_token_ttl"].default,
        refresh_token_ttl=DEFAULTS["refresh_token_ttl"].default,
        refresh_token_idle_ttl=DEFAULTS["refresh_token_idle_ttl"].default,
    )
    client: Client | None = None

    async def make(repos: Repositories, n: int) -> str:
        nonlocal client
        client = client or await repos.clients.get_by_client_id(seeded.first_party.client_id)
        assert client is not None  # noqa: S101 - seeded above
        now = datetime.now(UTC)
        grant = await repos.grants.add(
            Grant(
                user_id=seeded.user_ids[n % len(seeded.user_ids)],
                client_id=client.client_id,
                scope="profile",
                auth_time=now,
                created_at=now,
                last_used_at=now,
                access_expires_at=now + timedelta(seconds=policy.access_token_ttl),
            )
        )
        return await issue_refresh_token(
            repos.refresh_tokens,
            policy=policy,
            client=client,
            grant=grant,
            scopes=FAMILY_SCOPE,
            now=now,
        )

    return await _in_batches(database_url, count, make)


async def dpop_access_tokens(
    token_url: str, seeded: Seeded, signer: DpopSigner, count: int, *, concurrency: int = 4
) -> list[str]:
    """`count` DPoP-bound access tokens (cnf.jkt of the signer's key, RFC 9449 §5), each from a
    client_credentials request with its own proof."""
    tokens: list[str] = []
    headers = {"Authorization": seeded.service.basic}
    body = {"grant_type": "client_credentials", "scope": "read:notes"}

    async def worker(http: httpx.AsyncClient) -> None:
        while len(tokens) < count:
            proof = {"DPoP": signer.proof("POST", token_url)}
            response = await http.post(token_url, data=body, headers={**headers, **proof})
            response.raise_for_status()
            answer = response.json()
            if answer["token_type"] != "DPoP":  # noqa: S105 - a token type, no secret
                raise RuntimeError("the auth service issued an unbound token for a DPoP proof")
            tokens.append(answer["access_token"])

    async with httpx.AsyncClient(timeout=30) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    return tokens[:count]


async def access_tokens(
    token_url: str, seeded: Seeded, refresh: Sequence[str], *, concurrency: int = 4
) -> list[str]:
    """Real access tokens from the token endpoint: one refresh per family, sub = a seeded user."""
    pending = list(refresh)
    tokens: list[str] = []
    headers = {"Authorization": seeded.first_party.basic}

    async def worker(http: httpx.AsyncClient) -> None:
        while pending:
            body = {"grant_type": "refresh_token", "refresh_token": pending.pop()}
            response = await http.post(token_url, data=body, headers=headers)
            response.raise_for_status()
            tokens.append(response.json()["access_token"])

    async with httpx.AsyncClient(timeout=30) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    return tokens
