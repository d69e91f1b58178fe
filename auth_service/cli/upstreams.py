"""`auth-service upstreams`: providers people may sign in with (README "Sign in with another
provider")."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

import typer

from auth_service.cli.support import fail, load_settings, print_json, run_in_unit_of_work, utc_now
from auth_service.config import AuthSettings
from auth_service.repositories import Repositories
from auth_service.security.secret_box import SecretBox
from shared.models import UpstreamProvider

upstreams_app = typer.Typer(help="Upstream identity providers.", no_args_is_help=True)
ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{1,31}")
AUTH_METHODS = ("client_secret_basic", "client_secret_post")  # RFC 6749 §2.3.1
# A link keyed by one of these would link by email or a renameable handle (README "Which account").
CHANGEABLE_NAMES = ("email", "login", "preferred_username", "name", "username", "nickname")


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:32]


def _url(value: str | None, option: str, settings: AuthSettings) -> str | None:
    """https only (RFC 6749 §3.1, §3.2 require TLS), except plain http in development with a
    local issuer, where a second instance on loopback plays the upstream."""
    if value is None:
        return None
    parts = urlsplit(value)
    allowed = ("https", "http") if settings.relaxed_egress else ("https",)
    if parts.scheme not in allowed or not parts.hostname or parts.fragment:
        raise fail(f"{option} must be an https URL without a fragment")
    return value


def _provider(
    settings: AuthSettings, *, provider_id: str | None, name: str, issuer: str | None,
    authorization_endpoint: str | None, token_endpoint: str | None, userinfo_url: str | None,
    client_id: str, client_secret: str, scope: str | None, subject_claim: str, trusted: bool,
    token_auth: str,
) -> UpstreamProvider:  # fmt: skip
    chosen = provider_id or _slug(name)
    if not ID_PATTERN.fullmatch(chosen) or chosen == "link":
        raise fail("--id must be 2-32 of a-z, 0-9 and '-', starting with a letter or digit")
    if not name.strip() or len(name) > 64:
        raise fail("--name must be 1-64 characters")
    if subject_claim.lower() in CHANGEABLE_NAMES:
        raise fail(
            f"--subject-claim {subject_claim} names something a person can change or give away; "
            "use the provider's stable id (GitHub: id)"
        )
    if token_auth not in AUTH_METHODS:
        raise fail(f"--token-auth must be one of {', '.join(AUTH_METHODS)}")
    if issuer is not None:
        kind = "oidc"
        if authorization_endpoint or token_endpoint or userinfo_url:
            raise fail("an OpenID Connect provider's endpoints come from --issuer's discovery")
    elif authorization_endpoint and token_endpoint and userinfo_url:
        kind = "oauth2"
    else:
        raise fail(
            "give --issuer (OpenID Connect), or --authorization-endpoint, --token-endpoint and "
            "--userinfo-url (plain OAuth 2.0)"
        )
    return UpstreamProvider(
        id=chosen,
        name=name.strip(),
        kind=kind,
        issuer=_url(issuer, "--issuer", settings),
        authorization_endpoint=_url(authorization_endpoint, "--authorization-endpoint", settings),
        token_endpoint=_url(token_endpoint, "--token-endpoint", settings),
        userinfo_endpoint=_url(userinfo_url, "--userinfo-url", settings),
        client_id=client_id,
        client_secret_encrypted=SecretBox.load_or_create(settings.key_dir).encrypt(client_secret),
        token_endpoint_auth_method=token_auth,
        scope=scope or ("openid email profile" if kind == "oidc" else "user:email"),
        subject_claim="sub" if kind == "oidc" else subject_claim,
        trusted=trusted,
        created_at=utc_now(),
    )


def describe(provider: UpstreamProvider, issuer: str) -> dict[str, object]:
    return {
        "id": provider.id,
        "name": provider.name,
        "kind": provider.kind,
        "issuer": provider.issuer,
        "client_id": provider.client_id,
        "scope": provider.scope,
        "trusted": provider.trusted,
        # What to register at the upstream as this client's redirect URI.
        "redirect_uri": f"{issuer}/login/upstream/{provider.id}/callback",
    }


@upstreams_app.command("create")
def upstreams_create(
    name: Annotated[str, typer.Option(help="Shown on the button: 'Sign in with NAME'")],
    client_id: Annotated[str, typer.Option(help="Our client id at the upstream")],
    client_secret: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            envvar="AUTH_UPSTREAM_CLIENT_SECRET",
            help="Our client secret at the upstream (prompted for, or from the environment)",
        ),
    ],
    issuer: Annotated[str | None, typer.Option(help="An OpenID Connect issuer URL")] = None,
    authorization_endpoint: Annotated[str | None, typer.Option(help="Plain OAuth 2.0")] = None,
    token_endpoint: Annotated[str | None, typer.Option(help="Plain OAuth 2.0")] = None,
    userinfo_url: Annotated[str | None, typer.Option(help="Plain OAuth 2.0")] = None,
    subject_claim: Annotated[
        str,
        typer.Option(help="Plain OAuth 2.0: the userinfo member naming the person (GitHub: id)"),
    ] = "sub",
    provider_id: Annotated[
        str | None, typer.Option("--id", help="In URLs; from NAME if not given")
    ] = None,
    scope: Annotated[str | None, typer.Option()] = None,
    trusted: Annotated[
        bool,
        typer.Option(
            help="Believe its email_verified: a first sign-in links to the account with that "
            "address without asking for the account's password"
        ),
    ] = False,
    token_auth: Annotated[
        str, typer.Option(help="client_secret_basic or client_secret_post")
    ] = "client_secret_basic",  # noqa: S107 - a method name, not a secret
) -> None:
    """Add a provider people may sign in with; prints the redirect URI to register there."""
    settings = load_settings()
    provider = _provider(
        settings, provider_id=provider_id, name=name, issuer=issuer,
        authorization_endpoint=authorization_endpoint, token_endpoint=token_endpoint,
        userinfo_url=userinfo_url, client_id=client_id, client_secret=client_secret,
        scope=scope, subject_claim=subject_claim, trusted=trusted, token_auth=token_auth,
    )  # fmt: skip

    async def work(repos: Repositories, settings: AuthSettings) -> bool:
        return await repos.upstreams.add(provider)

    if not run_in_unit_of_work(work):
        raise fail(f"a provider with id {provider.id!r} exists already (choose another --id)")
    print_json(describe(provider, settings.issuer))


@upstreams_app.command("list")
def upstreams_list() -> None:
    """Every upstream provider."""

    async def work(repos: Repositories, settings: AuthSettings) -> list[dict[str, object]]:
        return [describe(p, settings.issuer) for p in await repos.upstreams.list()]

    print_json(run_in_unit_of_work(work))


@upstreams_app.command("delete")
def upstreams_delete(provider_id: Annotated[str, typer.Argument()]) -> None:
    """Remove a provider and every account's link to it (the accounts stay)."""

    async def work(repos: Repositories, settings: AuthSettings) -> bool:
        return await repos.upstreams.delete(provider_id)

    if not run_in_unit_of_work(work):
        raise fail(f"no provider {provider_id!r}")
    print_json({"deleted": provider_id})
