"""Where mail goes: the SMTP server named by AUTH_SMTP_URL, reached with aiosmtplib."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import aiosmtplib

SCHEMES = {"smtp": 25, "smtps": 465}  # RFC 5321 §4.5.4.2 port 25; RFC 8314 §3.3 port 465


@dataclass(frozen=True, slots=True)
class SmtpServer:
    hostname: str
    port: int
    use_tls: bool  # smtps: TLS from the first byte (RFC 8314 implicit TLS)
    start_tls: bool  # smtp + AUTH_SMTP_STARTTLS: upgrade before anything is sent (RFC 3207)
    username: str | None
    password: str | None
    timeout: float

    @classmethod
    def parse(
        cls, url: str, *, start_tls: bool = False, username: str | None = None,
        password: str | None = None, timeout: float = 10.0,
    ) -> SmtpServer:  # fmt: skip
        """Raise ValueError (say what is wrong, never echo the password) for a bad URL."""
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES or not parts.hostname:
            raise ValueError("AUTH_SMTP_URL must look like smtp://host:port or smtps://host:port")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("AUTH_SMTP_URL takes no path, query or fragment")
        if start_tls and parts.scheme == "smtps":
            raise ValueError("AUTH_SMTP_STARTTLS is for smtp:// (smtps:// is TLS already)")
        try:
            port = parts.port or SCHEMES[parts.scheme]
        except ValueError as error:
            raise ValueError("AUTH_SMTP_URL has a port that is not a number") from error
        return cls(
            hostname=parts.hostname,
            port=port,
            use_tls=parts.scheme == "smtps",
            start_tls=start_tls,
            username=username or (unquote(parts.username) if parts.username else None),
            password=password or (unquote(parts.password) if parts.password else None),
            timeout=timeout,
        )

    async def send(self, message: EmailMessage) -> None:
        """Deliver `message` or raise (aiosmtplib.SMTPException, OSError, TimeoutError)."""
        await aiosmtplib.send(
            message,
            hostname=self.hostname,
            port=self.port,
            use_tls=self.use_tls,
            # False, not None: aiosmtplib would otherwise upgrade whenever the server offers it,
            # and a plain-text setting must mean plain text (or TLS when asked, never a guess).
            start_tls=self.start_tls,
            username=self.username,
            password=self.password,
            timeout=self.timeout,
        )
