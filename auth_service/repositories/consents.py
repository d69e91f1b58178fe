"""The user's remembered consent per client."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from shared.models import Consent
from shared.scopes import format_scope


class ConsentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: str, client_id: str) -> Consent | None:
        return await self.session.get(Consent, (user_id, client_id))

    async def record(
        self, user_id: str, client_id: str, scopes: frozenset[str], now: datetime
    ) -> Consent:
        """Remember the union of what the user has allowed this client so far."""
        consent = await self.get(user_id, client_id)
        if consent is None:
            consent = Consent(
                user_id=user_id,
                client_id=client_id,
                scope=format_scope(scopes),
                created_at=now,
                updated_at=now,
            )
            self.session.add(consent)
        else:
            consent.scope = format_scope(consent.scopes | scopes)
            consent.updated_at = now
        await self.session.flush()
        return consent
