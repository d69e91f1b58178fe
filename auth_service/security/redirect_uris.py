"""Rules for registering redirect URIs (RFC 6749 §3.1.2, RFC 8252 §7, RFC 9700 §4.1).

At request time the rule is exact string equality with a registered URI (`Client.allows_redirect_uri`);
this module decides which URIs may be registered at all.
"""

from __future__ import annotations

from urllib.parse import urlsplit

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def redirect_uri_problem(uri: str) -> str | None:
    """Why `uri` may not be registered, or None when it may."""
    if len(uri) > 2000:
        return "redirect URI is too long"
    if any(ch.isspace() for ch in uri) or not uri.isprintable():
        return "redirect URI must not contain spaces or control characters"
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "redirect URI is not a valid URI"
    if not parts.scheme:
        return "redirect URI must be absolute (RFC 6749 section 3.1.2)"
    if "#" in uri:
        return "redirect URI must not contain a fragment (RFC 6749 section 3.1.2)"
    if "*" in uri:
        return "redirect URI must not contain wildcards (RFC 9700 section 4.1.3)"
    scheme = parts.scheme.lower()
    if scheme == "https":
        return None if parts.hostname else "https redirect URI needs a host"
    if scheme == "http":
        host = parts.netloc.rsplit("@", 1)[-1]
        host = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if host.lower() in LOOPBACK_HOSTS and "@" not in parts.netloc:
            return None  # RFC 8252 §7.3 loopback redirect for native apps
        return (
            "http redirect URIs are allowed only for localhost, 127.0.0.1 and [::1] "
            "(RFC 8252 section 7.3)"
        )
    if scheme in ("javascript", "data", "file", "vbscript", "blob", "about"):
        return f"the {scheme}: scheme cannot be a redirect URI"
    # RFC 8252 §7.1: private-use schemes are reverse domain names, e.g. com.example.app:/cb.
    if "." not in scheme:
        return "a private-use URI scheme must be a reverse domain name such as com.example.app"
    return None


def display_host(uri: str) -> str:
    """Where a URI leads, as a person should check it before following it (RFC 9700 §4.11.2):
    the host (and port) in its ASCII form, so credentials in front of it or look-alike letters
    cannot disguise it; a native app's private-use scheme shows as the scheme (RFC 8252 §7.1)."""
    try:
        parts = urlsplit(uri)
        host, port = parts.hostname, parts.port
    except ValueError:
        return "an unreadable address"
    if not host:
        return parts.scheme or uri
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        host = host.encode("ascii", "replace").decode("ascii")
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}" if port is not None else host
