"""Real uvicorn processes for end-to-end tests: free ports, a migrated database, clean shutdown."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlmodel import SQLModel

from auth_service.operations import migrations
from shared.database import make_engine
from tests.support.db import Database

BIN = Path(sys.executable).parent
COOLNOTES_DIR = Path(__file__).resolve().parents[2] / "examples" / "coolnotes"
M = TypeVar("M", bound=SQLModel)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LiveService:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class LiveStack:
    database_url: str
    key_dir: Path
    workdir: Path
    auth_port: int = field(default_factory=free_port)
    resource_port: int = field(default_factory=free_port)
    coolnotes_port: int = field(default_factory=free_port)
    services: dict[str, LiveService] = field(default_factory=dict)
    # The issuer's host: "localhost" sets a stack apart from one on 127.0.0.1 for a browser,
    # which keeps cookies by host and not by port.
    auth_host: str = "127.0.0.1"

    @property
    def issuer(self) -> str:
        return f"http://{self.auth_host}:{self.auth_port}"

    @property
    def audience(self) -> str:
        return f"http://127.0.0.1:{self.resource_port}"

    @property
    def coolnotes_url(self) -> str:
        return f"http://127.0.0.1:{self.coolnotes_port}"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH_", "RESOURCE_"))}
        env.update(
            {
                "DATABASE_URL": self.database_url,
                "AUTH_ISSUER": self.issuer,
                "AUTH_RESOURCE_AUDIENCE": self.audience,
                "AUTH_KEY_DIR": str(self.key_dir),
                "AUTH_PASSWORD_TIME_COST": "1",
                "AUTH_PASSWORD_MEMORY_KIB": "64",
                "AUTH_PASSWORD_PARALLELISM": "1",
                "RESOURCE_ISSUER": self.issuer,
                "RESOURCE_AUDIENCE": self.audience,
                "LOG_FORMAT": "json",
            }
        )
        env.update(extra)
        return env

    def cli(self, *args: str, **env: str) -> Any:
        """Run the real admin CLI against the stack's database; returns its JSON output."""
        result = subprocess.run(  # noqa: S603 - fixed argv
            [str(BIN / "auth-service"), *args],
            env=self.env(**env),
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def start(self, name: str, app: str, port: int, **env: str) -> LiveService:
        command = [
            str(BIN / "python"), "-m", "uvicorn", app, "--factory",
            "--host", "127.0.0.1", "--port", str(port),
            "--loop", "uvloop", "--http", "httptools", "--no-access-log",
        ]  # fmt: skip
        return self._run(name, command, port, **env)

    def start_auth_served(self, **env: str) -> LiveService:
        """The auth service as operators start it: `python -m auth_service`, which takes host,
        port, TLS and the trusted proxies (AUTH_FORWARDED_ALLOW_IPS) from the settings."""
        command = [str(BIN / "python"), "-m", "auth_service"]
        return self._run("auth", command, self.auth_port, AUTH_HOST="127.0.0.1",
                         AUTH_PORT=str(self.auth_port), **env)  # fmt: skip

    def _run(self, name: str, command: list[str], port: int, **env: str) -> LiveService:
        log_path = self.workdir / f"{name}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(  # noqa: S603 - fixed argv
                command, env=self.env(**env), cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT
            )
        service = LiveService(name, f"http://127.0.0.1:{port}", process, log_path)
        self.services[name] = service
        _wait_healthy(service)
        return service

    def start_auth(self, **env: str) -> LiveService:
        return self.start("auth", "auth_service.main:create_app", self.auth_port, **env)

    def start_resource(self, **env: str) -> LiveService:
        return self.start("resource", "resource_service.main:create_app", self.resource_port, **env)

    def start_coolnotes(self, client_id: str, client_secret: str, **env: str) -> LiveService:
        """CoolNotesApp (examples/coolnotes, not an installed package) against this stack."""
        settings = {
            "PYTHONPATH": str(COOLNOTES_DIR),  # what `uvicorn --app-dir examples/coolnotes` does
            "COOLNOTES_ISSUER": self.issuer,
            "COOLNOTES_ISSUER_INTERNAL_URL": "",
            "COOLNOTES_API_URL": self.audience,
            "COOLNOTES_PUBLIC_URL": self.coolnotes_url,
            "COOLNOTES_CLIENT_ID": client_id,
            "COOLNOTES_CLIENT_SECRET": client_secret,
        }
        return self.start("coolnotes", "coolnotes.app:create_app", self.coolnotes_port,
                          **{**settings, **env})  # fmt: skip

    def stop_all(self) -> None:
        for service in self.services.values():
            service.stop()


def _wait_healthy(service: LiveService, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise AssertionError(f"{service.name} exited early:\n{service.log()}")
        try:
            if httpx.get(f"{service.url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{service.name} did not become healthy:\n{service.log()}")


@contextmanager
def live_stack(
    database_url: str, workdir: Path, *, auth_host: str = "127.0.0.1"
) -> Iterator[LiveStack]:
    """A migrated database and a place for keys and logs; services are started by the test."""
    migrations.upgrade(database_url)
    stack = LiveStack(
        database_url=database_url, key_dir=workdir / "keys", workdir=workdir, auth_host=auth_host
    )
    try:
        yield stack
    finally:
        stack.stop_all()


def rows(stack: LiveStack, model: type[M]) -> list[M]:
    """Every row of `model`, read straight from the stack's database."""

    async def read() -> list[M]:
        engine = make_engine(stack.database_url, sqlite_begin_immediate=False)
        try:
            return list(await Database(engine).all(model))
        finally:
            await engine.dispose()

    return asyncio.run(read())
