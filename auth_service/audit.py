"""Security events: one row in the audit table and one structured log line, never a secret."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from auth_service.repositories.audit import AuditRepository
from shared.models import AuditEvent

logger = logging.getLogger("audit")


class Auditor:
    """Bound to one request: its unit of work, request id, client IP and clock reading."""

    def __init__(
        self, repo: AuditRepository, *, now: datetime, request_id: str | None, ip: str | None
    ) -> None:
        self._repo = repo
        self._now = now
        self._request_id = request_id
        self._ip = ip

    def record(
        self,
        event: str,
        *,
        user_id: str | None = None,
        client_id: str | None = None,
        **details: Any,
    ) -> None:
        self._repo.add(
            AuditEvent(
                created_at=self._now,
                event=event,
                user_id=user_id,
                client_id=client_id,
                request_id=self._request_id,
                ip=self._ip,
                details=details,
            )
        )
        fields = {"event": event, "user_id": user_id, "client_id": client_id, **details}
        logger.info("audit %s", event, extra={"fields": fields})
