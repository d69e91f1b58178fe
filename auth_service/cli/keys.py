"""`auth-service keys`: the signing keys and their schedule."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from auth_service.cli.support import (
    fail,
    load_settings,
    print_json,
    run_in_unit_of_work,
    utc_now,
)
from auth_service.config import AuthSettings
from auth_service.operations.key_lifecycle import rotate_signing_keys
from auth_service.repositories import Repositories

keys_app = typer.Typer(help="Signing keys.", no_args_is_help=True)


@keys_app.command("rotate")
def keys_rotate(
    alg: Annotated[
        str | None,
        typer.Option("--alg", help="Rotate only this algorithm's key (one of AUTH_SIGNING_ALGS)"),
    ] = None,
) -> None:
    """Pre-publish a new key per signing algorithm; they sign after AUTH_KEY_ACTIVATION_DELAY
    seconds. Prints the new AUTH_SIGNING_ALG key (or the --alg one) and, under `keys`, all."""

    held = load_settings().signing_algs
    if alg is not None and alg not in held:
        raise fail(f"--alg must be one of {', '.join(held)} (AUTH_SIGNING_ALGS)")

    async def work(repos: Repositories, settings: AuthSettings) -> dict[str, Any]:
        keys = await rotate_signing_keys(
            repos,
            settings.key_dir,
            algs=(alg,) if alg else settings.signing_algs,
            held=settings.signing_algs,
            clock=utc_now,
            activation_delay=settings.key_activation_delay,
        )
        listed = [
            {"kid": k.kid, "alg": k.alg, "activates_at": k.activates_at.isoformat()} for k in keys
        ]
        main = next((k for k in listed if k["alg"] == settings.signing_alg), listed[0])
        return {**main, "keys": listed}

    print_json(run_in_unit_of_work(work))


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

    print_json(run_in_unit_of_work(work))
