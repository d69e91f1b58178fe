"""The notes API's part in deleting an account (README "Deleting an account").

The issuer's revocation feed carries a "subject deleted" event for each deleted account; the
feed follower calls `delete_user_data` once per event it hears (again after a restart, and on
the next poll if this fails), so it must be idempotent, and is: it deletes whatever notes are
left. With one shared database the user row's ON DELETE CASCADE has usually taken them already;
a resource server with storage of its own needs this hook, and it is the one to copy.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from resource_service.repositories.notes import NoteRepository

logger = logging.getLogger(__name__)


def user_data_deleter(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> Callable[[str], Awaitable[None]]:
    async def delete_user_data(user_id: str) -> None:
        async with sessionmaker() as session:
            deleted = await NoteRepository(session).delete_all_for_owner(user_id)
            await session.commit()
        logger.info("deleted account's data removed", extra={"fields": {"notes": deleted}})

    return delete_user_data
