"""A command-line client for the notes API that signs in with a code on a second screen.

A program in a terminal has no browser to receive a redirect, so it uses the device
authorization grant (RFC 8628): it asks MyAuthProvider for a pair of codes, shows the user the
short one and a URL, and polls the token endpoint with the long one while the user signs in on
any device with a browser (a phone will do) and allows the request. Then it lists the user's
notes from the resource API. One file, httpx only.

Run it against `make run` (README "Devices and command-line tools (device authorization)"):

    python examples/notes_cli.py

`auth-service demo seed` (part of `make run`) registers its client, the public client `notes-cli`.
"""

from __future__ import annotations

import argparse
import sys
import time
import unicodedata
from typing import Any

import httpx

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"  # RFC 8628 §3.4
BUSY = (429, 503)  # RFC 6585 §4, RFC 9110 §15.6.4: come back later (after Retry-After)
MAX_RETRY_AFTER = 300  # seconds: a longer (or absurd) Retry-After is capped
BUSY_RETRIES = 5  # at the device authorization endpoint, before giving up


class SignInFailed(Exception):
    """The device authorization ended without tokens (denied, expired, or refused)."""


def discover(http: httpx.Client, issuer: str) -> dict[str, Any]:
    """RFC 8414 §3: the provider's endpoints, from its metadata rather than hard-coded paths.
    §3.3: the metadata's `issuer` must be the one we asked, or it is not to be used (someone
    else's metadata would send our codes and tokens elsewhere)."""
    response = http.get(f"{issuer}/.well-known/oauth-authorization-server")
    response.raise_for_status()
    metadata: dict[str, Any] = response.json()
    if metadata.get("issuer") != issuer:
        raise SignInFailed(
            f"the metadata names the issuer {printable(str(metadata.get('issuer')))!r}, "
            f"not {issuer!r}"
        )
    return metadata


def retry_after(response: httpx.Response, default: float) -> float:
    """RFC 9110 §10.2.3: Retry-After in seconds (the HTTP-date form counts as `default`)."""
    value = response.headers.get("retry-after", "")
    seconds = int(value) if value.isdigit() else default
    return float(min(max(seconds, 1), MAX_RETRY_AFTER))


def start(http: httpx.Client, endpoint: str, client_id: str, scope: str) -> dict[str, Any]:
    """RFC 8628 §3.1: a public client names itself with client_id and proves nothing else.
    Busy (429, 503): wait as long as the server asks, a few times."""
    for _ in range(BUSY_RETRIES):
        response = http.post(endpoint, data={"client_id": client_id, "scope": scope})
        if response.status_code not in BUSY:
            break
        time.sleep(retry_after(response, 5))
    if response.status_code != 200:
        raise SignInFailed(describe_error(response))
    started: dict[str, Any] = response.json()
    return started


def poll(
    http: httpx.Client,
    token_endpoint: str,
    client_id: str,
    device_code: str,
    *,
    interval: int,
    expires_in: int,
) -> dict[str, Any]:
    """RFC 8628 §3.4-3.5: ask for tokens every `interval` seconds until the user has answered.

    `authorization_pending` means "ask again later"; `slow_down` means the same, and that the
    interval grows by 5 seconds for every later request. A busy server (429, 503) is asked
    again after its Retry-After, if that is longer. Waiting comes first: the user cannot have
    answered yet when the codes were only just shown.
    """
    deadline = time.monotonic() + expires_in
    wait: float = interval
    while time.monotonic() < deadline:
        time.sleep(wait)
        response = http.post(
            token_endpoint,
            data={
                "grant_type": DEVICE_CODE_GRANT,
                "device_code": device_code,
                "client_id": client_id,
            },
        )
        if response.status_code == 200:
            tokens: dict[str, Any] = response.json()
            return tokens
        if response.status_code in BUSY:
            wait = max(interval, retry_after(response, interval))
            continue
        error = error_code(response)
        if error == "authorization_pending":
            wait = interval
            continue
        if error == "slow_down":
            interval += 5
            wait = interval
            continue
        if error == "access_denied":
            raise SignInFailed("the request was denied on the other screen")
        if error == "expired_token":
            raise SignInFailed("the code expired before it was used; run the command again")
        raise SignInFailed(describe_error(response))
    raise SignInFailed("the code expired before it was used; run the command again")


def list_notes(http: httpx.Client, api: str, access_token: str) -> list[dict[str, Any]]:
    """Every note of the signed-in user, following the API's cursor from page to page."""
    notes: list[dict[str, Any]] = []
    params: dict[str, str] = {"limit": "100"}
    while True:
        response = http.get(
            f"{api}/api/v1/notes",
            params=params,
            headers={"Authorization": f"Bearer {access_token}"},  # RFC 6750 §2.1
        )
        response.raise_for_status()
        page = response.json()
        notes.extend(page["items"])
        if not page.get("next_cursor"):
            return notes
        params["cursor"] = page["next_cursor"]


def printable(text: str) -> str:
    """`text` without control and format characters (Unicode category C): what a server or
    another user wrote must not move the cursor, recolour or rewrite the terminal (ANSI escape
    sequences) or reorder what is shown (bidirectional overrides)."""
    return "".join(ch for ch in text if not unicodedata.category(ch).startswith("C"))


def error_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None


def describe_error(response: httpx.Response) -> str:
    """An OAuth error response (RFC 6749 §5.2) in one line, or the HTTP status."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "error" in body:
        text = f"{body['error']}: {body.get('error_description', '')}".rstrip(": ")
        return printable(text)
    return f"HTTP {response.status_code}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--issuer", default="http://127.0.0.1:8000", help="MyAuthProvider's URL")
    parser.add_argument("--api", default="http://127.0.0.1:8001", help="the notes API's URL")
    parser.add_argument("--client-id", default="notes-cli")
    parser.add_argument("--scope", default="read:notes")
    args = parser.parse_args()
    issuer, api = args.issuer.rstrip("/"), args.api.rstrip("/")
    with httpx.Client(timeout=10) as http:
        try:
            metadata = discover(http, issuer)
            started = start(
                http, metadata["device_authorization_endpoint"], args.client_id, args.scope
            )
            # RFC 8628 §3.3: show the short code and where to type it. The "complete" URL holds
            # the code already (for a QR code or a click); the page still asks to confirm it.
            print(f"To sign in, open {printable(started['verification_uri'])}", flush=True)
            print(f"and enter the code {printable(started['user_code'])}", flush=True)
            if "verification_uri_complete" in started:
                print(f"(or open {printable(started['verification_uri_complete'])})", flush=True)
            print("Waiting for you to allow it...", flush=True)
            tokens = poll(
                http,
                metadata["token_endpoint"],
                args.client_id,
                started["device_code"],
                interval=int(started.get("interval", 5)),  # §3.2: 5 s when not given
                expires_in=int(started["expires_in"]),
            )
            notes = list_notes(http, api, tokens["access_token"])
        except SignInFailed as failure:
            print(f"Sign-in failed: {failure}", file=sys.stderr)
            return 1
        except httpx.HTTPError as failure:
            print(f"Request failed: {failure}", file=sys.stderr)
            return 1
    # A real tool would keep tokens["refresh_token"] in the system's keychain for next time.
    print("Signed in.", flush=True)
    if not notes:
        print("You have no notes yet.")
    for note in notes:
        print(f"- {printable(note['title'])}")  # a title may hold anything its author typed
    return 0


if __name__ == "__main__":
    sys.exit(main())
