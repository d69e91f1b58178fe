"""`auth-service clients`: OAuth clients, with the registration rules every path shares."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from auth_service.cli.support import (
    fail,
    print_json,
    run_in_unit_of_work,
    utc_now,
)
from auth_service.clients.registry import (
    DEFAULT_GRANT_TYPES,
    ClientChanges,
    ClientKeys,
    ClientMetadataError,
    ClientSpec,
    register_client,
    rotate_client_secret,
    update_client,
)
from auth_service.config import AuthSettings
from auth_service.oauth import fapi2
from auth_service.repositories import Repositories
from auth_service.security.secret_box import SecretBox
from shared.models import Client

clients_app = typer.Typer(help="OAuth clients.", no_args_is_help=True)


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
        "require_pushed_authorization_requests": client.require_pushed_authorization_requests,
        **_jwt_auth_json(client),
        "dpop_bound_access_tokens": client.dpop_bound_access_tokens,
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
        "profile": client.profile,
        # RFC 8707 §2: None = every registered resource server.
        "resources": client.resources,
        # Shown only when set, like the JWT authentication fields.
        **({"may_exchange_for": client.may_exchange_for} if client.may_exchange_for else {}),
        # Copied from its Client ID Metadata Document (the client_id is its URL): not editable.
        "from_metadata_document": client.from_metadata_document,
    }


JWT_METHODS = ("private_key_jwt", "client_secret_jwt")
AuthMethodOption = Annotated[
    str | None,
    typer.Option("--auth-method", help="token_endpoint_auth_method (RFC 7591 section 2)"),
]
JwksOption = Annotated[
    Path | None,
    typer.Option("--jwks", help="File with the client's public JWK Set (private_key_jwt)"),
]
JwksUriOption = Annotated[
    str | None, typer.Option("--jwks-uri", help="https URL of the client's JWK Set")
]
AuthSigningAlgOption = Annotated[
    str | None,
    typer.Option(
        "--auth-signing-alg",
        help="token_endpoint_auth_signing_alg: the one JWT assertion algorithm (RFC 7591)",
    ),
]
ProfileOption = Annotated[
    str | None,
    typer.Option("--profile", help="fapi2: hold the client to the FAPI 2.0 Security Profile"),
]
ResourceOption = Annotated[
    list[str] | None,
    typer.Option(
        "--resource",
        help="A resource server URI it may target (repeat for several; default: all)",
    ),
]
MayExchangeForOption = Annotated[
    list[str] | None,
    typer.Option(
        "--may-exchange-for",
        help="CLIENT_ID whose access tokens this client may exchange (RFC 8693); repeatable",
    ),
]
NO_CLIENTS = "none"  # clients update --may-exchange-for none: exchange only its own tokens
NO_PROFILE = "none"  # clients update --profile none / --auth-signing-alg any: clear them
ANY_ALG = "any"


def _jwt_auth_json(client: Client) -> dict[str, Any]:
    """The JWT authentication of a client using it (RFC 7523): its method and keys."""
    if client.token_endpoint_auth_method not in JWT_METHODS:
        return {}
    shown: dict[str, Any] = {"token_endpoint_auth_method": client.token_endpoint_auth_method}
    if client.jwks is not None:
        shown["jwks"] = client.jwks
    if client.jwks_uri is not None:
        shown["jwks_uri"] = client.jwks_uri
    if client.token_endpoint_auth_signing_alg is not None:
        shown["token_endpoint_auth_signing_alg"] = client.token_endpoint_auth_signing_alg
    return shown


def _keys(jwks: Path | None, jwks_uri: str | None) -> ClientKeys | None:
    """--jwks FILE / --jwks-uri URL; neither keeps what is registered."""
    if jwks is None and jwks_uri is None:
        return None
    data = None
    if jwks is not None:
        try:
            data = json.loads(jwks.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ClientMetadataError(f"cannot read a JSON JWK Set: {exc}", field="jwks") from None
    return ClientKeys(jwks=data, jwks_uri=jwks_uri)


def _seal(settings: AuthSettings) -> Any:
    """client_secret_jwt secrets are kept encrypted with the service's data key."""
    return SecretBox.load_or_create(settings.key_dir).encrypt


