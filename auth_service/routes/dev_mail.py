"""/dev/mail: what the local mail catcher caught (development on this machine only; 404 otherwise).

The catcher (`devtools/mail_catcher.py`, started by `make run`) writes each message it receives
as a file in AUTH_DEV_MAIL_DIR; this page reads them, so what it shows went through real SMTP.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from starlette.responses import Response

from auth_service.config import AuthSettings
from auth_service.web.pages import render

router = APIRouter(tags=["pages"], include_in_schema=False)
SHOWN = 50
_URL = re.compile(r"https?://[^\s<>\"']+")


@dataclass(frozen=True, slots=True)
class CaughtMail:
    name: str
    sender: str
    to: str
    subject: str
    date: str
    # The text part cut at URLs: (text, True) is a link, shown as one only under the issuer.
    pieces: tuple[tuple[str, bool], ...]


@router.get("/dev/mail")
async def caught_mail(request: Request) -> Response:
    settings: AuthSettings = request.app.state.settings
    # Development on this machine only (AUTH_ENVIRONMENT is development by default): the page
    # shows live reset links to whoever can reach it.
    if not settings.relaxed_egress:
        return render(request, "error.html", {"title": "Not found", "error": "not_found",
                      "description": "There is no such page."}, status_code=404)  # fmt: skip
    directory = settings.dev_mail_dir
    messages = [_read_or_note(path, settings.issuer) for path in _newest(directory)]
    return render(
        request,
        "dev_mail.html",
        {"title": "Caught mail", "messages": messages, "directory": str(directory),
         "smtp_url": _without_credentials(settings.smtp_url)},
    )  # fmt: skip


def _without_credentials(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]).geturl()


def _newest(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(directory.glob("*.eml"), reverse=True)[:SHOWN]


def _read_or_note(path: Path, issuer: str) -> CaughtMail:
    """Anyone on this machine can send the catcher anything: a message that does not parse
    (an unknown charset, say) is listed as unreadable instead of failing the page."""
    try:
        return _read(path, issuer)
    except (LookupError, ValueError, TypeError, UnicodeError, OSError):
        return CaughtMail(path.stem, "", "", "(a message that could not be read)", "", ())


def _read(path: Path, issuer: str) -> CaughtMail:
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)  # noqa: S101 - the default policy makes these
    body = parsed.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    return CaughtMail(
        name=path.stem,
        sender=str(parsed.get("From", "")),
        to=str(parsed.get("To", "")),
        subject=str(parsed.get("Subject", "")),
        date=str(parsed.get("Date", "")),
        pieces=_pieces(text, issuer),
    )


def _pieces(text: str, issuer: str) -> tuple[tuple[str, bool], ...]:
    pieces: list[tuple[str, bool]] = []
    at = 0
    for match in _URL.finditer(text):
        pieces.append((text[at : match.start()], False))
        url = match.group(0)
        pieces.append((url, url.startswith(issuer + "/")))
        at = match.end()
    pieces.append((text[at:], False))
    return tuple(pieces)
