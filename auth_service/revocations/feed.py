"""The revocation feed's page: what `GET /oauth/revocations` answers and instances read locally."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from auth_service.repositories.revocations import RevocationRepository
from shared.models import RevocationEvent

FEED_PAGE = 1000


async def feed_page(
    revocations: RevocationRepository, *, since: datetime, after: int, now: datetime
) -> dict[str, Any]:
    """Unexpired events created at or after `since`, by id after `after`, at most FEED_PAGE.

    A page that is not `complete` continues with `after` = its last id; followers then ask again
    from a little before this page's `now`, since commits land out of order.
    """
    events = await revocations.since(since, now, after_id=after, limit=FEED_PAGE)
    return {
        "now": now.timestamp(),
        "complete": len(events) < FEED_PAGE,
        "events": [_event(event) for event in events],
    }


def _event(event: RevocationEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.kind,
        "value": event.value,
        "created_at": event.created_at.timestamp(),
        "expires_at": int(event.expires_at.timestamp()),
    }
