"""A FAPI 2.0 style client for MyAuthProvider, in one file: httpx and joserfc, nothing else.

It shows the four things a high-security client does differently from an ordinary one:

1. it authenticates with a signed JWT instead of a shared secret (private_key_jwt, RFC 7523 §2.2);
2. it pushes its authorization request over the back channel first (PAR, RFC 9126), so the browser
   carries only an opaque request_uri that nobody can edit;
3. it proves possession of a key with every token request and API call (DPoP, RFC 9449), so a
   stolen access or refresh token is useless without that key;
4. it checks the `iss` parameter on the way back (RFC 9207), against mix-up attacks.

Run it against `make run` (README "High-security clients", "Example client"):

    python examples/fapi2_client.py --generate-key --key client-key.json > client-jwks.json
    # register a client with that JWKS (the README gives the command), then:
    python examples/fapi2_client.py --client-id CLIENT_ID --key client-key.json

It prints the authorization URL; sign in in a browser, then paste the URL the browser was sent
to (the page will not load: nothing listens at the redirect URI, the URL is all that matters).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from joserfc import jws, jwt
from joserfc.jwk import ECKey, KeySet, RSAKey, import_key

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class DPoPKey:
    """The client's proof-of-possession key: made fresh per session, never registered anywhere."""

    key: ECKey = field(default_factory=lambda: ECKey.generate_key("P-256"))
    # RFC 9449 §8: each server may hand out a nonce to put in the next proof; kept per origin.
    nonces: dict[str, str] = field(default_factory=dict)

    @property
    def thumbprint(self) -> str:
        """RFC 7638: what the server puts in the token's cnf.jkt."""
        return self.key.thumbprint()

    def proof(self, method: str, url: str, access_token: str | None = None) -> str:
        """RFC 9449 §4.2: a one-time JWT over the request's method and URL (no query)."""
        parts = urlsplit(url)
        htu = f"{parts.scheme}://{parts.netloc}{parts.path}"
        claims: dict[str, Any] = {
            "htm": method,
            "htu": htu,
            "iat": int(time.time()),
            "jti": secrets.token_urlsafe(16),
        }
        nonce = self.nonces.get(f"{parts.scheme}://{parts.netloc}")
        if nonce:
            claims["nonce"] = nonce
        if access_token is not None:
            # RFC 9449 §4.2: at a resource server the proof also covers the token it comes with.
            claims["ath"] = b64url(hashlib.sha256(access_token.encode()).digest())
        header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": self.key.as_dict(private=False)}
        return jws.serialize_compact(header, json.dumps(claims), self.key, algorithms=["ES256"])

    def remember_nonce(self, url: str, response: httpx.Response) -> bool:
        """Keep a DPoP-Nonce the server sent; True when the request must be retried with it."""
        nonce = response.headers.get("DPoP-Nonce")
        if nonce:
            parts = urlsplit(url)
            self.nonces[f"{parts.scheme}://{parts.netloc}"] = nonce
        challenge = response.headers.get("WWW-Authenticate", "")
        error = response.json().get("error") if _is_json(response) else None
        return bool(nonce) and bool(error == "use_dpop_nonce" or "use_dpop_nonce" in challenge)


def _is_json(response: httpx.Response) -> bool:
    return str(response.headers.get("content-type", "")).startswith("application/json")


