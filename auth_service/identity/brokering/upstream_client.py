"""Talking to an upstream provider: its endpoints, the authorization URL, the code exchange and
who the person is. Authlib's OAuth 2.0 client does the exchange (PKCE S256, client
authentication) and its OIDC claims class checks the ID token; joserfc verifies the signature.

One instance per process (app state): it owns the httpx client and caches discovery documents
and key sets, so a sign-in costs the two requests it must make (token, then userinfo). The ID
token goes through the project's token module (`shared.tokens`): its header is policed (no
`jwk`, `jku`, `x5u`, `x5c`, no `crit`, a `kid`) and its signature checked with the upstream's
key set; the OIDC Core §3.1.3.7 claim checks are below.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client

from auth_service.repositories.users import normalize_email
from shared.claims import validate_time_claims
from shared.errors import InvalidTokenError
from shared.input_guard import is_clean_text
from shared.models import UpstreamProvider
from shared.tokens import read_header, verify_with_jwk_set

T = TypeVar("T")
TIMEOUT = 5.0  # seconds, for each read from an upstream
# Seconds for all of one step (discovery and the authorization URL; or token, keys and
# userinfo): an upstream that sends a byte every few seconds must not hold a request for long.
STEP_TIMEOUT = 15.0
MAX_BYTES = 512 * 1024  # a discovery document, key set or userinfo answer larger is refused
METADATA_TTL = 3600.0
KEYS_TTL = 600.0
KEYS_REFETCH_INTERVAL = 60.0  # an unknown kid refetches the key set at most this often
# Asymmetric only: "none" and the HMAC algorithms (keyed with our own client secret) never.
ID_TOKEN_ALGS = ("RS256", "PS256", "ES256", "EdDSA")


class UpstreamError(Exception):
    """The upstream could not be asked, or its answer cannot be believed. The text is for logs
    (the person sees a plain "could not sign you in with ...")."""


@dataclass(frozen=True, slots=True)
class Endpoints:
    authorization: str
    token: str
    userinfo: str | None
    jwks_uri: str | None
    id_token_algs: tuple[str, ...]
    iss_parameter: bool  # RFC 9207: the provider puts `iss` on its authorization responses


@dataclass(frozen=True, slots=True)
class UpstreamIdentity:
    """Who the upstream says signed in. `subject` is what the link is keyed by."""

    subject: str
    email: str | None
    email_verified: bool
    name: str
    preferred_username: str | None


class UpstreamClient:
    def __init__(
        self, *, allow_http: bool, leeway: int = 30,
        transport: httpx.AsyncBaseTransport | None = None, token_transport: Any = None,
    ) -> None:  # fmt: skip
        # Development (a loopback issuer) may talk plain http to a second local instance.
        self.allow_http = allow_http
        self.leeway = leeway  # AUTH_LEEWAY: seconds of clock difference on exp and iat
        # Tests: an upstream played by MockTransports, one for our httpx client and one for
        # Authlib's (built on httpx2 when that is installed, as the MCP SDK has it).
        self.transport, self.token_transport = transport, token_transport
        self.http = httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False, transport=transport)
        self._metadata: dict[str, tuple[float, Endpoints]] = {}
        self._keys: dict[str, tuple[float, dict[str, Any]]] = {}

    async def aclose(self) -> None:
        await self.http.aclose()

    def _checked_url(self, url: object) -> str:
        if not isinstance(url, str):
            raise UpstreamError("an endpoint that is no URL")
        try:
            scheme = httpx.URL(url).scheme
        except (httpx.InvalidURL, TypeError, ValueError):
            raise UpstreamError("an endpoint that is no URL") from None
        if scheme != "https" and not (self.allow_http and scheme == "http"):
            raise UpstreamError(f"not an https URL: {url}")
        return url

    async def _get_json(self, url: str, headers: dict[str, str] | None = None) -> Any:
        try:
            async with self.http.stream("GET", self._checked_url(url), headers=headers) as reply:
                if reply.status_code != 200:
                    raise UpstreamError(f"GET {url}: HTTP {reply.status_code}")
                body = bytearray()
                async for chunk in reply.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_BYTES:
                        raise UpstreamError(f"GET {url}: answer too large")
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise UpstreamError(f"GET {url}: {type(exc).__name__}") from None
        try:
            return json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
            raise UpstreamError(f"GET {url}: not JSON") from None

    async def endpoints(self, provider: UpstreamProvider) -> Endpoints:
        if provider.kind == "oauth2":
            if not (provider.authorization_endpoint and provider.token_endpoint):
                raise UpstreamError(f"{provider.id}: endpoints missing")
            return Endpoints(
                provider.authorization_endpoint, provider.token_endpoint,
                provider.userinfo_endpoint, None, (), iss_parameter=False,
            )  # fmt: skip
        issuer = provider.issuer or ""
        cached = self._metadata.get(issuer)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        # OIDC Discovery §4: the document lives under the issuer; §4.3: its `issuer` must be
        # exactly the one configured, or another provider's keys could vouch for it.
        document = await self._get_json(f"{issuer.rstrip('/')}/.well-known/openid-configuration")
        if not isinstance(document, dict) or document.get("issuer") != issuer:
            raise UpstreamError(f"{provider.id}: discovery names another issuer")
        advertised = document.get("id_token_signing_alg_values_supported")
        if not isinstance(advertised, list):
            advertised = ["RS256"]  # OIDC Discovery §3: required; RS256 is what all must support
        userinfo = document.get("userinfo_endpoint")
        found = Endpoints(
            authorization=self._checked_url(document.get("authorization_endpoint")),
            token=self._checked_url(document.get("token_endpoint")),
            userinfo=None if userinfo is None else self._checked_url(userinfo),
            jwks_uri=self._checked_url(document.get("jwks_uri")),
            id_token_algs=tuple(alg for alg in ID_TOKEN_ALGS if alg in advertised),
            iss_parameter=document.get("authorization_response_iss_parameter_supported") is True,
        )
        self._metadata[issuer] = (time.monotonic() + METADATA_TTL, found)
        return found

    def _client(
        self, provider: UpstreamProvider, secret: str, redirect_uri: str
    ) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=provider.client_id,
            client_secret=secret,
            scope=provider.scope,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method=provider.token_endpoint_auth_method,
            timeout=TIMEOUT,
            transport=self.token_transport,
        )

    async def authorization_url(self, provider: UpstreamProvider, **values: str) -> str:
        return await self._bounded(self._authorization_url(provider, **values))

    async def identity(
        self, provider: UpstreamProvider, secret: str, **values: Any
    ) -> UpstreamIdentity:
        return await self._bounded(self._identity(provider, secret, **values))

    async def _bounded(self, step: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(STEP_TIMEOUT):
                return await step
        except TimeoutError:
            raise UpstreamError(f"the upstream took longer than {STEP_TIMEOUT:.0f} s") from None

    async def _authorization_url(
        self, provider: UpstreamProvider, *, redirect_uri: str, state: str, nonce: str,
        verifier: str,
    ) -> str:  # fmt: skip
        """RFC 6749 §4.1.1 with RFC 7636 §4.3 (S256) and, for OIDC, a nonce (OIDC Core §3.1.2.1)."""
        found = await self.endpoints(provider)
        extra = {"nonce": nonce} if provider.kind == "oidc" else {}
        async with self._client(provider, "", redirect_uri) as client:
            url, _ = client.create_authorization_url(
                found.authorization, state=state, code_verifier=verifier, **extra
            )
        return str(url)

    async def _identity(
        self, provider: UpstreamProvider, secret: str, *, redirect_uri: str, code: str,
        verifier: str, nonce: str, iss: str | None,
    ) -> UpstreamIdentity:  # fmt: skip
        found = await self.endpoints(provider)
        if provider.kind == "oidc" and (found.iss_parameter or iss is not None):
            # RFC 9207 §2.4: a response from another issuer than the one asked is a mix-up.
            if iss != provider.issuer:
                raise UpstreamError(f"{provider.id}: the response names another issuer")
        try:
            async with self._client(provider, secret, redirect_uri) as client:
                token = await client.fetch_token(
                    found.token, code=code, code_verifier=verifier, grant_type="authorization_code"
                )
        except Exception as exc:  # noqa: BLE001 - OAuthError, and the transport errors of
            # whichever httpx Authlib runs on: each is the upstream failing this sign-in.
            raise UpstreamError(
                f"{provider.id}: token request failed: {type(exc).__name__}"
            ) from None
        access_token = token.get("access_token")
        if not isinstance(access_token, str):
            raise UpstreamError(f"{provider.id}: no access token")
        if provider.kind == "oidc":
            id_token = token.get("id_token")
            if not isinstance(id_token, str):
                raise UpstreamError(f"{provider.id}: no ID token")
            claims = await self._id_token_claims(provider, found, id_token, nonce, access_token)
        else:
            claims = {}
        if found.userinfo:
            info = await self._get_json(found.userinfo, {"Authorization": f"Bearer {access_token}"})
            if not isinstance(info, dict):
                raise UpstreamError(f"{provider.id}: userinfo is not an object")
            if provider.kind == "oidc":
                # OIDC Core §5.3.4: a userinfo answer about someone else is not used.
                if info.get("sub") != claims["sub"]:
                    raise UpstreamError(f"{provider.id}: userinfo names another subject")
                claims = {**info, **claims}
            else:
                claims = info
        return _identity_of(provider, claims)

    async def _key_set(self, jwks_uri: str, kid: str) -> dict[str, Any]:
        """The upstream's JWK Set, cached; a `kid` not in it refetches it at most once a minute.
        A refetch that fails keeps the last good set (a key rotation in progress must not stop
        every sign-in while the upstream's key endpoint has a bad minute)."""
        now = time.monotonic()
        cached = self._keys.get(jwks_uri)
        if cached is not None:
            fetched_at, keys = cached
            members = keys.get("keys")
            known = isinstance(members, list) and any(
                isinstance(key, dict) and key.get("kid") == kid for key in members
            )
            fresh = now - fetched_at < KEYS_TTL
            if fresh and (known or now - fetched_at < KEYS_REFETCH_INTERVAL):
                return keys
        try:
            document = await self._get_json(jwks_uri)
        except UpstreamError:
            if cached is not None:
                return cached[1]
            raise
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise UpstreamError(f"{jwks_uri}: not a key set")
        self._keys[jwks_uri] = (now, document)
        return document

    async def _id_token_claims(
        self, provider: UpstreamProvider, found: Endpoints, id_token: str, nonce: str,
        access_token: str,
    ) -> dict[str, Any]:  # fmt: skip
        """OIDC Core §3.1.3.7: the signature with the issuer's published keys (an asymmetric
        algorithm it advertises), then iss, aud, azp, exp, iat, nonce and at_hash."""
        if not found.id_token_algs or not found.jwks_uri:
            raise UpstreamError(f"{provider.id}: no ID token algorithm we accept")
        try:
            header = read_header(id_token, allowed_algorithms=found.id_token_algs)
            keys = await self._key_set(found.jwks_uri, header["kid"])
            claims = verify_with_jwk_set(id_token, keys, algorithms=found.id_token_algs)
            check_id_token_claims(
                claims, issuer=provider.issuer or "", client_id=provider.client_id, nonce=nonce,
                access_token=access_token, alg=header["alg"], leeway=self.leeway,
                now=datetime.now(UTC),
            )  # fmt: skip
        except InvalidTokenError as error:
            raise UpstreamError(f"{provider.id}: ID token refused: {error.description}") from None
        return claims


def _half_hashes(value: str, alg: str) -> tuple[str, ...]:
    """OIDC Core §3.1.3.6 at_hash: the left half of the hash the signing algorithm uses. For
    EdDSA the spec names none: SHA-512 (the Ed25519 hash) and SHA-256 are both in use."""
    hashes = ("sha512", "sha256") if alg == "EdDSA" else ("sha256",)
    out = []
    for name in hashes:
        digest = hashlib.new(name, value.encode("utf-8")).digest()
        out.append(base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode())
    return tuple(out)


def check_id_token_claims(
    claims: Mapping[str, Any], *, issuer: str, client_id: str, nonce: str, access_token: str,
    alg: str, leeway: int, now: datetime,
) -> None:  # fmt: skip
    """OIDC Core §3.1.3.7 steps 2-11 for a code-flow ID token whose signature was checked."""
    if claims.get("iss") != issuer:  # step 2
        raise InvalidTokenError("the ID token names another issuer")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if client_id not in audiences:  # step 3
        raise InvalidTokenError("the ID token is not for this client")
    azp = claims.get("azp")
    # Steps 4-5 (OIDC Core errata 2): with several audiences, or any azp, it must be us.
    if (len(audiences) > 1 or azp is not None) and azp != client_id:
        raise InvalidTokenError("the ID token was issued to another party")
    validate_time_claims(claims, now=now, leeway=leeway)  # steps 9-10: exp, and iat present
    sent = claims.get("nonce")  # step 11
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), nonce.encode()):
        raise InvalidTokenError("the ID token carries another nonce")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 255:  # §2: at most 255 ASCII characters
        raise InvalidTokenError("the ID token has no usable sub")
    at_hash = claims.get("at_hash")  # §3.1.3.8: optional in the code flow; right when present
    if at_hash is not None and at_hash not in _half_hashes(access_token, alg):
        raise InvalidTokenError("the ID token's at_hash is of another access token")


