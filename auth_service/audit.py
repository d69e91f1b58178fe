"""Security events: one row in the audit table and one structured log line, never a secret.

Most events are written in the request's own transaction, so they exist exactly when what they
describe does. High-volume routine events (a token was issued) go through `AuditBuffer`, which
writes them in batches off the request path: one token request costs no extra database round
trip, at the price of losing at most the last half second of such events in a crash. They are
handed to the buffer only once the request's transaction has committed, so a token that was
never issued (its commit failed) leaves no event either.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from auth_service.repositories import Repositories
from shared.models import AuditEvent

logger = logging.getLogger("audit")


class AuditBuffer:
    """Batches routine audit rows into their own transactions, every `interval` seconds."""

    MAX_PENDING = 50_000

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, interval: float = 0.5
    ) -> None:
        self._sessionmaker = sessionmaker
        self._interval = interval
        # Column values, not ORM objects: building a mapped instance per token cost ~0.1 ms.
        self._pending: deque[dict[str, Any]] = deque(maxlen=self.MAX_PENDING)
        self._task: asyncio.Task[None] | None = None
        # One flush at a time: two would both insert the same batch, and the later one's
        # popleft would then fail on an emptied queue (ending the background task).
        self._flushing = asyncio.Lock()

    def add(self, row: dict[str, Any]) -> None:
        self._pending.append(row)

    def extend(self, rows: Iterable[dict[str, Any]]) -> None:
        self._pending.extend(rows)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.flush()

    async def flush(self) -> int:
        async with self._flushing:
            return await self._flush()

    async def _flush(self) -> int:
        batch = list(self._pending)
        if not batch:
            return 0
        try:
            async with self._sessionmaker() as session:
                # One executemany, not one ORM insert (and round trip) per row.
                await session.exec(insert(AuditEvent), params=batch)
                await session.commit()
        except Exception as exc:  # noqa: BLE001 - keep them for the next try (database outage)
            logger.warning(
                "audit buffer: flush failed, %d events kept: %s", len(batch), type(exc).__name__
            )
            return 0
        for _ in batch:
            self._pending.popleft()
        return len(batch)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.flush()


class AuditSink(Protocol):
    """Where an Auditor puts rows: the request's unit of work (`auth_service.unit_of_work`)."""

    @property
    def repos(self) -> Repositories: ...

    def hold(self, row: dict[str, Any]) -> None: ...


class Auditor:
    """Bound to one request: its unit of work, request id, client IP and clock reading."""

    def __init__(
        self, sink: AuditSink, *, now: datetime, request_id: str | None, ip: str | None,
        count: Callable[[str], None] | None = None,
    ) -> None:  # fmt: skip
        self._sink = sink
        self._count = count  # the audit_events metric (README "Dashboards")
        self._now = now
        self._request_id = request_id
        self._ip = ip

    def record(
        self,
        event: str,
        *,
        user_id: str | None = None,
        client_id: str | None = None,
        routine: bool = False,
        **details: Any,
    ) -> None:
        """`routine` events (token issued) are batched once the unit of work commits; every
        other event joins its transaction."""
        row: dict[str, Any] = {
            "created_at": self._now,
            "event": event,
            "user_id": user_id,
            "client_id": client_id,
            "request_id": self._request_id,
            "ip": self._ip,
            "details": details,
        }
        if routine:
            self._sink.hold(row)
        else:
            self._sink.repos.audit.add(AuditEvent(**row))
        if self._count is not None:
            self._count(event)
        if logger.isEnabledFor(logging.INFO):
            fields = {"event": event, "user_id": user_id, "client_id": client_id, **details}
            logger.info("audit %s", event, extra={"fields": fields})