@dataclass
class Fapi2Client:
    """One registered client: its id, its private signing key and where it talks to."""

    issuer: str
    client_id: str
    signing_key: Any  # a joserfc RSA, EC or OKP private key
    signing_alg: str
    redirect_uri: str
    http: httpx.Client
    dpop: DPoPKey = field(default_factory=DPoPKey)
    metadata: dict[str, Any] = field(default_factory=dict)

    def discover(self) -> None:
        """RFC 8414 §3: everything else is found from the issuer URL alone."""
        response = self.http.get(f"{self.issuer}/.well-known/oauth-authorization-server")
        response.raise_for_status()
        self.metadata = response.json()
        # RFC 8414 §3.3: the document must be the issuer's own.
        if self.metadata["issuer"] != self.issuer:
            raise ValueError("the metadata names another issuer")

    def client_assertion(self) -> dict[str, str]:
        """RFC 7523 §2.2, FAPI 2.0 §5.3.3: a short-lived, single-use JWT signed with our key;
        the audience is the issuer identifier."""
        now = int(time.time())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.issuer,
            "iat": now,
            "exp": now + 60,
            "jti": secrets.token_urlsafe(16),
        }
        header = {"alg": self.signing_alg, "kid": self.signing_key.kid}
        token = jwt.encode(header, claims, self.signing_key, algorithms=[self.signing_alg])
        return {"client_assertion_type": JWT_BEARER, "client_assertion": token}

    def post(self, endpoint: str, form: dict[str, str]) -> httpx.Response:
        """A back-channel POST with a fresh assertion and DPoP proof; once more on use_dpop_nonce."""
        url = self.metadata[endpoint]
        for _ in range(2):
            data = {**form, "client_id": self.client_id, **self.client_assertion()}
            response = self.http.post(
                url, data=data, headers={"DPoP": self.dpop.proof("POST", url)}
            )
            if not self.dpop.remember_nonce(url, response):
                return response
        return response

    def push_authorization_request(self, scope: str) -> dict[str, str]:
        """RFC 9126 §2 with PKCE (RFC 7636, S256 only). Returns what the callback is checked with."""
        verifier = secrets.token_urlsafe(48)
        pending = {
            "state": secrets.token_urlsafe(16),
            "nonce": secrets.token_urlsafe(16),
            "verifier": verifier,
        }
        response = self.post(
            "pushed_authorization_request_endpoint",
            {
                "response_type": "code",
                "redirect_uri": self.redirect_uri,
                "scope": scope,
                "state": pending["state"],
                "nonce": pending["nonce"],
                "code_challenge": b64url(hashlib.sha256(verifier.encode()).digest()),
                "code_challenge_method": "S256",
            },
        )
        if response.status_code != 201:
            raise RuntimeError(f"PAR refused: {response.text}")
        # RFC 9126 §4: the browser carries only client_id and the opaque request_uri.
        query = urlencode(
            {"client_id": self.client_id, "request_uri": response.json()["request_uri"]}
        )
        pending["authorization_url"] = f"{self.metadata['authorization_endpoint']}?{query}"
        return pending

    def code_from_callback(self, callback_url: str, pending: dict[str, str]) -> str:
        """RFC 6749 §4.1.2 plus RFC 9207 §2.4: the answer must carry our state and our issuer."""
        answer = {k: v[0] for k, v in parse_qs(urlsplit(callback_url).query).items()}
        if answer.get("iss") != self.issuer:
            raise ValueError("the response comes from another issuer (RFC 9207)")
        if answer.get("state") != pending["state"]:
            raise ValueError("the state does not match: not the request we sent")
        if "error" in answer:
            raise RuntimeError(f"authorization failed: {answer['error']}")
        return answer["code"]

    def redeem(self, code: str, pending: dict[str, str]) -> dict[str, Any]:
        """RFC 6749 §4.1.3 with a DPoP proof: the tokens come back bound to our DPoP key."""
        response = self.post(
            "token_endpoint",
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.redirect_uri,
                "code_verifier": pending["verifier"],
            },
        )
        tokens = self._tokens(response)
        self.check_id_token(tokens["id_token"], pending["nonce"])
        return tokens

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        """RFC 6749 §6 with a proof from the same key (RFC 9449 §5): a thief cannot refresh."""
        response = self.post(
            "token_endpoint", {"grant_type": "refresh_token", "refresh_token": refresh_token}
        )
        return self._tokens(response)

    def _tokens(self, response: httpx.Response) -> dict[str, Any]:
        if response.status_code != 200:
            raise RuntimeError(f"token request refused: {response.text}")
        tokens: dict[str, Any] = response.json()
        if tokens.get("token_type") != "DPoP":  # RFC 9449 §5: else the token is not bound
            raise ValueError("the server issued an unbound token")
        return tokens

    def check_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        """OIDC Core §3.1.3.7: signature from the issuer's published keys, issuer, audience, nonce."""
        keys = KeySet.import_key_set(self.http.get(self.metadata["jwks_uri"]).json())
        algorithms = self.metadata["id_token_signing_alg_values_supported"]
        claims = jwt.decode(id_token, keys, algorithms=algorithms).claims
        if claims["iss"] != self.issuer or claims["aud"] not in (self.client_id, [self.client_id]):
            raise ValueError("the ID token is not for us")
        if claims.get("nonce") != nonce or claims["exp"] < time.time():
            raise ValueError("the ID token is stale or answers another request")
        return claims

    def call_api(self, url: str, access_token: str) -> httpx.Response:
        """RFC 9449 §7.1: `Authorization: DPoP <token>` plus a proof carrying the token's hash."""
        for _ in range(2):
            headers = {
                "Authorization": f"DPoP {access_token}",
                "DPoP": self.dpop.proof("GET", url, access_token),
            }
            response = self.http.get(url, headers=headers)
            if not self.dpop.remember_nonce(url, response):
                return response
        return response


def load_signing_key(path: str) -> tuple[Any, str]:
    """A private JWK file with `kid` and `alg` (PS256, ES256 or EdDSA for FAPI 2.0)."""
    with open(path, encoding="utf-8") as file:
        jwk = json.load(file)
    return import_key(jwk), jwk["alg"]


def generate_key(path: str) -> dict[str, Any]:
    """A new PS256 client key: the private JWK goes to `path`, the public JWK Set is returned
    for registering the client (`auth-service clients create ... --jwks FILE`)."""
    key = RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(8), "alg": "PS256"})
    with open(path, "w", encoding="utf-8") as file:
        json.dump(key.as_dict(private=True), file)
    return {"keys": [{**key.as_dict(private=False), "use": "sig"}]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--issuer", default="http://127.0.0.1:8000")
    parser.add_argument("--api", default="http://127.0.0.1:8001/api/v1/notes")
    parser.add_argument("--client-id")
    parser.add_argument("--key", required=True, help="the client's private JWK (JSON file)")
    parser.add_argument("--redirect-uri", default="http://127.0.0.1:9/callback")
    parser.add_argument("--scope", default="openid read:notes")
    parser.add_argument(
        "--generate-key", action="store_true", help="write a new key to --key, print its JWKS"
    )
    args = parser.parse_args()
    if args.generate_key:
        print(json.dumps(generate_key(args.key)))
        return
    if not args.client_id:
        parser.error("--client-id is required")

    key, alg = load_signing_key(args.key)
    with httpx.Client(timeout=10) as http:
        client = Fapi2Client(args.issuer, args.client_id, key, alg, args.redirect_uri, http)
        client.discover()
        pending = client.push_authorization_request(args.scope)
        print("Open this URL, sign in and allow access:\n\n ", pending["authorization_url"])
        callback = input("\nPaste the URL your browser was sent to: ").strip()
        tokens = client.redeem(client.code_from_callback(callback, pending), pending)
        print("Access token bound to DPoP key", client.dpop.thumbprint)
        notes = client.call_api(args.api, tokens["access_token"])
        print("Notes API:", notes.status_code, notes.text)
        refreshed = client.refresh(tokens["refresh_token"])
        print("Refreshed; new access token expires in", refreshed["expires_in"], "s")


if __name__ == "__main__":
    main()
