"""The pending authorization request, kept server-side while the user signs in and consents."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from auth_service.oauth.authorize.request import AuthorizationRequest
from auth_service.repositories import Repositories
from shared.models import (
    PendingAuthorization,
)


async def save_pending(
    repos: Repositories,
    request: AuthorizationRequest,
    *,
    now: datetime,
    ttl: int,
    min_auth_time: datetime | None,
) -> str:
    """Keep the validated request server-side while the user logs in or consents."""
    request_id = secrets.token_urlsafe(32)
    await repos.pending.add(
        PendingAuthorization(
            id=request_id,
            client_id=request.client_id,
            params=request.to_params(),
            min_auth_time=min_auth_time,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl),
        )
    )
    return request_id
