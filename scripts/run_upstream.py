"""`make run-upstream`: a second auth service at http://localhost:8010 to sign in with, added to
the `make run` instance as the upstream provider "local-upstream" (README "Sign in with another
provider"). Its own database and keys live in var/upstream; its person is printed at start.

`localhost`, not 127.0.0.1: a browser keeps cookies by host and not by port, so the two
instances' sessions would overwrite each other on one host.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
HOME = Path("var/upstream")
PORT = 8010
ISSUER = f"http://localhost:{PORT}"
PROVIDER_ID = "local-upstream"
CREDENTIALS = HOME / "credentials.json"
USERNAME = "upstream-demo"


def upstream_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTH_")}
    env.update({
        "DATABASE_URL": f"sqlite+aiosqlite:///{HOME / 'auth.db'}",
        "AUTH_KEY_DIR": str(HOME / "keys"),
        "AUTH_ISSUER": ISSUER,
    })  # fmt: skip
    return env


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed argv
        [str(BIN / "auth-service"), *args], env=env, capture_output=True, text=True, check=False
    )


def ours_with_secret(secret: str) -> dict[str, str]:
    """Our instance's environment, with the upstream's client secret where the command reads
    it (not on the command line, where every process list shows it)."""
    return {**os.environ, "AUTH_UPSTREAM_CLIENT_SECRET": secret}


def prepare(our_issuer: str) -> dict[str, str]:
    """Once: the upstream's schema, its person and our client there; then the provider at ours.
    Later runs find them and change nothing."""
    HOME.mkdir(parents=True, exist_ok=True)
    env = upstream_env()
    if cli("db", "upgrade", env=env).returncode != 0:
        raise SystemExit("the upstream's database could not be migrated")
    if CREDENTIALS.is_file():
        credentials: dict[str, str] = json.loads(CREDENTIALS.read_text())
    else:
        password = secrets.token_urlsafe(12)
        made = cli("users", "create", "--username", USERNAME, "--password", password,
                   "--email", "upstream-demo@example.com", "--name", "Upstream Demo", env=env)  # fmt: skip
        if made.returncode != 0:
            raise SystemExit(f"the upstream's person could not be made: {made.stderr.strip()}")
        client = cli("clients", "create", "--name", "MyAuthProvider on 127.0.0.1:8000",
                     "--scope", "openid profile email", "--redirect-uri",
                     f"{our_issuer}/login/upstream/{PROVIDER_ID}/callback", env=env)  # fmt: skip
        if client.returncode != 0:
            raise SystemExit(f"our client at the upstream could not be made: {client.stderr}")
        created = json.loads(client.stdout)
        credentials = {"username": USERNAME, "password": password,
                       "client_id": created["client_id"], "client_secret": created["client_secret"]}  # fmt: skip
        # Made 0600 from the start: it holds a password and a client secret.
        with os.fdopen(
            os.open(CREDENTIALS, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w"
        ) as out:
            out.write(json.dumps(credentials, indent=2))
    added = cli(
        "upstreams", "create", "--id", PROVIDER_ID, "--name", "Local upstream",
        "--issuer", ISSUER, "--client-id", credentials["client_id"],
        env=ours_with_secret(credentials["client_secret"]),
    )  # fmt: skip
    if added.returncode != 0 and "exists already" not in added.stderr:
        raise SystemExit(f"the provider could not be added to ours: {added.stderr.strip()}")
    return credentials


def main() -> int:
    our_issuer = os.environ.get("AUTH_ISSUER", "http://127.0.0.1:8000")
    credentials = prepare(our_issuer)
    if "--prepare" in sys.argv[1:]:
        print(json.dumps({"issuer": ISSUER, "username": credentials["username"]}))  # noqa: T201
        return 0
    print(  # noqa: T201 - a launcher talks to its terminal
        f"\nUpstream provider at {ISSUER} (Ctrl-C stops it). On {our_issuer}/login press "
        f"'Sign in with Local upstream' and sign in there as "
        f"{credentials['username']} / {credentials['password']}\n",
        flush=True,
    )
    command = [
        str(BIN / "python"), "-m", "uvicorn", "auth_service.main:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(PORT), "--no-access-log",
    ]  # fmt: skip
    os.execve(command[0], command, upstream_env())  # noqa: S606 - fixed argv, replaces this process
    return 0  # pragma: no cover


if __name__ == "__main__":
    raise SystemExit(main())
