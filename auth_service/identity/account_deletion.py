"""Deleting an account (README "Deleting an account"; GDPR Art. 17, the right to erasure).

One transaction: every grant is revoked through the path "connected apps" uses (refresh tokens
refused at once, access tokens published on the revocation feed); the feed also carries a
"subject deleted" event, so resource servers refuse every token of that `sub` and delete what
they hold for it (the notes API deletes the notes); audit events keep one random opaque id in
place of the user id; then the user row goes, and with it, by ON DELETE CASCADE, every other row
that names the person. Apps and resource servers the person registered in the developer portal
are deleted as the portal deletes them. A goodbye mail goes to the address, queued with no link
to the account.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from auth_service.clients.registry import delete_client
from auth_service.config import AuthSettings
from auth_service.mail.messages import compose
from auth_service.mail.outbox import Outbox
from auth_service.oauth.revocation import revoke_family
from auth_service.repositories import Repositories
from auth_service.resource_servers.registry import delete_resource_server
from shared.models import User
from shared.revocations import SUBJECT_DELETED, SUBJECT_DELETED_DAYS

OPAQUE_PREFIX = "deleted-"


def opaque_id() -> str:
    """36 characters like a user id, random: nothing links it to the account it stands for."""
    return OPAQUE_PREFIX + secrets.token_hex(14)


async def delete_account(
    repos: Repositories,
    outbox: Outbox | None,
    settings: AuthSettings,
    user: User,
    stand_in: str,
    now: datetime,
) -> int:
    """Delete `user` as described above; `stand_in` replaces its id in the audit table. Returns
    how many grants were revoked."""
    grant_ids = await repos.grants.active_ids_for_user(user.id)
    for grant_id in grant_ids:
        await revoke_family(repos, grant_id, now)
    # The apps and resource servers the person registered in the developer portal go with
    # them, each the way the portal deletes one: tokens issued to an app are published too.
    for client in await repos.clients.list_owned_by(user.id):
        await delete_client(repos, client, now=now)
    for server in await repos.resource_servers.list_owned_by(user.id):
        await delete_resource_server(repos, server, now=now)
    repos.revocations.add(
        SUBJECT_DELETED, user.id, expires_at=now + timedelta(days=SUBJECT_DELETED_DAYS), now=now
    )
    await repos.audit.pseudonymize(user.id, stand_in)
    email, name = user.email, user.name or user.username
    await repos.users.delete(user.id)
    if outbox is not None:
        letter = compose("account_deleted", email, name=name, when=now.strftime("%Y-%m-%d"))
        await outbox.queue(repos, letter, now)
    return len(grant_ids)
