"""The real `auth-service` admin CLI against a fresh, migrated database: clients and signing keys."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from auth_service.security.secrets import hash_token
from shared.models import Client, SigningKey
from tests.support.admin_cli import CliResult, run_cli
from tests.support.databases import fresh_database
from tests.support.live import LiveStack, live_stack, rows

REDIRECT_URI = "https://app.example/callback"
KEY_ACTIVATION_DELAY = 600  # AUTH_KEY_ACTIVATION_DELAY default
RETIREMENT_MARGIN = timedelta(minutes=5)  # auth_service.operations.key_lifecycle.RETIREMENT_MARGIN
pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LiveStack]:
    with fresh_database(tmp_path) as url, live_stack(url, tmp_path) as live:
        yield live


def client_row(stack: LiveStack, client_id: str) -> Client:
    (row,) = [c for c in rows(stack, Client) if c.client_id == client_id]
    return row


def assert_cli_error(result: CliResult, message: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr == f"error: {message}\n"


def create_client(stack: LiveStack, *extra: str) -> dict[str, str]:
    created: dict[str, str] = run_cli(
        stack, "clients", "create", "--name", "CLI App", "--redirect-uri", REDIRECT_URI, *extra
    ).json()
    return created


def test_cli_clients_create_with_can_introspect_is_listed_with_it(stack: LiveStack) -> None:
    created = create_client(stack, "--scope", "openid profile", "--can-introspect")

    listed = run_cli(stack, "clients", "list").json()

    assert set(created) == {"client_id", "client_secret"}
    assert listed == [
        {
            "client_id": created["client_id"],
            "name": "CLI App",
            "public": False,
            "redirect_uris": [REDIRECT_URI],
            "scope": "openid profile",
            "grant_types": ["authorization_code", "refresh_token"],
            "first_party": False,
            "can_introspect": True,
            "access_token_ttl": None,
            "refresh_token_ttl": None,
            "require_pushed_authorization_requests": False,
            "dpop_bound_access_tokens": False,
            "id_token_signed_response_alg": None,
            "profile": None,
            "resources": None,
            "from_metadata_document": False,
        }
    ]
    assert client_row(stack, created["client_id"]).client_secret_hash == hash_token(
        created["client_secret"]
    )


def test_cli_clients_create_dpop_bound_requires_proofs_and_update_can_relax_it(
    stack: LiveStack,
) -> None:
    # RFC 9449 section 5.2: dpop_bound_access_tokens, set by the operator.
    client_id = create_client(stack, "--dpop-bound")["client_id"]
    assert client_row(stack, client_id).dpop_bound_access_tokens is True

    updated = run_cli(stack, "clients", "update", client_id, "--dpop-optional").json()

    assert updated["dpop_bound_access_tokens"] is False
    assert client_row(stack, client_id).dpop_bound_access_tokens is False


def test_cli_clients_update_first_party_password_grant_is_saved_and_listed(
    stack: LiveStack,
) -> None:
    client_id = create_client(stack)["client_id"]

    updated = run_cli(
        stack, "clients", "update", client_id,
        "--first-party", "--grant-type", "password", "--grant-type", "refresh_token",
    ).json()  # fmt: skip

    assert (updated["client_id"], updated["first_party"], updated["grant_types"]) == (
        client_id,
        True,
        ["password", "refresh_token"],
    )
    (listed,) = run_cli(stack, "clients", "list").json()
    assert listed == updated
    row = client_row(stack, client_id)
    assert (row.is_first_party, row.grant_types) == (True, ["password", "refresh_token"])


def test_cli_clients_update_password_grant_for_third_party_exits_1_and_changes_nothing(
    stack: LiveStack,
) -> None:
    client_id = create_client(stack)["client_id"]

    result = run_cli(stack, "clients", "update", client_id, "--grant-type", "password")

    assert_cli_error(
        result,
        "grant_types: the password grant is only for first-party clients (RFC 9700 section 2.4)",
    )
    assert client_row(stack, client_id).grant_types == ["authorization_code", "refresh_token"]


def test_cli_clients_update_lifetimes_out_of_bounds_exits_1_and_zero_resets(
    stack: LiveStack,
) -> None:
    client_id = create_client(stack, "--access-token-ttl", "300")["client_id"]

    too_short = run_cli(stack, "clients", "update", client_id, "--access-token-ttl", "10")
    reset = run_cli(stack, "clients", "update", client_id, "--access-token-ttl", "0").json()

    assert_cli_error(too_short, "access_token_ttl: access token lifetime must be 30-86400 seconds")
    assert reset["access_token_ttl"] is None
    assert client_row(stack, client_id).access_token_ttl is None


def test_cli_clients_update_unknown_client_exits_1(stack: LiveStack) -> None:
    result = run_cli(stack, "clients", "update", "no-such-client", "--name", "Renamed")

    assert_cli_error(result, "client_id: no such client")


def test_cli_clients_create_invalid_redirect_uri_exits_1_and_creates_nothing(
    stack: LiveStack,
) -> None:
    result = run_cli(
        stack, "clients", "create", "--name", "Bad", "--redirect-uri", "http://evil.example/cb"
    )

    assert_cli_error(
        result,
        "redirect_uris: http://evil.example/cb: http redirect URIs are allowed only for "
        "localhost, 127.0.0.1 and [::1] (RFC 8252 section 7.3)",
    )
    assert rows(stack, Client) == []


def test_cli_clients_rotate_secret_prints_new_secret_and_replaces_stored_hash(
    stack: LiveStack,
) -> None:
    created = create_client(stack)
    old_hash = client_row(stack, created["client_id"]).client_secret_hash

    rotated = run_cli(stack, "clients", "rotate-secret", created["client_id"]).json()

    assert set(rotated) == {"client_id", "client_secret"}
    assert rotated["client_id"] == created["client_id"]
    assert rotated["client_secret"] != created["client_secret"]
    new_hash = client_row(stack, created["client_id"]).client_secret_hash
    assert old_hash == hash_token(created["client_secret"])
    assert new_hash == hash_token(rotated["client_secret"])
    assert new_hash != old_hash


def test_cli_clients_rotate_secret_unknown_or_public_client_exits_1(stack: LiveStack) -> None:
    public = create_client(stack, "--public")

    unknown = run_cli(stack, "clients", "rotate-secret", "no-such-client")
    public_result = run_cli(stack, "clients", "rotate-secret", public["client_id"])

    assert set(public) == {"client_id"}
    assert_cli_error(unknown, "client_id: no such client")
    assert_cli_error(public_result, "client_secret: a public client has no secret")
    assert client_row(stack, public["client_id"]).client_secret_hash is None


def test_cli_keys_rotate_prints_key_that_activates_after_the_delay(stack: LiveStack) -> None:
    assert run_cli(stack, "keys", "list").json() == []
    before = datetime.now(UTC)

    rotated = run_cli(stack, "keys", "rotate").json()

    after = datetime.now(UTC)
    # The AUTH_SIGNING_ALG key on top, as before; `keys` has one new key per held algorithm.
    assert set(rotated) == {"kid", "alg", "activates_at", "keys"}
    assert rotated["alg"] == "RS256"
    assert [k["alg"] for k in rotated["keys"]] == ["RS256", "PS256", "ES256", "EdDSA"]
    assert {k["activates_at"] for k in rotated["keys"]} == {rotated["activates_at"]}
    assert rotated["keys"][0]["kid"] == rotated["kid"]
    activates_at = datetime.fromisoformat(rotated["activates_at"])
    delay = timedelta(seconds=KEY_ACTIVATION_DELAY)
    assert before + delay <= activates_at <= after + delay
    for key in rotated["keys"]:
        key_file = stack.key_dir / f"{key['kid']}.pem"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    listed = {key["kid"]: key for key in run_cli(stack, "keys", "list").json()}
    assert {kid: key["alg"] for kid, key in listed.items()} == {
        k["kid"]: k["alg"] for k in rotated["keys"]
    }
    for key in listed.values():
        assert key["activates_at"] == rotated["activates_at"]
        assert key["retires_at"] is None
        assert datetime.fromisoformat(key["created_at"]) < activates_at


def test_cli_keys_rotate_honours_activation_delay_setting(stack: LiveStack) -> None:
    before = datetime.now(UTC)

    rotated = run_cli(stack, "keys", "rotate", AUTH_KEY_ACTIVATION_DELAY="1800").json()

    activates_at = datetime.fromisoformat(rotated["activates_at"])
    assert activates_at - before >= timedelta(seconds=1800)
    assert activates_at - before < timedelta(seconds=1800 + 60)


def test_cli_keys_rotate_again_schedules_retirement_of_the_previous_key(
    stack: LiveStack,
) -> None:
    first = run_cli(stack, "keys", "rotate").json()

    second = run_cli(stack, "keys", "rotate").json()

    listed = {key["kid"]: key for key in run_cli(stack, "keys", "list").json()}
    first_kids = {k["kid"] for k in first["keys"]}
    second_kids = {k["kid"] for k in second["keys"]}
    assert set(listed) == first_kids | second_kids and len(listed) == 8
    # The old keys stay published until every token they may have signed has expired: the
    # 24 h lifetime cap, whatever today's settings say (auth_service/operations/key_lifecycle.py).
    expected = (
        datetime.fromisoformat(second["activates_at"]) + timedelta(days=1) + RETIREMENT_MARGIN
    )
    for kid in first_kids:
        assert datetime.fromisoformat(listed[kid]["retires_at"]) == expected
    for kid in second_kids:
        assert listed[kid]["retires_at"] is None
    assert {row.kid for row in rows(stack, SigningKey)} == first_kids | second_kids


def test_cli_keys_rotate_alg_rotates_only_that_algorithms_key(stack: LiveStack) -> None:
    first = run_cli(stack, "keys", "rotate").json()

    only = run_cli(stack, "keys", "rotate", "--alg", "ES256").json()

    assert (only["alg"], [k["alg"] for k in only["keys"]]) == ("ES256", ["ES256"])
    listed = {key["kid"]: key for key in run_cli(stack, "keys", "list").json()}
    assert len(listed) == 5
    for key in first["keys"]:
        assert (listed[key["kid"]]["retires_at"] is not None) == (key["alg"] == "ES256")
    assert listed[only["kid"]]["retires_at"] is None


def test_cli_keys_rotate_alg_not_held_exits_1_and_creates_no_key(stack: LiveStack) -> None:
    not_held = run_cli(stack, "keys", "rotate", "--alg", "PS256", AUTH_SIGNING_ALGS="RS256,ES256")
    hmac = run_cli(stack, "keys", "rotate", "--alg", "HS256")

    assert_cli_error(not_held, "--alg must be one of RS256, ES256 (AUTH_SIGNING_ALGS)")
    assert_cli_error(hmac, "--alg must be one of RS256, PS256, ES256, EdDSA (AUTH_SIGNING_ALGS)")
    assert rows(stack, SigningKey) == []
    assert list(stack.key_dir.glob("*.pem")) == []


def test_cli_keys_rotate_prints_the_auth_signing_alg_key_on_top(stack: LiveStack) -> None:
    rotated = run_cli(
        stack, "keys", "rotate", AUTH_SIGNING_ALG="EdDSA", AUTH_SIGNING_ALGS="ES256,EdDSA"
    ).json()

    assert rotated["alg"] == "EdDSA"
    assert [k["alg"] for k in rotated["keys"]] == ["ES256", "EdDSA"]
    assert {row.alg for row in rows(stack, SigningKey)} == {"ES256", "EdDSA"}


# --- --id-token-alg (OIDC Registration id_token_signed_response_alg) ---


def test_cli_clients_create_and_update_id_token_alg_are_saved_and_listed(
    stack: LiveStack,
) -> None:
    client_id = create_client(stack, "--id-token-alg", "PS256")["client_id"]
    assert client_row(stack, client_id).id_token_signed_response_alg == "PS256"

    updated = run_cli(stack, "clients", "update", client_id, "--id-token-alg", "EdDSA").json()
    assert updated["id_token_signed_response_alg"] == "EdDSA"
    assert client_row(stack, client_id).id_token_signed_response_alg == "EdDSA"

    reset = run_cli(stack, "clients", "update", client_id, "--id-token-alg", "default").json()
    assert reset["id_token_signed_response_alg"] is None
    (listed,) = run_cli(stack, "clients", "list").json()
    assert listed == reset
    assert client_row(stack, client_id).id_token_signed_response_alg is None


@pytest.mark.parametrize("alg", ["none", "HS256", "RS512", "default"])
def test_cli_clients_create_id_token_alg_not_held_exits_1_and_creates_nothing(
    stack: LiveStack, alg: str
) -> None:
    result = run_cli(
        stack, "clients", "create", "--name", "Bad", "--redirect-uri", REDIRECT_URI,
        "--id-token-alg", alg,
    )  # fmt: skip

    assert_cli_error(
        result, "id_token_signed_response_alg: must be one of RS256, PS256, ES256, EdDSA"
    )
    assert rows(stack, Client) == []


def test_cli_clients_update_id_token_alg_not_held_exits_1_and_changes_nothing(
    stack: LiveStack,
) -> None:
    client_id = create_client(stack, "--id-token-alg", "ES256")["client_id"]

    result = run_cli(
        stack, "clients", "update", client_id, "--name", "Renamed", "--id-token-alg", "PS256",
        AUTH_SIGNING_ALGS="RS256,ES256",
    )  # fmt: skip

    assert_cli_error(result, "id_token_signed_response_alg: must be one of RS256, ES256 or default")
    row = client_row(stack, client_id)
    assert (row.name, row.id_token_signed_response_alg) == ("CLI App", "ES256")
