"""The background sender: drains the outbox over SMTP, on every auth instance.

Each message is claimed with a conditional UPDATE before it is sent, so instances share the
queue without sending a message twice at once. A failed attempt waits 30 s, then twice as long
each time (capped at an hour); after AUTH_MAIL_MAX_ATTEMPTS the message is logged and kept with
`failed_at` set. A sent message's row is deleted at once: it held a link worth an account.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiosmtplib
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from auth_service.mail.outbox import Outbox
from auth_service.mail.smtp import SmtpServer
from auth_service.repositories import Repositories
from shared.models import MailMessage

logger = logging.getLogger(__name__)
BATCH = 20
FIRST_RETRY = 30.0  # seconds
MAX_RETRY = 3600.0
# How long a claimed message is this instance's: longer than one SMTP attempt can take (each
# of its few exchanges is bounded by AUTH_SMTP_TIMEOUT).
MIN_LEASE = timedelta(minutes=5)


def retry_delay(attempts: int) -> timedelta:
    return timedelta(seconds=min(FIRST_RETRY * 2 ** (attempts - 1), MAX_RETRY))


class MailSender:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        server: SmtpServer,
        *,
        sender: str,
        max_attempts: int,
        poll_interval: float,
        clock: Callable[[], datetime],
    ) -> None:
        self.sessionmaker = sessionmaker
        self.outbox = outbox
        self.server = server
        self.sender = sender
        self.max_attempts = max_attempts
        self.poll_interval = poll_interval
        self.clock = clock
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.lease = max(MIN_LEASE, timedelta(seconds=10 * server.timeout))

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Let an attempt under way finish (its outcome recorded), then end. Cancelling it
        mid-transaction could leave a connection the pool never gets back, and a message sent
        but still claimed (sent again once the lease ends)."""
        if self._task is None:
            return
        self._stopping = True
        self.outbox.wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), self.server.timeout + 5)
        except TimeoutError:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._task = None
        self._stopping = False  # the loop has ended: drain() called directly works again

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.outbox.wake.wait(), self.poll_interval)
            self.outbox.wake.clear()
            if self._stopping:
                return
            try:
                # A full batch may mean more are due; a stop ends the round (drain returns early).
                while await self.drain() == BATCH and not self._stopping:
                    pass
            except Exception as exc:  # noqa: BLE001 - a database outage must not end the loop
                logger.warning("mail sender failed: %s", type(exc).__name__)

    async def drain(self) -> int:
        """Try every due message once (up to BATCH); how many were due. Each is claimed just
        before its attempt, so a slow server never holds later messages past their lease."""
        async with self.sessionmaker() as session:
            due = list(await Repositories.over(session).mail.due(self.clock(), BATCH))
        for message in due:
            if self._stopping:
                break
            if await self._claim(message):
                await self._attempt(message)
        return len(due)

    async def _claim(self, message: MailMessage) -> bool:
        async with self.sessionmaker() as session:
            repos = Repositories.over(session)
            claimed = await repos.mail.claim(message, self.clock() + self.lease)
            await session.commit()
        return claimed

    async def _attempt(self, message: MailMessage) -> None:
        letter = self.outbox.open(message)
        failure: Failure | None = None
        if letter is None:
            failure = Failure("cannot be decrypted with this data key", permanent=True)
        else:
            try:
                await self.server.send(letter.message(self.sender, self.clock()))
            except Exception as exc:  # noqa: BLE001 - every SMTP, TLS and socket failure alike
                failure = Failure.of(exc)
        now = self.clock()
        attempts = message.attempts + 1
        give_up = failure is not None and (failure.permanent or attempts >= self.max_attempts)
        async with self.sessionmaker() as session:
            repos = Repositories.over(session)
            if failure is None:
                await repos.mail.delete(message.id)
            else:
                retry_at = None if give_up else now + retry_delay(attempts)
                await repos.mail.attempt_failed(
                    message.id, attempts=attempts, error=failure.text, retry_at=retry_at, now=now
                )
            await session.commit()
        fields = {"message_id": message.id, "kind": message.kind}
        if failure is None:
            logger.info("mail sent", extra={"fields": fields})
        elif give_up:
            logger.error(
                "mail not sent, given up", extra={"fields": {**fields, "error": failure.text}}
            )
        else:
            logger.warning(
                "mail not sent, will retry", extra={"fields": {**fields, "error": failure.text}}
            )


@dataclass(frozen=True, slots=True)
class Failure:
    """Why an attempt failed, as kept and logged: the exception's type and the SMTP reply code,
    never its text (a refused recipient's reply quotes the address, which is sealed at rest)."""

    text: str
    permanent: bool

    @classmethod
    def of(cls, exc: Exception) -> Failure:
        code = getattr(exc, "code", None)
        if isinstance(exc, aiosmtplib.SMTPResponseException) and isinstance(code, int):
            # RFC 5321 §4.2.1: 5yz is a permanent negative reply; trying again cannot help.
            return cls(f"{type(exc).__name__} {code}", permanent=code >= 500)
        # A message that cannot be built (an address that is no single addr-spec) stays so.
        return cls(type(exc).__name__, permanent=isinstance(exc, ValueError))
