"""The suite's users and clients, made by the auth service's own code in one transaction."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from auth_service.clients.registry import ClientSpec, register_client
from auth_service.identity.accounts import create_user
from auth_service.repositories import Repositories
from auth_service.security.passwords import PasswordHasher
from chaos.api import REDIRECT_URI, SCOPE, ClientCredentials, User
from shared.database import make_engine, make_sessionmaker

# The cheap argon2 parameters the suite's instances run with (AUTH_PASSWORD_*): logins are
# part of the traffic, and the suite exercises faults, not hashing cost.
HASH_COST = {"time_cost": 1, "memory_kib": 64, "parallelism": 1}


@dataclass(frozen=True, slots=True)
class Seeded:
    users: tuple[User, ...]
    usernames: dict[str, str]  # user id (the tokens' sub) -> username
    client: ClientCredentials  # the web app: code flow, refresh, introspection
    probe: ClientCredentials  # a client whose failed authentications test shared rate limits


async def seed(database_url: str, users: int) -> Seeded:
    hasher = PasswordHasher(**HASH_COST)
    now = datetime.now(UTC)
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            repos = Repositories.over(session)
            made, usernames = [], {}
            for n in range(users):
                user = User(f"chaos{n}", secrets.token_urlsafe(12))
                row = await create_user(
                    repos,
                    hasher,
                    username=user.username,
                    email=f"chaos{n}@example.com",
                    password=user.password,
                    name=f"Chaos User {n}",
                    now=now,
                )
                made.append(user)
                usernames[row.id] = user.username
            clients = []
            for name, can_introspect in (("Chaos Web App", True), ("Chaos Probe", False)):
                spec = ClientSpec(
                    name=name,
                    redirect_uris=[REDIRECT_URI],
                    scope=SCOPE,
                    grant_types=["authorization_code", "refresh_token"],
                    can_introspect=can_introspect,
                )
                registered = await register_client(repos, spec, now=now)
                assert registered.client_secret is not None  # noqa: S101 - confidential
                clients.append(
                    ClientCredentials(registered.client.client_id, registered.client_secret)
                )
            await session.commit()
    finally:
        await engine.dispose()
    return Seeded(tuple(made), usernames, clients[0], clients[1])
