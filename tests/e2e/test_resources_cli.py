"""The real `auth-service` CLI for resource servers (RFC 8707): create, list, update, delete,
clients limited to some with `--resource`, and the demo seed's notes API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.models import Client, ResourceServer
from tests.support.admin_cli import CliResult, run_cli
from tests.support.databases import fresh_database
from tests.support.live import LiveStack, live_stack, rows

NOTES = "https://notes.example/api"
CALENDAR = "https://calendar.example"
pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LiveStack]:
    with fresh_database(tmp_path) as url, live_stack(url, tmp_path) as live:
        yield live


def assert_cli_error(result: CliResult, message: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr == f"error: {message}\n"


def create(stack: LiveStack, uri: str, *scopes: str, name: str = "Notes API") -> CliResult:
    args = [arg for scope in scopes for arg in ("--scope", scope)]
    return run_cli(stack, "resources", "create", "--uri", uri, "--name", name, *args)


def test_cli_resources_create_list_update_delete(stack: LiveStack) -> None:
    created = create(stack, NOTES, "read:notes", "write:notes profile").json()
    assert created == {
        "uri": NOTES,
        "name": "Notes API",
        "scope": "profile read:notes write:notes",
        "owner_id": None,
    }
    assert create(stack, CALENDAR, "profile", name="Calendar").returncode == 0

    assert run_cli(stack, "resources", "list").json() == [
        created,
        {"uri": CALENDAR, "name": "Calendar", "scope": "profile", "owner_id": None},
    ]

    updated = run_cli(
        stack, "resources", "update", NOTES, "--name", "Notes", "--scope", "read:notes"
    ).json()
    assert updated == {**created, "name": "Notes", "scope": "read:notes"}
    assert run_cli(stack, "resources", "delete", CALENDAR).json() == {"deleted": CALENDAR}
    assert [r.uri for r in rows(stack, ResourceServer)] == [NOTES]


@pytest.mark.parametrize(
    ("uri", "scopes", "message"),
    [
        (
            "/api",
            ("read:notes",),
            "uri: the identifier must be an absolute URI (RFC 8707 section 2)",
        ),
        (
            NOTES + "#part",
            ("read:notes",),
            "uri: the identifier must not contain a fragment (RFC 8707 section 2)",
        ),
        (NOTES, ("admin",), "scope: unknown scope: admin"),
    ],
)
def test_cli_resources_create_refuses_bad_input_and_stores_nothing(
    stack: LiveStack, uri: str, scopes: tuple[str, ...], message: str
) -> None:
    assert_cli_error(create(stack, uri, *scopes), message)
    assert rows(stack, ResourceServer) == []


def test_cli_resources_create_twice_and_unknown_update_or_delete_are_refused(
    stack: LiveStack,
) -> None:
    create(stack, NOTES, "read:notes").json()

    assert_cli_error(
        create(stack, NOTES, "profile"), "uri: a resource server with this identifier exists"
    )
    assert_cli_error(
        run_cli(stack, "resources", "update", CALENDAR, "--name", "x"),
        "uri: no such resource server",
    )
    assert_cli_error(
        run_cli(stack, "resources", "delete", CALENDAR), "uri: no such resource server"
    )
    assert [(r.uri, r.scope) for r in rows(stack, ResourceServer)] == [(NOTES, "read:notes")]


def test_cli_clients_resource_limits_a_client_and_update_can_widen_it_again(
    stack: LiveStack,
) -> None:
    create(stack, NOTES, "read:notes").json()
    create(stack, CALENDAR, "profile").json()
    client_id = run_cli(
        stack,
        "clients", "create", "--name", "App", "--redirect-uri", "https://app.example/cb",
        "--resource", NOTES,
    ).json()["client_id"]  # fmt: skip

    (listed,) = run_cli(stack, "clients", "list").json()
    assert listed["resources"] == [NOTES]
    changed = run_cli(
        stack, "clients", "update", client_id, "--resource", CALENDAR, "--resource", NOTES
    ).json()
    assert changed["resources"] == [CALENDAR, NOTES]
    assert (
        run_cli(stack, "clients", "update", client_id, "--all-resources").json()["resources"]
        is None
    )
    (row,) = rows(stack, Client)
    assert row.resources is None


def test_cli_clients_resource_must_be_registered(stack: LiveStack) -> None:
    result = run_cli(
        stack,
        "clients", "create", "--name", "App", "--redirect-uri", "https://app.example/cb",
        "--resource", NOTES,
    )  # fmt: skip

    assert_cli_error(result, f"resources: {NOTES}: not a registered resource server")
    assert rows(stack, Client) == []


def test_cli_demo_seed_registers_the_notes_api_once(stack: LiveStack, tmp_path: Path) -> None:
    env = {"AUTH_RESOURCE_AUDIENCE": "http://127.0.0.1:8001"}
    credentials = str(tmp_path / "demo.json")
    for _ in range(2):
        run_cli(stack, "demo", "seed", "--credentials-file", credentials, **env).json()

    assert run_cli(stack, "resources", "list").json() == [
        {
            "uri": "http://127.0.0.1:8001",
            "name": "Notes API",
            "scope": "profile email read:notes write:notes",
            "owner_id": None,
        }
    ]