SERVER_DEFAULT = "default"  # --id-token-alg default: back to AUTH_SIGNING_ALG


def _id_token_alg(value: str | None, held: tuple[str, ...], *, allow_default: bool) -> None:
    """`--id-token-alg`: one of AUTH_SIGNING_ALGS (OIDC Registration §2), or `default` on update."""
    if value is None or value in held or (allow_default and value == SERVER_DEFAULT):
        return
    choices = ", ".join(held) + (f" or {SERVER_DEFAULT}" if allow_default else "")
    raise ClientMetadataError(f"must be one of {choices}", field="id_token_signed_response_alg")


def _profile_id_token_alg(client: Client, chosen: str | None, held: tuple[str, ...]) -> None:
    """A fapi2 client's ID and access token algorithm: never RS256 (FAPI 2.0 §5.4.1)."""
    alg, problem = fapi2.id_token_alg_problem(client.profile, chosen, held)
    if problem is not None:
        raise ClientMetadataError(problem, field="id_token_signed_response_alg")
    client.id_token_signed_response_alg = alg


def _cleared(value: str | None, clear: str) -> str | None:
    """An update option: None keeps, the `clear` word becomes "" (ClientChanges: clear it)."""
    return "" if value == clear else value


def _exchange_sources(values: list[str] | None) -> list[str] | None:
    """`clients update --may-exchange-for`: None keeps the list, `none` alone empties it."""
    if values is None:
        return None
    return [] if values == [NO_CLIENTS] else values


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
    require_par: Annotated[
        bool, typer.Option("--require-par", help="Only pushed authorization requests (RFC 9126)")
    ] = False,
    auth_method: AuthMethodOption = None,
    jwks: JwksOption = None,
    jwks_uri: JwksUriOption = None,
    dpop_bound: Annotated[
        bool, typer.Option("--dpop-bound", help="Every token request must carry a DPoP proof")
    ] = False,
    id_token_alg: Annotated[
        str | None,
        typer.Option(help="Signs its ID and access tokens; default AUTH_SIGNING_ALG"),
    ] = None,
    auth_signing_alg: AuthSigningAlgOption = None,
    profile: ProfileOption = None,
    resource: ResourceOption = None,
    may_exchange_for: MayExchangeForOption = None,
) -> None:
    """Register a client; prints client_id and (once) client_secret."""
    try:
        keys = _keys(jwks, jwks_uri)
    except ClientMetadataError as exc:
        raise fail(f"{exc.field}: {exc}") from None
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
        require_pushed_authorization_requests=require_par,
        token_endpoint_auth_method=auth_method,
        keys=keys,
        dpop_bound_access_tokens=dpop_bound,
        token_endpoint_auth_signing_alg=auth_signing_alg,
        profile=profile,
        resources=resource or None,
        may_exchange_for=may_exchange_for or (),
    )

    async def work(repos: Repositories, settings: AuthSettings) -> dict[str, str]:
        _id_token_alg(id_token_alg, settings.signing_algs, allow_default=False)
        registered = await register_client(repos, spec, now=utc_now(), seal=_seal(settings))
        _profile_id_token_alg(registered.client, id_token_alg, settings.signing_algs)
        await repos.clients.save(registered.client)
        result = {"client_id": registered.client.client_id}
        if registered.client_secret is not None:
            result["client_secret"] = registered.client_secret
        return result

    try:
        print_json(run_in_unit_of_work(work))
    except ClientMetadataError as exc:
        raise fail(f"{exc.field}: {exc}") from None


@clients_app.command("list")
def clients_list() -> None:
    """List clients (never their secrets)."""

    async def work(repos: Repositories, settings: AuthSettings) -> list[dict[str, Any]]:
        return [_client_json(c) for c in await repos.clients.list_all()]

    print_json(run_in_unit_of_work(work))


