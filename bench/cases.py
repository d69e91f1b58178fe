"""The cases of issue 7 and the targets that compare them, each with the ceiling it is held to."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from bench import seed
from bench.client_jwts import AssertionSigner, DpopSigner
from bench.load import Load
from bench.stack import Stack


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    server: str  # which process serves it: its peak RSS is reported with it
    what: str
    load: Load
    # For single-use pools: makes `n` fresh items right before each run (codes expire in 60 s).
    prepare: Callable[[int], Sequence[str]] | None = None
    # Cases whose rates this one's pool is sized for, besides its own (bench/run.py pool_size).
    paced_by: tuple[str, ...] = ("cc_rs256", "cc_es256")

    def load_for_run(self, pool_size: int) -> Load:
        if self.prepare is None:
            return self.load
        return replace(self.load, pool=tuple(self.prepare(pool_size)))


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    numerator: str
    denominator: str
    minimum: float


TARGETS = (
    Target("client_credentials RS256 / RS256-signing ceiling", "cc_rs256", "ceiling_sign", 0.90),
    Target("client_credentials ES256 / client_credentials RS256", "cc_es256", "cc_rs256", 1.6),
    Target(
        "bearer validation / same endpoint unprotected", "bearer_protected", "bearer_open", 0.85
    ),
    Target("authorization-code exchange / client_credentials RS256", "code", "cc_rs256", 0.5),
    Target("refresh with rotation / client_credentials RS256", "refresh", "cc_rs256", 0.5),
    Target("introspection / bearer validation", "introspect", "bearer_protected", 0.8),
    Target("DPoP validation / bearer validation", "dpop_protected", "bearer_protected", 0.5),
    Target(
        "client_credentials private_key_jwt / client_credentials ES256",
        "cc_private_key_jwt",
        "cc_es256",
        0.8,
    ),
)
RSS_LIMIT_MIB = 120.0


@dataclass(frozen=True, slots=True)
class ClientSigners:
    """The load generator's keys: one DPoP key and the private_key_jwt client's key."""

    dpop: DpopSigner
    assertion: AssertionSigner
    dpop_tokens: tuple[str, ...]  # access tokens bound to the DPoP key


def build_cases(
    stack: Stack, seeded: seed.Seeded, tokens: Sequence[str], signers: ClientSigners
) -> list[Case]:
    """Ceilings first, so every round measures them just before the cases held to them."""
    auth = stack.servers["auth-rs256"].url
    auth_es = stack.servers["auth-es256"].url
    api = stack.servers["resource"].url
    ceiling = stack.servers["ceiling"].url
    pool = tuple(tokens)
    url = stack.database_url

    def codes(n: int) -> list[str]:
        return asyncio.run(seed.authorization_codes(url, seeded, n))

    def refresh(n: int) -> list[str]:
        return [
            f"grant_type=refresh_token&refresh_token={token}"
            for token in asyncio.run(seed.refresh_tokens(url, seeded, n))
        ]

    # RFC 9449 §4.3: htu is the resource's public URL (the ceilings run on the resource
    # service's settings, whose public URL is its audience) and the path.
    dpop_url = f"{stack.servers['resource'].url}/bearer/protected"

    def dpop_requests(n: int) -> list[str]:
        bound = signers.dpop_tokens
        return [
            f"{token} {signers.dpop.proof('GET', dpop_url, token)}"
            for token in (bound[i % len(bound)] for i in range(n))
        ]

    def assertions(n: int) -> list[str]:
        return [signers.assertion.token_request(seeded.keyed_client_id, auth_es) for _ in range(n)]

    def basic(credentials: seed.Credentials) -> dict[str, str]:
        return {"Authorization": credentials.basic}

    cc_body = ("grant_type=client_credentials",)
    return [
        Case("ceiling_json", "ceiling", "ceiling: GET, small JSON",
             Load("GET", f"{ceiling}/ceiling/json", "none", {})),
        Case("ceiling_sign", "ceiling", "ceiling: POST form, sign an RS256 JWT (2048-bit)",
             Load("POST", f"{ceiling}/ceiling/token", "form", {}, cc_body)),
        Case("ceiling_header", "ceiling", "ceiling: GET, read the Authorization header",
             Load("GET", f"{ceiling}/ceiling/header", "bearer", {}, pool)),
        Case("bearer_open", "ceiling", "bench app: endpoint without the bearer dependency",
             Load("GET", f"{ceiling}/bearer/unprotected", "bearer", {}, pool)),
        Case("bearer_protected", "ceiling", "bench app: same endpoint, resource bearer dependency",
             Load("GET", f"{ceiling}/bearer/protected", "bearer", {}, pool)),
        Case("dpop_protected", "ceiling", "bench app: same endpoint, DPoP token and proof",
             Load("GET", f"{ceiling}/bearer/protected", "dpop", {}, once=True),
             prepare=dpop_requests, paced_by=("bearer_protected",)),
        Case("cc_rs256", "auth-rs256", "POST /oauth/token client_credentials, RS256",
             Load("POST", f"{auth}/oauth/token", "form", basic(seeded.service), cc_body)),
        Case("cc_es256", "auth-es256", "POST /oauth/token client_credentials, ES256",
             Load("POST", f"{auth_es}/oauth/token", "form", basic(seeded.service), cc_body)),
        Case("cc_private_key_jwt", "auth-es256",
             "POST /oauth/token client_credentials, private_key_jwt (PS256), ES256",
             Load("POST", f"{auth_es}/oauth/token", "form", {}, once=True), prepare=assertions),
        Case("code", "auth-rs256", "POST /oauth/token authorization_code + PKCE (openid profile)",
             Load("POST", f"{auth}/oauth/token", "form", basic(seeded.web_app), once=True),
             prepare=codes),
        Case("refresh", "auth-rs256", "POST /oauth/token refresh_token, rotation",
             Load("POST", f"{auth}/oauth/token", "form", basic(seeded.first_party), once=True),
             prepare=refresh),
        Case("introspect", "auth-rs256", "POST /oauth/introspect, access token",
             Load("POST", f"{auth}/oauth/introspect", "form", basic(seeded.introspector),
                  tuple(f"token={t}&token_type_hint=access_token" for t in pool))),
        Case("api_me", "resource", "GET /api/v1/me (bearer + profile row)",
             Load("GET", f"{api}/api/v1/me", "bearer", {}, pool)),
    ]  # fmt: skip
