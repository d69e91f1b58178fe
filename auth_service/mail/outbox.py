"""Queueing a message: a row in the request's own transaction, sealed, and a nudge to the sender."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

from auth_service.mail.messages import Letter
from auth_service.repositories import Repositories
from auth_service.security.secret_box import SecretBox
from shared.models import MailMessage


class Outbox:
    def __init__(self, box: SecretBox) -> None:
        self.box = box
        # Set after a commit that queued mail, so the sender starts at once instead of at its
        # next poll; other instances find the row at their poll.
        self.wake = asyncio.Event()

    async def queue(self, repos: Repositories, letter: Letter, now: datetime) -> None:
        """Queue `letter` in `repos`' transaction: it is sent only if that transaction commits."""
        sealed = self.box.encrypt(json.dumps(letter.as_json()))
        await repos.mail.add(
            MailMessage(kind=letter.kind, sealed=sealed, created_at=now, next_attempt_at=now)
        )

    def open(self, message: MailMessage) -> Letter | None:
        """The letter a row holds; None if it cannot be read (the data key was replaced)."""
        plain = self.box.decrypt(message.sealed)
        return None if plain is None else Letter.from_json(json.loads(plain))
