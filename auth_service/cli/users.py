"""`auth-service users`: user accounts."""

from __future__ import annotations

from typing import Annotated

import typer

from auth_service.cli.support import (
    fail,
    password_hasher,
    print_json,
    run_in_unit_of_work,
    utc_now,
)
from auth_service.config import AuthSettings
from auth_service.identity.accounts import AccountError, create_user
from auth_service.repositories import Repositories

users_app = typer.Typer(help="User accounts.", no_args_is_help=True)


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
            password_hasher(settings),
            username=username,
            email=email,
            password=password,
            name=name,
            now=utc_now(),
        )
        return {"id": user.id, "username": user.username}

    try:
        print_json(run_in_unit_of_work(work))
    except AccountError as exc:
        raise fail(str(exc)) from None