@clients_app.command("rotate-secret")
def clients_rotate_secret(client_id: str) -> None:
    """Replace a confidential client's secret; prints the new one (shown once)."""

    async def work(repos: Repositories, settings: AuthSettings) -> dict[str, str]:
        client = await repos.clients.get_by_client_id(client_id)
        if client is None:
            raise ClientMetadataError("no such client", field="client_id")
        return {
            "client_id": client_id,
            "client_secret": await rotate_client_secret(
                repos, client, now=utc_now(), seal=_seal(settings)
            ),
        }

    try:
        print_json(run_in_unit_of_work(work))
    except ClientMetadataError as exc:
        raise fail(f"{exc.field}: {exc}") from None


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
    require_par: Annotated[
        bool | None,
        typer.Option("--require-par/--no-require-par", help="Pushed authorization requests only"),
    ] = None,
    auth_method: AuthMethodOption = None,
    jwks: JwksOption = None,
    jwks_uri: JwksUriOption = None,
    dpop_bound: Annotated[bool | None, typer.Option("--dpop-bound/--dpop-optional")] = None,
    id_token_alg: Annotated[
        str | None, typer.Option(help="One of AUTH_SIGNING_ALGS; default = AUTH_SIGNING_ALG")
    ] = None,
    auth_signing_alg: Annotated[
        str | None,
        typer.Option("--auth-signing-alg", help="JWT assertion algorithm; any = every allowed one"),
    ] = None,
    profile: Annotated[
        str | None, typer.Option("--profile", help="fapi2, or none to drop the profile")
    ] = None,
    resource: Annotated[
        list[str] | None,
        typer.Option("--resource", help="Replaces the resource servers it may target"),
    ] = None,
    all_resources: Annotated[
        bool, typer.Option("--all-resources", help="May target every resource server again")
    ] = False,
    may_exchange_for: Annotated[
        list[str] | None,
        typer.Option(
            "--may-exchange-for",
            help="Replaces the list of CLIENT_IDs whose tokens it may exchange; none empties it",
        ),
    ] = None,
) -> None:
    """Change a client's registration; prints the result."""
    if resource and all_resources:
        raise fail("resources: --resource and --all-resources exclude each other")
    try:
        keys = _keys(jwks, jwks_uri)
    except ClientMetadataError as exc:
        raise fail(f"{exc.field}: {exc}") from None
    changes = ClientChanges(
        name=name,
        redirect_uris=redirect_uri,
        scope=scope,
        grant_types=grant_type,
        is_first_party=first_party,
        can_introspect=can_introspect,
        access_token_ttl=access_token_ttl,
        refresh_token_ttl=refresh_token_ttl,
        require_pushed_authorization_requests=require_par,
        token_endpoint_auth_method=auth_method,
        keys=keys,
        dpop_bound_access_tokens=dpop_bound,
        token_endpoint_auth_signing_alg=_cleared(auth_signing_alg, ANY_ALG),
        profile=_cleared(profile, NO_PROFILE),
        resources=resource or None,
        all_resources=all_resources,
        may_exchange_for=_exchange_sources(may_exchange_for),
    )

    async def work(repos: Repositories, settings: AuthSettings) -> dict[str, Any]:
        client = await repos.clients.get_by_client_id(client_id)
        if client is None:
            raise ClientMetadataError("no such client", field="client_id")
        _id_token_alg(id_token_alg, settings.signing_algs, allow_default=True)
        await update_client(repos, client, changes, now=utc_now())
        if id_token_alg is not None:
            client.id_token_signed_response_alg = (
                None if id_token_alg == SERVER_DEFAULT else id_token_alg
            )
        _profile_id_token_alg(client, client.id_token_signed_response_alg, settings.signing_algs)
        await repos.clients.save(client)
        return _client_json(client)

    try:
        print_json(run_in_unit_of_work(work))
    except ClientMetadataError as exc:
        raise fail(f"{exc.field}: {exc}") from None
