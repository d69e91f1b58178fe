"""A real SMTP server for tests: the project's own catcher (aiosmtpd), on a free loopback port."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from auth_service.config import AuthSettings
from devtools.mail_catcher import catcher
from shared.models import MailMessage
from tests.support.db import Database
from tests.support.live import free_port

_LINK = re.compile(r"(http://\S+/password/reset\?token=[A-Za-z0-9_-]+)")


@dataclass
class Catcher:
    directory: Path
    port: int

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def messages(self) -> list[EmailMessage]:
        found = []
        for path in sorted(self.directory.glob("*.eml")):
            parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            found.append(parsed)
        return found

    async def wait_for(self, count: int, seconds: float = 10.0) -> list[EmailMessage]:
        """The first `count` messages, once that many arrived; fails after `seconds`."""
        for _ in range(int(seconds / 0.02)):
            if len(found := self.messages()) >= count:
                return found
            await asyncio.sleep(0.02)
        raise AssertionError(f"{count} messages expected, {len(self.messages())} arrived")


async def outbox_empty(db: Database, seconds: float = 5.0) -> bool:
    """True once no message waits in the outbox. The catcher has a message as soon as the DATA
    ends; the sender deletes the row only after its SMTP session, a moment later."""
    for _ in range(int(seconds / 0.02)):
        if await db.count(MailMessage) == 0:
            return True
        await asyncio.sleep(0.02)
    return False


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    text: str = part.get_content()
    return text


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    html: str = part.get_content()
    return html


def reset_link(message: EmailMessage) -> str:
    match = _LINK.search(text_of(message))
    assert match is not None, text_of(message)
    return match.group(1)


def with_mail(settings: AuthSettings, catcher: Catcher, *, notices: bool = False) -> AuthSettings:
    """`settings` sending to `catcher`, polling fast; without sign-in notices unless asked, so a
    test counts the mail of its own feature."""
    update = {"smtp_url": catcher.url, "mail_poll_interval": 0.05, "sign_in_notices": notices}
    return settings.model_copy(update=update)


@contextmanager
def running_catcher(directory: Path, port: int | None = None) -> Iterator[Catcher]:
    port = port or free_port()
    controller = catcher(directory, port=port)
    controller.start()
    try:
        yield Catcher(directory, port)
    finally:
        controller.stop()
