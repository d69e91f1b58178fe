"""`auth-service`: the admin CLI. Commands print JSON where a script would read the result."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from auth_service import migrations
from auth_service.accounts import AccountError, create_user
from auth_service.client_registry import (
    DEFAULT_GRANT_TYPES,
    ClientChanges,
    ClientMetadataError,
    ClientSpec,
    register_client,
    rotate_client_secret,
    update_client,
)
from auth_service.config import AuthSettings
from auth_service.demo import DEMO_CLIENT_URL, seed_demo
from auth_service.key_management import rotate_signing_key
from auth_service.repositories import Repositories
from auth_service.security.passwords import PasswordHasher
from shared.database import make_engine, make_sessionmaker
from shared.models import Client
from shared.serving import serve

app = typer.Typer(help="MyAuthProvider administration.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
users_app = typer.Typer(help="User accounts.", no_args_is_help=True)
clients_app = typer.Typer(help="OAuth clients.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data for local use.", no_args_is_help=True)
keys_app = typer.Typer(help="Signing keys.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(clients_app, name="clients")
app.add_typer(demo_app, name="demo")
app.add_typer(keys_app, name="keys")

T = TypeVar("T")


def _settings() -> AuthSettings:
    return AuthSettings()


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


def _run_in_unit_of_work(work: Callable[[Repositories, AuthSettings], Awaitable[T]]) -> T:
    """Run `work` in one transaction against the configured database, then commit."""
    settings = _settings()

    async def main() -> T:
        engine = make_engine(settings.database_url)
        try:
            async with make_sessionmaker(engine)() as session:
                result = await work(Repositories.over(session), settings)
                await session.commit()
                return result
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _hasher(settings: AuthSettings) -> PasswordHasher:
    return PasswordHasher(
        time_cost=settings.password_time_cost,
        memory_kib=settings.password_memory_kib,
        parallelism=settings.password_parallelism,
    )


def _now() -> datetime:
    return datetime.now(UTC)


def _client_json(client: Client) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "name": client.name,
        "public": client.is_public,
        "redirect_uris": client.redirect_uris,
        "scope": client.scope,
        "grant_types": client.grant_types,
        "first_party": client.is_first_party,
        "can_introspect": client.can_introspect,
        "access_token_ttl": client.access_token_ttl,
        "refresh_token_ttl": client.refresh_token_ttl,
    }


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the migrations to DATABASE_URL."""
    migrations.upgrade(_settings().database_url, revision)


@db_app.command("revision")
def db_revision(message: Annotated[str, typer.Option("--message", "-m")]) -> None:
    """Autogenerate a migration from the models (developers)."""
    migrations.make_revision(_settings().database_url, message)


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Option()],
    email: Annotated[str, typer.Option()],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    name: Annotated[str, typer.Option()] = "",
) -> None:
    """Create a user; prints its id."""

    async def work(repos: Repositories, settings: AuthSettings) -> dict[str, str]:
        user = await create_user(
            repos,
            _hasher(settings),
            username=username,
            email=email,
            password=password,
            name=name,
            now=_now(),
        )
        return {"id": user.id, "username": user.username}

    try:
        _print_json(_run_in_unit_of_work(work))
    except AccountError as exc:
        raise _fail(str(exc)) from None


@clients_app.command("create")
def clients_create(
    name: Annotated[str, typer.Option()],
    redirect_uri: Annotated[list[str], typer.Option("--redirect-uri")] = [],  # noqa: B006
    scope: Annotated[str, typer.Option()] = "openid profile email",
    grant_type: Annotated[list[str], typer.Option("--grant-type")] = [],  # noqa: B006
    public: Annotated[bool, typer.Option("--public", help="A public client (no secret)")] = False,
    no_pkce: Annotated[
        bool, typer.Option("--no-pkce", help="Legacy confidential client that cannot send PKCE")
    ] = False,
    post_logout_redirect_uri: Annotated[list[str], typer.Option("--post-logout-redirect-uri")] = [],  # noqa: B006
    first_party: Annotated[bool, typer.Option("--first-party")] = False,
    can_introspect: Annotated[bool, typer.Option("--can-introspect")] = False,
    access_token_ttl: Annotated[int | None, typer.Option(help="Seconds")] = None,
    refresh_token_ttl: Annotated[int | None, typer.Option(help="Seconds")] = None,
) -> None:
    """Register a client; prints client_id and (once) client_secret."""
    spec = ClientSpec(
        name=name,
        redirect_uris=redirect_uri,
        scope=scope,
        grant_types=grant_type or DEFAULT_GRANT_TYPES,
        is_public=public,
        require_pkce=not no_pkce,
        post_logout_redirect_uris=post_logout_redirect_uri,
        is_first_party=first_party,
        can_introspect=can_introspect,
        access_token_ttl=access_token_ttl,
        refresh_token_ttl=refresh_token_ttl,
    )

    async def work(repos: Repositories, settings: AuthSettings) -> dict[str, str]:
        registered = await register_client(repos, spec, now=_now())
        result = {"client_id": registered.client.client_id}
        if registered.client_secret is not None:
            result["client_secret"] = registered.client_secret
        return result

    try:
        _print_json(_run_in_unit_of_work(work))
    except ClientMetadataError as exc:
        raise _fail(f"{exc.field}: {exc}") from None