def _address(value: object) -> str | None:
    """The upstream's address as given, or None: never cut to fit (a cut address is another
    one), and never one that NFKC folding would turn into another (a full-width "ａ" must not
    match an account's "a")."""
    if not isinstance(value, str) or not value or len(value) > 254 or not is_clean_text(value):
        return None
    return value if normalize_email(value) == value.strip().lower() else None


def _text(value: object, limit: int) -> str | None:
    """A name to show, or None: no NUL or lone surrogate (neither can be stored)."""
    if not isinstance(value, str) or not value.strip() or not is_clean_text(value):
        return None
    return value[:limit]


def _identity_of(provider: UpstreamProvider, claims: dict[str, Any]) -> UpstreamIdentity:
    subject_claim = "sub" if provider.kind == "oidc" else provider.subject_claim
    subject = claims.get(subject_claim)
    if isinstance(subject, bool) or not isinstance(subject, str | int) or str(subject) == "":
        raise UpstreamError(f"{provider.id}: no {subject_claim} in the answer")
    # OIDC Core §2: at most 255 ASCII characters; printable ones, or it cannot be stored or shown.
    if len(str(subject)) > 255 or not str(subject).isascii() or not str(subject).isprintable():
        raise UpstreamError(f"{provider.id}: a subject we cannot keep")
    return UpstreamIdentity(
        subject=str(subject),
        email=_address(claims.get("email")),
        # OIDC Core §5.1: only a JSON true is a verified address.
        email_verified=claims.get("email_verified") is True,
        name=_text(claims.get("name"), 200) or "",
        preferred_username=_text(claims.get("preferred_username") or claims.get("login"), 64),
    )
