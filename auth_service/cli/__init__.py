"""`auth-service`: the admin CLI. Commands print JSON where a script would read the result."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from auth_service.cli.clients import clients_app
from auth_service.cli.keys import keys_app
from auth_service.cli.resources import resources_app
from auth_service.cli.support import (
    fail,
    load_settings,
    password_hasher,
    print_json,
    run_in_unit_of_work,
    utc_now,
)
from auth_service.cli.upstreams import upstreams_app
from auth_service.cli.users import users_app
from auth_service.config import AuthSettings
from auth_service.operations import migrations
from auth_service.operations.demo import DEMO_CLIENT_URL, seed_demo
from auth_service.repositories import Repositories
from shared.serving import serve

app = typer.Typer(help="MyAuthProvider administration.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data for local use.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(clients_app, name="clients")
app.add_typer(resources_app, name="resources")
app.add_typer(demo_app, name="demo")
app.add_typer(keys_app, name="keys")
app.add_typer(upstreams_app, name="upstreams")


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the migrations to DATABASE_URL."""
    migrations.upgrade(load_settings().database_url, revision)


@db_app.command("revision")
def db_revision(message: Annotated[str, typer.Option("--message", "-m")]) -> None:
    """Autogenerate a migration from the models (developers)."""
    migrations.make_revision(load_settings().database_url, message)


@demo_app.command("seed")
def demo_seed(
    credentials_file: Annotated[Path, typer.Option()] = Path("var/demo-credentials.json"),
    client_url: Annotated[
        str,
        typer.Option(envvar="COOLNOTES_PUBLIC_URL", help="CoolNotesApp's URL in the browser"),
    ] = DEMO_CLIENT_URL,
) -> None:
    """Create the demo user, CoolNotesApp client and notes API resource server if missing;
    prints the credentials."""
    if not load_settings().is_development:
        raise fail("demo data is for AUTH_ENVIRONMENT=development only")

    async def work(repos: Repositories, settings: AuthSettings) -> dict[str, str]:
        creds = await seed_demo(
            repos,
            password_hasher(settings),
            credentials_file=credentials_file,
            now=utc_now(),
            client_url=client_url,
            resource_uri=settings.resource_audience,
        )
        return creds.to_json()

    print_json(run_in_unit_of_work(work))


@app.command("serve")
def serve_command() -> None:
    """Run the auth service (uvloop, httptools), with TLS when AUTH_TLS_CERT/KEY are set."""
    settings = load_settings()
    serve(
        "auth_service.main:create_app",
        host=settings.host,
        port=settings.port,
        tls_cert=settings.tls_cert,
        tls_key=settings.tls_key,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )


def main() -> None:
    app()