@clients_app.command("list")
def clients_list() -> None:
    """List clients (never their secrets)."""

    async def work(repos: Repositories, settings: AuthSettings) -> list[dict[str, Any]]:
        return [_client_json(c) for c in await repos.clients.list_all()]

    _print_json(_run_in_unit_of_work(work))


@clients_app.command("rotate-secret")
def clients_rotate_secret(client_id: str) -> None:
    """Replace a confidential client's secret; prints the new one (shown once)."""

    async def work(repos: Repositories, settings: AuthSettings) -> dict[str, str]:
        client = await repos.clients.get_by_client_id(client_id)
        if client is None:
            raise ClientMetadataError("no such client", field="client_id")
        return {
            "client_id": client_id,
            "client_secret": await rotate_client_secret(repos, client, now=_now()),
        }

    try:
        _print_json(_run_in_unit_of_work(work))
    except ClientMetadataError as exc:
        raise _fail(f"{exc.field}: {exc}") from None


@clients_app.command("update")
def clients_update(
    client_id: str,
    name: Annotated[str | None, typer.Option()] = None,
    redirect_uri: Annotated[
        list[str] | None, typer.Option("--redirect-uri", help="Replaces the registered list")
    ] = None,
    scope: Annotated[str | None, typer.Option()] = None,
    grant_type: Annotated[
        list[str] | None, typer.Option("--grant-type", help="Replaces the allowed grant types")
    ] = None,
    first_party: Annotated[bool | None, typer.Option("--first-party/--third-party")] = None,
    can_introspect: Annotated[bool | None, typer.Option("--can-introspect/--no-introspect")] = None,
    access_token_ttl: Annotated[int | None, typer.Option(help="Seconds; 0 = the default")] = None,
    refresh_token_ttl: Annotated[int | None, typer.Option(help="Seconds; 0 = the default")] = None,
) -> None:
    """Change a client's registration; prints the result."""
    changes = ClientChanges(
        name=name,
        redirect_uris=redirect_uri,
        scope=scope,
        grant_types=grant_type,
        is_first_party=first_party,
        can_introspect=can_introspect,
        access_token_ttl=access_token_ttl,
        refresh_token_ttl=refresh_token_ttl,
    )

    async def work(repos: Repositories, settings: AuthSettings) -> dict[str, Any]:
        client = await repos.clients.get_by_client_id(client_id)
        if client is None:
            raise ClientMetadataError("no such client", field="client_id")
        await update_client(repos, client, changes, now=_now())
        return _client_json(client)

    try:
        _print_json(_run_in_unit_of_work(work))
    except ClientMetadataError as exc:
        raise _fail(f"{exc.field}: {exc}") from None


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Pre-publish a new signing key; it signs after AUTH_KEY_ACTIVATION_DELAY seconds."""

    async def work(repos: Repositories, settings: AuthSettings) -> dict[str, Any]:
        now = _now()
        key = await rotate_signing_key(
            repos,
            settings.key_dir,
            alg=settings.signing_alg,
            now=now,
            activation_delay=settings.key_activation_delay,
        )
        return {"kid": key.kid, "alg": key.alg, "activates_at": key.activates_at.isoformat()}

    _print_json(_run_in_unit_of_work(work))


@keys_app.command("list")
def keys_list() -> None:
    """The key schedule: when each key signs and until when it is published."""

    async def work(repos: Repositories, settings: AuthSettings) -> list[dict[str, Any]]:
        return [
            {
                "kid": key.kid,
                "alg": key.alg,
                "created_at": key.created_at.isoformat(),
                "activates_at": key.activates_at.isoformat(),
                "retires_at": key.retires_at.isoformat() if key.retires_at else None,
            }
            for key in await repos.signing_keys.list_all()
        ]

    _print_json(_run_in_unit_of_work(work))


@demo_app.command("seed")
def demo_seed(
    credentials_file: Annotated[Path, typer.Option()] = Path("var/demo-credentials.json"),
    client_url: Annotated[
        str,
        typer.Option(envvar="COOLNOTES_PUBLIC_URL", help="CoolNotesApp's URL in the browser"),
    ] = DEMO_CLIENT_URL,
) -> None:
    """Create the demo user and CoolNotesApp client if missing; prints their credentials."""
    if not _settings().is_development:
        raise _fail("demo data is for AUTH_ENVIRONMENT=development only")

    async def work(repos: Repositories, settings: AuthSettings) -> dict[str, str]:
        creds = await seed_demo(
            repos,
            _hasher(settings),
            credentials_file=credentials_file,
            now=_now(),
            client_url=client_url,
        )
        return creds.to_json()

    _print_json(_run_in_unit_of_work(work))


@app.command("serve")
def serve_command() -> None:
    """Run the auth service (uvloop, httptools), with TLS when AUTH_TLS_CERT/KEY are set."""
    settings = _settings()
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
