"""The outbox (issue 16, "Mail, for real"): mail waits in the database, a background sender
delivers it over real SMTP, retries with a doubling wait, gives up (logged, kept) after
AUTH_MAIL_MAX_ATTEMPTS, and a restart loses nothing. Without AUTH_SMTP_URL nothing needs mail."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from auth_service.config import AuthSettings
from auth_service.mail.sender import MailSender
from auth_service.main import create_app
from shared.models import MailedToken, MailMessage
from tests.conftest import ISSUER
from tests.factories import TestUser, make_user
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.flows import csrf_from
from tests.support.live import free_port
from tests.support.mail import outbox_empty, reset_link, running_catcher
from tests.support.pages import sign_in
from tests.support.portal import browser, submit

EMAIL = "grace@example.com"


@pytest.fixture
async def user(db: Database) -> TestUser:
    return await make_user(db, username="grace", email=EMAIL)


def with_mail(settings: AuthSettings, port: int, **more: object) -> AuthSettings:
    update = {"smtp_url": f"smtp://127.0.0.1:{port}", "mail_poll_interval": 3600.0, **more}
    return settings.model_copy(update=update)


async def ask_for_link(app: FastAPI) -> None:
    async with browser(app) as forgetful:
        page = await forgetful.get("/password/forgot")
        data = {"email": EMAIL, "csrf_token": csrf_from(page.text)}
        assert (await forgetful.post("/password/forgot", data=data)).status_code == 200


def assert_about(moment: datetime, expected: datetime) -> None:
    """Equal within the time the test itself takes (the test clock keeps running)."""
    assert abs(moment - expected) < timedelta(seconds=2), (moment, expected)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append((record.levelno, record.getMessage()))


def sender_of(app: FastAPI) -> MailSender:
    sender: MailSender = app.state.mail_sender
    return sender


async def sender_by_hand(app: FastAPI) -> MailSender:
    """The app's sender with its background loop ended, so only the test's drain() calls touch
    the queue (the loop, woken by the queued message, raced them: a claim the test did not
    expect moved the retry times)."""
    sender = sender_of(app)
    await sender.stop()
    return sender


async def test_mail_that_cannot_be_sent_waits_longer_each_time_then_is_delivered(
    db: Database, settings: AuthSettings, clock: TestClock, tmp_path: Path, user: TestUser
) -> None:
    port = free_port()  # nothing listens there yet: the SMTP server is down
    app = create_app(with_mail(settings, port), clock=clock)
    async with LifespanManager(app):
        sender = await sender_by_hand(app)
        await ask_for_link(app)
        assert await sender.drain() == 1
        (waiting,) = await db.all(MailMessage)
        assert (waiting.attempts, waiting.failed_at) == (1, None)
        assert waiting.last_error is not None and "Connect" in waiting.last_error
        assert_about(waiting.next_attempt_at, clock() + timedelta(seconds=30))
        assert await sender.drain() == 0  # not due yet
        clock.advance(31)
        assert await sender.drain() == 1
        (waiting,) = await db.all(MailMessage)
        assert waiting.attempts == 2
        assert_about(waiting.next_attempt_at, clock() + timedelta(seconds=60))

        with running_catcher(tmp_path / "caught", port) as catcher:
            clock.advance(61)
            assert await sender.drain() == 1

            (mail,) = await catcher.wait_for(1)
        assert reset_link(mail).startswith(f"{ISSUER}/password/reset?token=")
        assert await db.count(MailMessage) == 0


async def test_mail_that_keeps_failing_is_logged_and_kept(
    db: Database,
    settings: AuthSettings,
    clock: TestClock,
    user: TestUser,
) -> None:
    app = create_app(with_mail(settings, free_port(), mail_max_attempts=2), clock=clock)
    records, logger = Records(), logging.getLogger("auth_service.mail.sender")
    async with LifespanManager(app):
        sender = await sender_by_hand(app)
        await ask_for_link(app)
        await sender.drain()
        clock.advance(31)
        logger.addHandler(records)
        try:
            await sender.drain()
        finally:
            logger.removeHandler(records)
        clock.advance(86400)

        assert await sender.drain() == 0
    (kept,) = await db.all(MailMessage)
    assert kept.attempts == 2 and kept.failed_at is not None
    assert records.messages == [(logging.ERROR, "mail not sent, given up")]
    assert EMAIL not in kept.sealed  # sealed at rest, even when kept


async def test_a_restart_loses_no_queued_mail(
    db: Database, settings: AuthSettings, clock: TestClock, tmp_path: Path, user: TestUser
) -> None:
    port = free_port()
    first = create_app(with_mail(settings, port), clock=clock)
    async with LifespanManager(first):
        await ask_for_link(first)  # the server is down: the message stays queued
    assert await db.count(MailMessage) == 1
    clock.advance(31)  # past the wait after the failed attempt

    with running_catcher(tmp_path / "caught", port) as catcher:
        second = create_app(with_mail(settings, port, mail_poll_interval=0.05), clock=clock)
        async with LifespanManager(second):
            (mail,) = await catcher.wait_for(1)
    assert mail["To"] == EMAIL
    assert await db.count(MailMessage) == 0


async def test_two_instances_share_the_queue_without_sending_a_message_twice(
    db: Database, settings: AuthSettings, clock: TestClock, tmp_path: Path, user: TestUser
) -> None:
    with running_catcher(tmp_path / "caught") as catcher:
        one = create_app(with_mail(settings, catcher.port), clock=clock)
        two = create_app(with_mail(settings, catcher.port), clock=clock)
        async with LifespanManager(one), LifespanManager(two):
            for _ in range(3):
                await ask_for_link(one)  # `one` starts on them in the background at once
            await asyncio.gather(sender_of(two).drain(), sender_of(one).drain())
            await catcher.wait_for(3)
            await asyncio.sleep(0.3)  # a duplicate would have arrived by now

            assert len(catcher.messages()) == 3
            assert await outbox_empty(db)


async def test_without_smtp_nothing_offers_a_mailed_link(auth_client: httpx.AsyncClient) -> None:
    login = await auth_client.get("/login")
    forgot = await auth_client.get("/password/forgot")
    reset = await auth_client.get("/password/reset?token=abc")

    assert "/password/forgot" not in login.text
    assert (forgot.status_code, reset.status_code) == (404, 404)
    assert "does not send mail" in forgot.text


async def test_dev_mail_shows_what_the_catcher_caught_in_development_only(
    db: Database, settings: AuthSettings, clock: TestClock, tmp_path: Path, user: TestUser
) -> None:
    caught = tmp_path / "caught"
    with running_catcher(caught) as catcher:
        development = with_mail(
            settings, catcher.port, mail_poll_interval=0.05, dev_mail_dir=caught
        )
        app = create_app(development, clock=clock)
        async with LifespanManager(app):
            await ask_for_link(app)
            link = reset_link((await catcher.wait_for(1))[0])
            async with browser(app) as developer:
                page = await developer.get("/dev/mail")

            assert page.status_code == 200
            assert "Reset your MyAuthProvider password" in page.text
            assert f'<a href="{link}">' in page.text
        production = create_app(development.model_copy(update={"environment": "production"}))
        async with LifespanManager(production), browser(production) as outsider:
            refused = await outsider.get("/dev/mail")

        assert refused.status_code == 404
        assert "Reset your" not in refused.text


async def test_without_smtp_sign_up_and_account_pages_offer_no_mailed_link(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    await sign_in(auth_client, user)

    account = await auth_client.get("/account")
    resend = await submit(auth_client, "/account", "/account/email/verify", {})

    assert "Not confirmed yet." in account.text
    assert "Send the link again" not in account.text
    assert resend.status_code == 404
    assert await db.count(MailMessage) == 0 and await db.count(MailedToken) == 0


async def test_dev_mail_lists_an_unreadable_message_and_hides_smtp_credentials(
    db: Database, settings: AuthSettings, clock: TestClock, tmp_path: Path
) -> None:
    caught = tmp_path / "caught"
    caught.mkdir()
    (caught / "0001-odd.eml").write_bytes(
        b"Subject: odd\r\nContent-Type: text/plain; charset=x-bogus\r\n\r\nhello\r\n"
    )
    development = settings.model_copy(
        update={"smtp_url": "smtp://mailer:s3cret-pw@127.0.0.1:2525", "dev_mail_dir": caught}
    )
    app = create_app(development, clock=clock)
    async with LifespanManager(app), browser(app) as developer:
        page = await developer.get("/dev/mail")

    assert page.status_code == 200
    assert "(a message that could not be read)" in page.text
    assert "s3cret-pw" not in page.text and "smtp://127.0.0.1:2525" in page.text
