"""What every admin command shares: settings, JSON output, errors, one unit of work, the clock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import typer

from auth_service.config import AuthSettings
from auth_service.repositories import Repositories
from auth_service.revocations.notifier import RevocationNotifier
from auth_service.security.passwords import PasswordHasher
from shared.database import make_engine, make_sessionmaker
from shared.revocations import revocation_channel

T = TypeVar("T")


def load_settings() -> AuthSettings:
    return AuthSettings()


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


def run_in_unit_of_work(work: Callable[[Repositories, AuthSettings], Awaitable[T]]) -> T:
    """Run `work` in one transaction against the configured database, then commit."""
    settings = load_settings()

    async def main() -> T:
        engine = make_engine(settings.database_url)
        # The running instances learn of what a command revoked or changed (a rotated secret) from
        # the feed; with Redis, at once from the announcement this publishes after the commit.
        notifier = RevocationNotifier(
            settings.redis_url, channel=revocation_channel(settings.issuer)
        )
        try:
            async with make_sessionmaker(engine, listeners=notifier.listeners())() as session:
                result = await work(Repositories.over(session), settings)
                await session.commit()
                return result
        finally:
            await notifier.aclose()  # waits for the announcement to be sent
            await engine.dispose()

    return asyncio.run(main())


def password_hasher(settings: AuthSettings) -> PasswordHasher:
    return PasswordHasher(
        time_cost=settings.password_time_cost,
        memory_kib=settings.password_memory_kib,
        parallelism=settings.password_parallelism,
        concurrency=settings.password_hash_concurrency,
        max_waiting=settings.password_hash_queue,
    )


def utc_now() -> datetime:
    return datetime.now(UTC)
