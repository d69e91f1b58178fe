"""Two auth services, one the upstream of the other (identity brokering, issue 16), and a
scripted browser that signs in through them. The upstream is on 127.0.0.1, ours on localhost:
a browser keeps cookies by host and not by port, so the two sessions stay apart."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from tests.support.databases import fresh_database, sqlite_url
from tests.support.flows import csrf_from
from tests.support.live import LiveStack, live_stack

PROVIDER = "idp"  # the id of the upstream at our service
TRUSTED = "trusted-idp"  # the same upstream, registered again and marked trusted
PLAIN = "plain-idp"  # the same upstream, as plain OAuth 2.0 with a userinfo URL
PROVIDER_IDS = (PROVIDER, TRUSTED, PLAIN)
UPSTREAM_PASSWORD = "upstream-pass-1"  # noqa: S105 - test accounts
OUR_PASSWORD = "our-password-1"  # noqa: S105


@dataclass
class Brokered:
    ours: LiveStack  # at http://localhost:<port>
    upstream: LiveStack  # at http://127.0.0.1:<port>
    client_id: str  # ours, registered at the upstream

    def upstream_user(self, username: str, email: str, password: str = UPSTREAM_PASSWORD) -> None:
        self.upstream.cli("users", "create", "--username", username, "--password", password,
                          "--email", email, "--name", username.title())  # fmt: skip

    def our_user(self, username: str, email: str, password: str = OUR_PASSWORD) -> None:
        self.ours.cli("users", "create", "--username", username, "--password", password,
                      "--email", email, AUTH_ISSUER=self.ours.issuer)  # fmt: skip


@contextmanager
def brokered_stacks(tmp_path: Path) -> Iterator[Brokered]:
    (tmp_path / "ours").mkdir()
    (tmp_path / "upstream").mkdir()
    with (
        fresh_database(tmp_path / "ours") as ours_url,
        live_stack(ours_url, tmp_path / "ours", auth_host="localhost") as ours,
        live_stack(sqlite_url(tmp_path / "upstream" / "up.db"), tmp_path / "upstream") as upstream,
    ):
        upstream.start_auth()
        created = upstream.cli(
            "clients", "create", "--name", "Our provider", "--scope", "openid profile email",
            *[arg for pid in PROVIDER_IDS for arg in (
                "--redirect-uri", f"{ours.issuer}/login/upstream/{pid}/callback"
            )],
        )  # fmt: skip
        client_id, secret = created["client_id"], created["client_secret"]
        common = ("--client-id", client_id, "--client-secret", secret)
        ours.cli("upstreams", "create", "--id", PROVIDER, "--name", "Upstream ID",
                 "--issuer", upstream.issuer, *common, AUTH_ISSUER=ours.issuer)  # fmt: skip
        ours.cli("upstreams", "create", "--id", TRUSTED, "--name", "Trusted ID", "--trusted",
                 "--issuer", upstream.issuer, *common, AUTH_ISSUER=ours.issuer)  # fmt: skip
        ours.cli(
            "upstreams", "create", "--id", PLAIN, "--name", "Plain ID",
            "--authorization-endpoint", f"{upstream.issuer}/oauth/authorize",
            "--token-endpoint", f"{upstream.issuer}/oauth/token",
            "--userinfo-url", f"{upstream.issuer}/oauth/userinfo",
            "--scope", "openid profile email", "--token-auth", "client_secret_post",
            *common, AUTH_ISSUER=ours.issuer,
        )  # fmt: skip
        ours.start_auth(AUTH_ISSUER=ours.issuer)
        yield Brokered(ours, upstream, client_id)


class Person:
    """A browser: one cookie jar across both services, redirects followed by hand."""

    def __init__(self, stacks: Brokered) -> None:
        self.stacks = stacks
        self.http = httpx.Client(timeout=10)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Person:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ours(self, path: str) -> str:
        return f"{self.stacks.ours.issuer}{path}"

    def start(self, provider: str = PROVIDER) -> httpx.Response:
        """Press "Sign in with ..." on our login page; the answer sends the browser upstream."""
        page = self.http.get(self.ours("/login"))
        assert f'action="/login/upstream/{provider}"' in page.text, page.text
        response = self.http.post(self.ours(f"/login/upstream/{provider}"), data={
            "csrf_token": csrf_from(page.text), "request_id": "", "next": "",
        })  # fmt: skip
        assert response.status_code == 303, response.text
        assert response.headers["location"].startswith(
            f"{self.stacks.upstream.issuer}/oauth/authorize?"
        )
        return response

    def at_upstream(self, response: httpx.Response, username: str, *, allow: bool = True,
                    password: str = UPSTREAM_PASSWORD) -> str:  # fmt: skip
        """Sign in at the upstream and answer its consent; the URL it sends the browser back to."""
        upstream = self.stacks.upstream.issuer
        response = self.http.get(response.headers["location"])
        if response.status_code == 303 and response.headers["location"].startswith("/login"):
            login_url = f"{upstream}{response.headers['location']}"
            request_id = re.search(r"request_id=([\w-]+)", login_url).group(1)  # type: ignore[union-attr]
            page = self.http.get(login_url)
            response = self.http.post(f"{upstream}/login", data={
                "username": username, "password": password, "csrf_token": csrf_from(page.text),
                "request_id": request_id,
            })  # fmt: skip
            response = self.http.get(f"{upstream}{response.headers['location']}")
        if response.status_code == 200:  # the upstream's consent screen
            request_id = re.search(r'name="request_id" value="([\w-]+)"', response.text).group(1)  # type: ignore[union-attr]
            response = self.http.post(f"{upstream}/consent", data={
                "allow" if allow else "deny": "1", "csrf_token": csrf_from(response.text),
                "request_id": request_id,
            })  # fmt: skip
        assert response.status_code == 302, response.text
        location: str = response.headers["location"]
        assert location.startswith(self.ours("/login/upstream/")), location
        return location

    def back(self, callback: str) -> httpx.Response:
        return self.http.get(callback)

    def sign_in_through(self, username: str, provider: str = PROVIDER) -> httpx.Response:
        return self.back(self.at_upstream(self.start(provider), username))

    def sign_in_with_password(self, username: str, password: str = OUR_PASSWORD,
                              next_path: str = "") -> httpx.Response:  # fmt: skip
        page = self.http.get(self.ours(f"/login?next={next_path}"))
        return self.http.post(self.ours("/login"), data={
            "username": username, "password": password, "csrf_token": csrf_from(page.text),
            "request_id": "", "next": next_path,
        })  # fmt: skip

    def get(self, path: str) -> httpx.Response:
        return self.http.get(self.ours(path))

    def post(self, path: str, page: httpx.Response, **data: str) -> httpx.Response:
        return self.http.post(self.ours(path), data={"csrf_token": csrf_from(page.text), **data})


def path_of(location: str) -> str:
    parts = urlsplit(location)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path
