"""`auth-service resources`: the registry of resource servers (RFC 8707), by identifier URI."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from auth_service.cli.support import fail, print_json, run_in_unit_of_work, utc_now
from auth_service.config import AuthSettings
from auth_service.repositories import Repositories
from auth_service.resource_servers.registry import (
    ResourceServerError,
    ResourceServerSpec,
    delete_resource_server,
    register_resource_server,
    update_resource_server,
)
from shared.models import ResourceServer

resources_app = typer.Typer(
    help="Resource servers (RFC 8707 resource indicators).", no_args_is_help=True
)


def resource_json(server: ResourceServer) -> dict[str, Any]:
    return {
        "uri": server.uri,
        "name": server.name,
        "scope": server.scope,
        "owner_id": server.owner_id,
    }


async def _existing(repos: Repositories, uri: str) -> ResourceServer:
    server = await repos.resource_servers.get_by_uri(uri)
    if server is None:
        raise ResourceServerError("no such resource server", field="uri")
    return server


def _run(work: Any) -> None:
    try:
        print_json(run_in_unit_of_work(work))
    except ResourceServerError as exc:
        raise fail(f"{exc.field}: {exc}") from None


@resources_app.command("create")
def resources_create(
    uri: Annotated[str, typer.Option("--uri", help="Identifier: an absolute URI, no fragment")],
    name: Annotated[str, typer.Option("--name")],
    scope: Annotated[
        list[str], typer.Option("--scope", help="A scope it serves (repeat for several)")
    ],
) -> None:
    """Register a resource server; prints it."""
    spec = ResourceServerSpec(uri=uri, name=name, scopes=scope)

    async def work(repos: Repositories, settings: AuthSettings) -> dict[str, Any]:
        return resource_json(await register_resource_server(repos, spec, now=utc_now()))

    _run(work)


@resources_app.command("list")
def resources_list() -> None:
    """List the registered resource servers."""

    async def work(repos: Repositories, settings: AuthSettings) -> list[dict[str, Any]]:
        return [resource_json(s) for s in await repos.resource_servers.list_all()]

    print_json(run_in_unit_of_work(work))


@resources_app.command("update")
def resources_update(
    uri: str,
    name: Annotated[str | None, typer.Option("--name")] = None,
    scope: Annotated[
        list[str] | None, typer.Option("--scope", help="Replaces the scopes it serves")
    ] = None,
) -> None:
    """Change a resource server's name or scopes (its identifier stays); prints it."""

    async def work(repos: Repositories, settings: AuthSettings) -> dict[str, Any]:
        server = await _existing(repos, uri)
        updated = await update_resource_server(
            repos, server, name=name, scopes=scope, now=utc_now()
        )
        return resource_json(updated)

    _run(work)


@resources_app.command("delete")
def resources_delete(uri: str) -> None:
    """Remove a resource server: no token is issued for it any more."""

    async def work(repos: Repositories, settings: AuthSettings) -> dict[str, str]:
        await delete_resource_server(repos, await _existing(repos, uri), now=utc_now())
        return {"deleted": uri}

    _run(work)
