"""AUTH_SMTP_URL and its companions (README "Mail"): what each form means, and what is refused
at start-up with a message that names the setting."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage

import aiosmtplib
import pytest
from pydantic import ValidationError

from auth_service.config import AuthSettings
from auth_service.mail.messages import compose
from auth_service.mail.sender import Failure
from auth_service.mail.smtp import SmtpServer


def test_plain_smtp_with_credentials_in_the_url() -> None:
    server = SmtpServer.parse("smtp://mailer:p%40ss@mail.example:2525")

    assert (server.hostname, server.port, server.use_tls, server.start_tls) == (
        "mail.example",
        2525,
        False,
        False,
    )
    assert (server.username, server.password) == ("mailer", "p@ss")


def test_default_ports_and_tls_modes() -> None:
    assert SmtpServer.parse("smtp://mail.example").port == 25
    implicit = SmtpServer.parse("smtps://mail.example")
    assert (implicit.port, implicit.use_tls, implicit.start_tls) == (465, True, False)
    upgraded = SmtpServer.parse("smtp://mail.example:587", start_tls=True)
    assert (upgraded.use_tls, upgraded.start_tls) == (False, True)


def test_separate_credentials_win_over_the_url() -> None:
    server = SmtpServer.parse("smtp://a:b@mail.example", username="c", password="d")

    assert (server.username, server.password) == ("c", "d")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://mail.example", "smtp://host:port or smtps://host:port"),
        ("smtp://", "smtp://host:port or smtps://host:port"),
        ("smtp://mail.example/inbox", "no path, query or fragment"),
        ("smtp://mail.example:port", "port that is not a number"),
    ],
)
def test_malformed_urls_are_refused_at_start_up(url: str, message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        AuthSettings(_env_file=None, smtp_url=url)  # type: ignore[call-arg]

    assert message in str(raised.value)


def test_starttls_over_implicit_tls_is_refused() -> None:
    with pytest.raises(ValidationError) as raised:
        AuthSettings(
            _env_file=None,  # type: ignore[call-arg]
            smtp_url="smtps://mail.example",
            smtp_starttls=True,
        )

    assert "AUTH_SMTP_STARTTLS is for smtp://" in str(raised.value)


def test_a_message_has_a_text_and_an_html_part_and_escapes_what_people_typed() -> None:
    letter = compose(
        "password_reset",
        "ada@example.com",
        name="<b>Ada</b>",
        username="ada",
        link="http://auth.test/password/reset?token=abc",
        minutes=30,
    )
    message = letter.message(
        "MyAuthProvider <no-reply@auth.test>", datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    )

    assert isinstance(message, EmailMessage)
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert "Hello <b>Ada</b>," in text.get_content()
    assert "&lt;b&gt;Ada&lt;/b&gt;" in html.get_content()
    assert "<img" not in html.get_content()  # nothing remote, no tracking pixel
    assert message["Message-ID"].endswith("@auth.test>")


def test_a_display_name_reaches_a_mail_as_one_short_line() -> None:
    letter = compose(
        "password_changed", "ada@example.com", name="Your account is locked.\n\nUnlock it at "
        "https://evil.example/unlock" + "x" * 200, username="ada", when="today", reset=False, passkeys_removed=0,
            links_removed=0,
        forgot_link="http://auth.test/password/forgot",
    )  # fmt: skip

    greeting = letter.text.splitlines()[0]
    assert greeting.startswith("Hello Your account is locked. Unlock it at")
    assert len(greeting) <= len("Hello ,") + 64


def test_an_address_that_is_not_one_addr_spec_cannot_become_two_recipients() -> None:
    letter = compose("verify_email", "ada@corp.example,eve", username="ada", link="l", hours=1)

    with pytest.raises(ValueError):
        letter.message("MyAuthProvider <no-reply@auth.test>", datetime(2026, 12, 3, tzinfo=UTC))


def test_what_is_kept_of_a_failure_names_no_address_and_a_5xx_is_final() -> None:
    refused = Failure.of(
        aiosmtplib.SMTPRecipientRefused(
            550, "5.1.1 <ada@example.com>: no such user", "ada@example.com"
        )
    )
    busy = Failure.of(aiosmtplib.SMTPResponseException(451, "4.3.0 try later <ada@example.com>"))
    down = Failure.of(aiosmtplib.SMTPConnectError("cannot connect to 127.0.0.1:25"))

    assert (refused.text, refused.permanent) == ("SMTPRecipientRefused 550", True)
    assert (busy.text, busy.permanent) == ("SMTPResponseException 451", False)
    assert (down.text, down.permanent) == ("SMTPConnectError", False)
