"""The suite's HTTP calls, each recorded in the ledger: token endpoint, resource API, browser forms."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from chaos.cluster import Instance
from chaos.ledger import Entry, Ledger

REDIRECT_URI = "http://127.0.0.1:9/callback"
SCOPE = "openid profile"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_REQUEST_ID = re.compile(r"request_id=([A-Za-z0-9_\-]+)")


def new_client() -> httpx.AsyncClient:
    """An HTTP client (or a browser's cookie jar) for the suite.

    Idle connections are dropped after 2 s, before uvicorn's 5 s keep-alive timeout: otherwise a
    request sent on a connection the server is closing at that instant gets no answer, a race
    of HTTP/1.1 keep-alive that browsers hide by retrying and that is no fault of the services.
    """
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=100, keepalive_expiry=2.0)
    return httpx.AsyncClient(timeout=10, limits=limits)


def sha256_hex(value: str) -> str:
    """What the auth service stores for codes and refresh tokens (their SHA-256 digest)."""
    return hashlib.sha256(value.encode()).hexdigest()


def _b64json(part: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return data


def jwt_header_and_claims(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Unverified: the suite only reads ids out of tokens it was given."""
    header, claims, _ = token.split(".")
    return _b64json(header), _b64json(claims)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True, slots=True)
class User:
    username: str
    password: str


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    client_id: str
    client_secret: str

    @property
    def basic(self) -> httpx.BasicAuth:
        return httpx.BasicAuth(self.client_id, self.client_secret)


@dataclass
class AccessToken:
    value: str
    jti: str
    grant_id: str
    kid: str
    exp: float
    sub: str = ""

    @classmethod
    def parse(cls, value: str) -> AccessToken:
        header, claims = jwt_header_and_claims(value)
        return cls(
            value,
            claims["jti"],
            claims.get("grant_id", ""),
            header["kid"],
            claims["exp"],
            claims["sub"],
        )

    def ids(self) -> dict[str, str]:
        return {"jti": self.jti, "grant": self.grant_id, "kid": self.kid}


@dataclass
class Family:
    """One grant as its client sees it: the current refresh and access tokens."""

    grant_id: str
    refresh_token: str
    access: AccessToken
    rotated: list[str] = field(default_factory=list)  # earlier refresh tokens, oldest first
    revoked_at: float | None = None  # when our revocation of it was answered
    dead: bool = False  # the auth service refused its refresh token

    @property
    def live(self) -> bool:
        return self.revoked_at is None and not self.dead


@dataclass(frozen=True, slots=True)
class Code:
    value: str
    verifier: str


