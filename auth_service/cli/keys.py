"""`auth-service keys`: the signing keys and their schedule."""

from __future__ import annotations

from typing import Any

import typer

from auth_service.cli.support import (
    print_json,
    run_in_unit_of_work,
    utc_now,
)
from auth_service.config import AuthSettings
from auth_service.operations.key_lifecycle import rotate_signing_key
from auth_service.repositories import Repositories

keys_app = typer.Typer(help="Signing keys.", no_args_is_help=True)


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Pre-publish a new signing key; it signs after AUTH_KEY_ACTIVATION_DELAY seconds."""

    async def work(repos: Repositories, settings: AuthSettings) -> dict[str, Any]:
        now = utc_now()
        key = await rotate_signing_key(
            repos,
            settings.key_dir,
            alg=settings.signing_alg,
            now=now,
            activation_delay=settings.key_activation_delay,
        )
        return {"kid": key.kid, "alg": key.alg, "activates_at": key.activates_at.isoformat()}

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
