"""`auth-service clients create/update --profile fapi2` (FAPI 2.0 Security Profile §5.3.2.1,
§5.3.2.2, §5.4.1) through the real CLI against a fresh, migrated database."""

from __future__ import annotations

import json
from pathlib import Path

from shared.models import Client
from tests.e2e.test_cli import REDIRECT_URI, assert_cli_error, client_row, rows, stack
from tests.support.admin_cli import run_cli
from tests.support.assertions_jwt import jwks_of, new_client_key
from tests.support.live import LiveStack

__all__ = ["stack"]  # the fixture, shared with test_cli


def jwks_file(tmp_path: Path) -> str:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks_of(new_client_key("ES256"))))
    return str(path)


def test_cli_create_fapi2_forces_par_dpop_and_a_fapi_alg(stack: LiveStack, tmp_path: Path) -> None:
    created = run_cli(
        stack, "clients", "create", "--name", "Bank", "--redirect-uri", REDIRECT_URI,
        "--profile", "fapi2", "--auth-method", "private_key_jwt", "--jwks", jwks_file(tmp_path),
        "--grant-type", "authorization_code", "--grant-type", "refresh_token",
    ).json()  # fmt: skip
    row = client_row(stack, created["client_id"])
    assert row.profile == "fapi2"
    assert row.require_pushed_authorization_requests is True
    assert row.dpop_bound_access_tokens is True
    assert row.require_pkce is True
    assert row.id_token_signed_response_alg == "PS256"  # §5.4.1: never RS256; PS256 first

    # Dropping the profile keeps what it had set; the columns are the client's own again.
    dropped = run_cli(stack, "clients", "update", created["client_id"], "--profile", "none")
    assert dropped.json().get("profile") is None
    assert client_row(stack, created["client_id"]).profile is None


def test_cli_create_fapi2_with_a_secret_exits_1_and_creates_nothing(stack: LiveStack) -> None:
    result = run_cli(
        stack, "clients", "create", "--name", "Bank", "--redirect-uri", REDIRECT_URI,
        "--profile", "fapi2",
    )  # fmt: skip
    assert_cli_error(
        result,
        "token_endpoint_auth_method: a fapi2 client must use token_endpoint_auth_method "
        "private_key_jwt",
    )
    assert rows(stack, Client) == []


def test_cli_create_fapi2_with_rs256_exits_1_and_creates_nothing(
    stack: LiveStack, tmp_path: Path
) -> None:
    result = run_cli(
        stack, "clients", "create", "--name", "Bank", "--redirect-uri", REDIRECT_URI,
        "--profile", "fapi2", "--auth-method", "private_key_jwt", "--jwks", jwks_file(tmp_path),
        "--id-token-alg", "RS256",
    )  # fmt: skip
    assert_cli_error(
        result,
        "id_token_signed_response_alg: id_token_signed_response_alg of a fapi2 client must be "
        "PS256, ES256 or EdDSA",
    )
    assert rows(stack, Client) == []
