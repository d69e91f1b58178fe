"""`auth-service clients create/update --grant-type ...token-exchange --may-exchange-for` (RFC
8693) through the real CLI against a fresh, migrated database."""

from __future__ import annotations

from shared.models import Client
from tests.e2e.test_cli import assert_cli_error, client_row, create_client, rows, stack
from tests.support.admin_cli import run_cli
from tests.support.live import LiveStack

__all__ = ["stack"]  # the fixture, shared with test_cli

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


def create_service(stack: LiveStack, *extra: str) -> dict[str, str]:
    created: dict[str, str] = run_cli(
        stack, "clients", "create", "--name", "Notes Service", "--scope", "read:notes",
        "--grant-type", TOKEN_EXCHANGE, *extra,
    ).json()  # fmt: skip
    return created


def test_cli_may_exchange_for_is_stored_listed_replaced_and_emptied(stack: LiveStack) -> None:
    app = create_client(stack)["client_id"]
    other = create_client(stack)["client_id"]

    service = create_service(stack, "--may-exchange-for", app)["client_id"]

    row = client_row(stack, service)
    assert (row.grant_types, row.may_exchange_for) == ([TOKEN_EXCHANGE], [app])
    (listed,) = [c for c in run_cli(stack, "clients", "list").json() if c["client_id"] == service]
    assert listed["may_exchange_for"] == [app]
    replaced = run_cli(
        stack, "clients", "update", service,
        "--may-exchange-for", other, "--may-exchange-for", app,
    ).json()  # fmt: skip
    assert replaced["may_exchange_for"] == [other, app]
    emptied = run_cli(stack, "clients", "update", service, "--may-exchange-for", "none").json()
    assert "may_exchange_for" not in emptied  # shown only when set
    assert client_row(stack, service).may_exchange_for == []


def test_cli_may_exchange_for_unknown_client_exits_1_and_creates_nothing(stack: LiveStack) -> None:
    result = run_cli(
        stack, "clients", "create", "--name", "Notes Service", "--scope", "read:notes",
        "--grant-type", TOKEN_EXCHANGE, "--may-exchange-for", "no-such-client",
    )  # fmt: skip

    assert_cli_error(result, "may_exchange_for: no such client: no-such-client")
    assert rows(stack, Client) == []


def test_cli_token_exchange_for_a_public_client_exits_1(stack: LiveStack) -> None:
    result = run_cli(
        stack, "clients", "create", "--name", "SPA", "--public", "--redirect-uri",
        "https://app.example/callback", "--grant-type", TOKEN_EXCHANGE,
    )  # fmt: skip

    assert_cli_error(
        result, f"grant_types: a public client cannot use {TOKEN_EXCHANGE} (RFC 6749 section 4.4)"
    )
    assert rows(stack, Client) == []
