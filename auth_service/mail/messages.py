"""Mail as people read it: plain text, with a simple HTML alternative, from templates.

No images, no remote content, no tracking; every link is built from the issuer URL by the
caller (security rules: never from the Host header)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATE_DIR = Path(__file__).parent.parent / "templates" / "mail"
PRODUCT = "MyAuthProvider"
SUBJECTS = {
    "password_reset": f"Reset your {PRODUCT} password",
    "password_changed": f"Your {PRODUCT} password was changed",
    "verify_email": f"Confirm your email address for {PRODUCT}",
    "new_sign_in": f"New sign-in to your {PRODUCT} account",
    "account_deleted": f"Your {PRODUCT} account was deleted",
    "passkey_added": f"A passkey was added to your {PRODUCT} account",
    "upstream_linked": f"A sign-in provider was linked to your {PRODUCT} account",
}

_templates = Environment(
    loader=FileSystemLoader(TEMPLATE_DIR),
    autoescape=select_autoescape(["html"]),  # the text part is text: nothing to escape
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


@dataclass(frozen=True, slots=True)
class Letter:
    """A rendered message before it has a sender and a date."""

    kind: str
    to: str
    subject: str
    text: str
    html: str

    def as_json(self) -> dict[str, str]:
        return {"kind": self.kind, "to": self.to, "subject": self.subject, "text": self.text,
                "html": self.html}  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, str]) -> Letter:
        return cls(data["kind"], data["to"], data["subject"], data["text"], data["html"])

    def message(self, sender: str, now: datetime) -> EmailMessage:
        message = EmailMessage()
        message["From"] = sender
        # One addr-spec, parsed strictly: a stored address holding "," or ";" is refused
        # (ValueError, a permanent failure) instead of becoming two recipients.
        message["To"] = Address(addr_spec=self.to)
        message["Subject"] = self.subject
        message["Date"] = format_datetime(now)
        message["Message-ID"] = make_msgid(domain=_domain_of(sender))
        # RFC 3834 §5: mail a machine sends on its own; auto-responders should not answer it.
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(self.text)
        message.add_alternative(self.html, subtype="html")
        return message


def compose(kind: str, to: str, **context: Any) -> Letter:
    if isinstance(context.get("name"), str):  # a display name: one short line, nothing more
        context["name"] = " ".join(context["name"].split())[:64]
    context = {"product": PRODUCT, **context}
    text = _templates.get_template(f"{kind}.txt").render(context)
    html = _templates.get_template(f"{kind}.html").render(context)
    return Letter(kind, to, SUBJECTS[kind], text, html)


def _domain_of(sender: str) -> str:
    address = sender.rsplit("<", 1)[-1].rstrip(">")
    return address.rsplit("@", 1)[-1] or "localhost"
