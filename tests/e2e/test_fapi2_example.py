"""examples/fapi2_client.py, the README's high-security example, against real uvicorn auth and
resource services: PAR, private_key_jwt, DPoP and PKCE, a bound call to the notes API, a bound
refresh. The browser's part (login and consent) is played over HTTP."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.support.assertions_jwt import ClientKey, jwks_of, new_client_key
from tests.support.databases import fresh_database
from tests.support.flows import csrf_from
from tests.support.live import LiveStack, live_stack

pytestmark = pytest.mark.e2e
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fapi2_client.py"
REDIRECT_URI = "http://127.0.0.1:9/callback"
SCOPE = "openid read:notes"


def load_example() -> ModuleType:
    """The example is a script, not a package: loaded from its file as a reader would run it."""
    spec = importlib.util.spec_from_file_location("fapi2_client", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fapi2_client"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    tmp_path = tmp_path_factory.mktemp("fapi2-example")
    with fresh_database(tmp_path) as url, live_stack(url, tmp_path) as live:
        live.start_auth()
        live.start_resource()
        live.cli("users", "create", "--username", "alice", "--password", "alice-password-1",
                 "--email", "alice@example.com")  # fmt: skip
        yield live


def register_fapi2_client(stack: LiveStack, key: ClientKey, tmp_path: Path) -> str:
    """The registration the README's "Example client" gives, with the real admin CLI."""
    jwks_file = tmp_path / "client-jwks.json"
    jwks_file.write_text(json.dumps(jwks_of(key)))
    created = stack.cli(
        "clients", "create", "--name", "FAPI Example", "--redirect-uri", REDIRECT_URI,
        "--scope", SCOPE, "--auth-method", "private_key_jwt", "--jwks", str(jwks_file),
        "--profile", "fapi2",
    )  # fmt: skip
    client_id: str = created["client_id"]
    return client_id


def write_private_key(key: ClientKey, tmp_path: Path) -> Path:
    path = tmp_path / "client-key.json"
    path.write_text(json.dumps({**key.key.as_dict(private=True), "kid": key.kid, "alg": key.alg}))
    return path


def sign_in_and_consent(stack: LiveStack, authorization_url: str) -> str:
    """What the user does in the browser; returns the URL the browser is finally sent to."""
    with httpx.Client() as browser:
        response = browser.get(authorization_url)
        assert response.status_code == 303, response.text
        request_id = re.search(r"request_id=([\w-]+)", response.headers["location"])
        assert request_id is not None
        page = browser.get(stack.issuer + response.headers["location"])
        response = browser.post(f"{stack.issuer}/login", data={
            "username": "alice", "password": "alice-password-1",
            "csrf_token": csrf_from(page.text), "request_id": request_id.group(1),
        })  # fmt: skip
        consent = browser.get(stack.issuer + response.headers["location"])
        response = browser.post(f"{stack.issuer}/consent", data={
            "allow": "allow", "request_id": request_id.group(1),
            "csrf_token": csrf_from(consent.text),
        })  # fmt: skip
        location: str = response.headers["location"]
        assert location.startswith(REDIRECT_URI + "?")
        return location


def test_the_example_client_gets_bound_tokens_calls_the_notes_api_and_refreshes(
    stack: LiveStack, tmp_path: Path
) -> None:
    example = load_example()
    key = new_client_key("PS256")
    client_id = register_fapi2_client(stack, key, tmp_path)
    signing_key, alg = example.load_signing_key(str(write_private_key(key, tmp_path)))
    notes_url = f"{stack.audience}/api/v1/notes"

    with httpx.Client(timeout=10) as http:
        client = example.Fapi2Client(stack.issuer, client_id, signing_key, alg, REDIRECT_URI, http)
        client.discover()
        pending = client.push_authorization_request(SCOPE)
        callback = sign_in_and_consent(stack, pending["authorization_url"])
        with pytest.raises(ValueError, match="state"):
            client.code_from_callback(callback.replace("state=", "state=x"), pending)
        tokens = client.redeem(client.code_from_callback(callback, pending), pending)
        notes = client.call_api(notes_url, tokens["access_token"])
        as_bearer = http.get(
            notes_url, headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
        refreshed = client.refresh(tokens["refresh_token"])
        after_refresh = client.call_api(notes_url, refreshed["access_token"])

        keys = KeySet.import_key_set(http.get(client.metadata["jwks_uri"]).json())
    access = jwt.decode(tokens["access_token"], keys, algorithms=["PS256"]).claims
    assert tokens["token_type"] == "DPoP"
    assert access["cnf"] == {"jkt": client.dpop.thumbprint}
    assert access["client_id"] == client_id
    assert notes.status_code == 200, notes.text
    assert notes.json()["items"] == []
    # RFC 9449 §7.1: a bound token without its proof is refused with a DPoP challenge.
    assert as_bearer.status_code == 401
    assert as_bearer.headers["www-authenticate"].startswith("DPoP ")
    assert refreshed["token_type"] == "DPoP"
    # FAPI 2.0 §5.3.2.1: the profile keeps (does not rotate) the DPoP-bound refresh token.
    assert refreshed["refresh_token"] == tokens["refresh_token"]
    assert after_refresh.status_code == 200, after_refresh.text
