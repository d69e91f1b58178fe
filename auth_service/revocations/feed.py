"""The revocation feed's page: what `GET /oauth/revocations` answers and instances read locally."""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Any

from auth_service.repositories.revocations import RevocationRepository
from shared.bearer import require_bearer
from shared.errors import InvalidTokenError
from shared.models import RevocationEvent

FEED_PAGE = 1000
REALM = "myauth-revocations"


def validate_feed_token(authorization: str | None, expected: str | None) -> None:
    """With AUTH_REVOCATION_FEED_TOKEN set, followers send it as a bearer token (RFC 6750 §2.1):
    none is a bare challenge, a wrong one invalid_token (§3.1), compared in constant time."""
    if expected is None:
        return
    token = require_bearer(authorization, realm=REALM)
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise InvalidTokenError("the revocation feed token is not valid", realm=REALM)


def holds_feed_token(authorization: str | None, expected: str | None) -> bool:
    """Whether the caller proved the operator's feed token (never for a public feed)."""
    if expected is None or authorization is None:
        return False
    scheme, _, token = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode(), expected.encode()
    )


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