class Api:
    """Calls that pick an instance like a load balancer would: at random, and on a refused
    connection (nothing was sent) the next one. Everything lands in the ledger."""

    def __init__(
        self,
        ledger: Ledger,
        http: httpx.AsyncClient,
        auth: Sequence[Instance],
        resource: Sequence[Instance],
        client: ClientCredentials,
        issuer: str,
        rng: random.Random,
    ) -> None:
        self.ledger = ledger
        self.http = http
        self.auth = list(auth)
        self.resource = list(resource)
        self.client = client
        self.issuer = issuer
        self.rng = rng
        self.scenario = "setup"
        self.last_step: dict[int, Entry] = {}  # id(browser) -> its flow's latest step

    async def call(
        self,
        target: Instance,
        op: str,
        method: str,
        path: str,
        *,
        browser: httpx.AsyncClient | None = None,
        ids: dict[str, str] | None = None,
        note: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> tuple[Entry, httpx.Response | None]:
        http = browser or self.http
        entry = Entry(time.time(), 0.0, self.scenario, target.name, op, None, None, dict(ids or {}))
        entry.note.update(note or {})
        response: httpx.Response | None = None
        try:
            response = await http.request(method, target.url + path, **kwargs)
        except Exception as exc:  # noqa: BLE001 - httpx (and anyio under it) on a killed peer
            entry.error = type(exc).__name__
        entry.t1 = time.time()
        if response is not None:
            entry.status = response.status_code
            if response.status_code >= 400:
                entry.error, description = _error_of(response)
                if description:
                    entry.note["description"] = description
            if "retry-after" in response.headers:
                entry.note["retry_after"] = response.headers["retry-after"]
        self.ledger.add(entry)
        return entry, response

    async def call_any(
        self, kind: str, op: str, method: str, path: str, **kwargs: Any
    ) -> tuple[Entry, httpx.Response | None]:
        targets = list(self.auth if kind == "auth" else self.resource)
        self.rng.shuffle(targets)
        for target in targets:
            entry, response = await self.call(target, op, method, path, **kwargs)
            if entry.error != "ConnectError":
                break
        return entry, response

    # --- token endpoint -------------------------------------------------------------------

    async def token(
        self, op: str, data: dict[str, str], ids: dict[str, str], target: Instance | None
    ) -> tuple[Entry, httpx.Response | None]:
        kwargs: dict[str, Any] = {"data": data, "auth": self.client.basic, "ids": ids}
        if target is not None:
            return await self.call(target, op, "POST", "/oauth/token", **kwargs)
        return await self.call_any("auth", op, "POST", "/oauth/token", **kwargs)

    async def redeem(
        self, code: Code, target: Instance | None = None
    ) -> tuple[Entry, Family | None]:
        data = {
            "grant_type": "authorization_code",
            "code": code.value,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": code.verifier,
        }
        entry, response = await self.token("code", data, {"code": sha256_hex(code.value)}, target)
        return entry, _family_from(entry, response)

    async def refresh(
        self, refresh_token: str, target: Instance | None = None
    ) -> tuple[Entry, Family | None]:
        data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        ids = {"rt_in": sha256_hex(refresh_token)}
        entry, response = await self.token("refresh", data, ids, target)
        return entry, _family_from(entry, response)

    async def revoke(
        self, token: str, hint: str, ids: dict[str, str], target: Instance | None = None
    ) -> Entry:
        kwargs: dict[str, Any] = {
            "data": {"token": token, "token_type_hint": hint},
            "auth": self.client.basic,
            "ids": ids,
            "note": {"hint": hint},
        }
        if target is not None:
            return (await self.call(target, "revoke", "POST", "/oauth/revoke", **kwargs))[0]
        return (await self.call_any("auth", "revoke", "POST", "/oauth/revoke", **kwargs))[0]

    async def introspect(self, token: str, hint: str, ids: dict[str, str]) -> Entry:
        entry, response = await self.call_any(
            "auth",
            "introspect",
            "POST",
            "/oauth/introspect",
            data={"token": token, "token_type_hint": hint},
            auth=self.client.basic,
            ids=ids,
            note={"hint": hint},
        )
        if response is not None and response.status_code == 200:
            entry.note["active"] = bool(response.json().get("active"))
        return entry

    # --- resource API ---------------------------------------------------------------------

    async def resource_call(
        self,
        access: AccessToken,
        *,
        target: Instance | None = None,
        op: str = "resource",
        note: dict[str, Any] | None = None,
    ) -> Entry:
        kwargs: dict[str, Any] = {
            "headers": {"Authorization": f"Bearer {access.value}"},
            "ids": access.ids(),
            "note": {"exp": access.exp, **(note or {})},
        }
        if target is not None:
            return (await self.call(target, op, "GET", "/api/v1/me", **kwargs))[0]
        return (await self.call_any("resource", op, "GET", "/api/v1/me", **kwargs))[0]

    # --- the user's browser ---------------------------------------------------------------

    async def authorize(
        self, browser: httpx.AsyncClient, user: User, *, prompt: str | None = None
    ) -> Code | None:
        """Walk /oauth/authorize, /login and /consent as a browser, each step on any instance."""
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(12)
        params = {
            "response_type": "code",
            "client_id": self.client.client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": SCOPE,
            "state": state,
            "nonce": secrets.token_urlsafe(12),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        if prompt:
            params["prompt"] = prompt
        entry, response = await self.call_any(
            "auth", "authorize", "GET", "/oauth/authorize", browser=browser, params=params
        )
        request_id: str | None = None
        for _ in range(8):
            self.last_step[id(browser)] = entry
            if response is None or response.status_code >= 400:
                return None
            location = response.headers.get("location", "")
            if response.status_code == 302:
                code = code_from_redirect(location, state, self.issuer)
                if code is not None:
                    entry.ids["code"] = sha256_hex(code)
                    return Code(code, verifier)
                entry.note["location"] = location[:300]  # an error redirect: why, for the report
                return None
            if response.status_code == 303 and location.startswith("/"):
                request_id = request_id_from(location) or request_id
                op = location.split("?", 1)[0].strip("/").replace("/", "_") or "home"
                entry, response = await self.call_any("auth", op, "GET", location, browser=browser)
                continue
            if response.status_code != 200:
                return None
            csrf = csrf_from(response.text)
            if csrf is None or request_id is None:
                return None
            if 'name="password"' in response.text:
                form = {"username": user.username, "password": user.password}
                op, path = "login_form", "/login"
            else:
                form, op, path = {"allow": "allow"}, "consent_form", "/consent"
            form.update({"csrf_token": csrf, "request_id": request_id})
            entry, response = await self.call_any(
                "auth", op, "POST", path, browser=browser, data=form
            )
        return None


def _family_from(entry: Entry, response: httpx.Response | None) -> Family | None:
    """A 200 token response as a Family; its ids complete the ledger entry."""
    if response is None or response.status_code != 200:
        return None
    body = response.json()
    access = AccessToken.parse(body["access_token"])
    family = Family(access.grant_id, body["refresh_token"], access)
    entry.ids.update(access.ids())
    entry.ids["rt"] = sha256_hex(family.refresh_token)
    return family


def _error_of(response: httpx.Response) -> tuple[str | None, str | None]:
    """The OAuth `error` and `error_description` of a JSON error body, if it is one."""
    if not response.headers.get("content-type", "").startswith("application/json"):
        return None, None
    try:
        body = response.json()
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    error, description = body.get("error"), body.get("error_description")
    return (str(error) if error else None), (str(description) if description else None)


def code_from_redirect(location: str, state: str, issuer: str) -> str | None:
    if not location.startswith(REDIRECT_URI + "?"):
        return None
    params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    if params.get("state") != state or params.get("iss") != issuer:
        raise AssertionError(f"bad authorization response: {sorted(params)}")
    return params.get("code")


def csrf_from(html: str) -> str | None:
    match = _CSRF.search(html)
    return match.group(1) if match else None


def request_id_from(location: str) -> str | None:
    match = _REQUEST_ID.search(location)
    return match.group(1) if match else None
