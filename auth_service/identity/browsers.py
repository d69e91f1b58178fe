"""Which browser a session belongs to, as its owner would name it ("Firefox on Linux").

A few rules over the User-Agent header, not a database of every agent: the page only has to
let a person tell their own browsers apart. The header is the browser's own claim, so it is
shown as a hint, never used to decide anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_USER_AGENT = 512

# First match wins: Edge and Opera also say "Chrome", Chrome also says "Safari".
_BROWSERS = (
    ("Edge", re.compile(r"\bEdg(?:e|A|iOS)?/")),
    ("Opera", re.compile(r"\bOPR/|\bOpera\b")),
    ("Samsung Internet", re.compile(r"\bSamsungBrowser/")),
    ("Firefox", re.compile(r"\bFirefox/|\bFxiOS/")),
    ("Chrome", re.compile(r"\b(?:Headless)?Chrome/|\bCriOS/|\bChromium/")),
    ("Safari", re.compile(r"\bSafari/")),
    ("curl", re.compile(r"^curl/")),
)
_SYSTEMS = (
    ("iPhone", re.compile(r"\biPhone\b")),
    ("iPad", re.compile(r"\biPad\b")),
    ("Android", re.compile(r"\bAndroid\b")),
    ("ChromeOS", re.compile(r"\bCrOS\b")),
    ("Windows", re.compile(r"\bWindows\b")),
    ("macOS", re.compile(r"\bMac OS X\b|\bMacintosh\b")),
    ("Linux", re.compile(r"\bLinux\b|\bX11\b")),
)


@dataclass(frozen=True, slots=True)
class BrowserInfo:
    """What a sign-in records about the browser: its User-Agent and address, as received."""

    user_agent: str | None
    ip: str | None

    @classmethod
    def of(cls, user_agent: str | None, ip: str | None) -> BrowserInfo:
        # The column holds 45 characters (the longest IPv6 text form); a zone id or a proxy's
        # odd value is cut rather than failing the sign-in.
        return cls((user_agent or "")[:MAX_USER_AGENT] or None, ip[:45] if ip else None)


def describe(user_agent: str | None) -> str:
    """ "Firefox on Linux", "Safari on iPhone", or "An unknown browser"."""
    agent = user_agent or ""
    browser = next((name for name, rule in _BROWSERS if rule.search(agent)), None)
    system = next((name for name, rule in _SYSTEMS if rule.search(agent)), None)
    if browser and system:
        return f"{browser} on {system}"
    if browser or system:
        return f"{browser or 'A browser'}{f' on {system}' if system else ''}"
    return "An unknown browser"
