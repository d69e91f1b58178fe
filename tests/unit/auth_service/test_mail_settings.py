"""AUTH_SMTP_URL and its companions (README "Mail"): what each form means, and what is refused
at start-up with a message that names the setting."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from pydantic import ValidationError

from auth_service.config import AuthSettings
from auth_service.mail.messages import compose
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
