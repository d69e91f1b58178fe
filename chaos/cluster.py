"""Several auth and resource instances on one PostgreSQL and Redis, as real uvicorn processes.

Used by `make run-cluster` (scripts/run_cluster.py) and by the fault suite. Every auth instance
shares the database, the key directory and the issuer (the first instance's URL); each resource
instance follows "its" auth instance for keys and revocations, as it would behind a proxy.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
AUTH_APP = "auth_service.main:create_app"
RESOURCE_APP = "resource_service.main:create_app"

# Connections per instance: pool + overflow. Two auth instances at 8 + 4 and two resource
# instances at 3 + 2 hold at most 34 connections, a third of PostgreSQL's default 100.
POOL_ENV = {
    "AUTH_DB_POOL_SIZE": "8",
    "AUTH_DB_MAX_OVERFLOW": "4",
    "RESOURCE_DB_POOL_SIZE": "3",
    "RESOURCE_DB_MAX_OVERFLOW": "2",
}


@dataclass(frozen=True, slots=True)
class Topology:
    """Where each instance listens; auth `i` serves resource `i`."""

    auth_ports: tuple[int, ...] = (8000, 8010)
    resource_ports: tuple[int, ...] = (8001, 8011)
    host: str = "127.0.0.1"

    def url(self, port: int) -> str:
        return f"http://{self.host}:{port}"

    @property
    def issuer(self) -> str:
        return self.url(self.auth_ports[0])

    @property
    def audience(self) -> str:
        return self.url(self.resource_ports[0])


@dataclass
class Instance:
    """One uvicorn process; `start` may be called again after `kill` or `stop`."""

    name: str
    kind: str  # "auth" or "resource"
    app: str
    port: int
    url: str
    env: dict[str, str]
    log_path: Path | None = None  # None: the launcher's terminal, each line prefixed by name
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self, **overrides: str) -> None:
        command = [
            sys.executable, "-m", "uvicorn", self.app, "--factory",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--loop", "uvloop", "--http", "httptools", "--no-access-log",
        ]  # fmt: skip
        env = {**self.env, **overrides}
        if self.log_path is None:
            self.process = subprocess.Popen(  # noqa: S603 - fixed argv
                command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            threading.Thread(
                target=_copy_lines, args=(self.process, self.name), daemon=True
            ).start()
        else:
            with self.log_path.open("ab") as output:
                self.process = subprocess.Popen(  # noqa: S603 - fixed argv
                    command, env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT
                )
        self.starts += 1

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, connections cut mid-request."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def is_healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_healthy(self, timeout: float = 60.0) -> float:
        """Seconds until /healthz answered; raises if the process died or took too long."""
        started = time.monotonic()
        while not self.is_healthy():
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process and self.process.returncode}"
                )
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"{self.name} did not become healthy in {timeout:.0f} s")
            time.sleep(0.05)
        return time.monotonic() - started

    async def until_healthy(self, limit: float = 60.0) -> float:
        """`wait_healthy` for an event loop: seconds until /healthz answered."""
        started = time.monotonic()
        async with httpx.AsyncClient(timeout=1) as http:
            while True:
                try:
                    if (await http.get(f"{self.url}/healthz")).status_code == 200:
                        return time.monotonic() - started
                except httpx.HTTPError:
                    pass
                if self.process is None or self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited")
                if time.monotonic() - started > limit:
                    raise RuntimeError(f"{self.name} did not become healthy in {limit:.0f} s")
                await asyncio.sleep(0.05)


@dataclass
class Cluster:
    instances: dict[str, Instance] = field(default_factory=dict)

    @property
    def auth(self) -> list[Instance]:
        return [i for i in self.instances.values() if i.kind == "auth"]

    @property
    def resource(self) -> list[Instance]:
        return [i for i in self.instances.values() if i.kind == "resource"]

    def start(self) -> None:
        """The first auth instance alone (it creates the signing key on a fresh database), then
        the other auth instances, then the resource instances (they fetch keys at start-up)."""
        for group in (self.auth[:1], self.auth[1:], self.resource):
            for instance in group:
                instance.start()
            for instance in group:
                instance.wait_healthy()

    def stop(self) -> None:
        for instance in (*self.resource, *self.auth):
            instance.stop()


def _copy_lines(process: subprocess.Popen[bytes], name: str) -> None:
    assert process.stdout is not None  # noqa: S101 - started with stdout=PIPE
    for line in process.stdout:
        sys.stdout.buffer.write(f"{name:<11} | ".encode() + line)
        sys.stdout.buffer.flush()


def build_cluster(
    topology: Topology,
    *,
    database_url: str,
    redis_url: str | None,
    key_dir: Path,
    log_dir: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> Cluster:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH_", "RESOURCE_"))}
    base.pop("REDIS_URL", None)
    base.update(POOL_ENV)
    base.update(
        {
            "DATABASE_URL": database_url,
            "AUTH_ISSUER": topology.issuer,
            "AUTH_RESOURCE_AUDIENCE": topology.audience,
            "AUTH_KEY_DIR": str(key_dir),
            "RESOURCE_ISSUER": topology.issuer,
            "RESOURCE_AUDIENCE": topology.audience,
        }
    )
    if redis_url:
        base["REDIS_URL"] = redis_url
    base.update(extra_env or {})
    cluster = Cluster()
    for n, (auth_port, resource_port) in enumerate(
        zip(topology.auth_ports, topology.resource_ports, strict=True), start=1
    ):
        auth_url, resource_url = topology.url(auth_port), topology.url(resource_port)
        auth_env = {**base, "AUTH_PORT": str(auth_port)}
        resource_env = {
            **base,
            "RESOURCE_PORT": str(resource_port),
            "RESOURCE_JWKS_URL": f"{auth_url}/.well-known/jwks.json",
            "RESOURCE_REVOCATION_FEED_URL": f"{auth_url}/oauth/revocations",
        }
        for name, kind, app, port, url, env in (
            (f"auth-{n}", "auth", AUTH_APP, auth_port, auth_url, auth_env),
            (f"resource-{n}", "resource", RESOURCE_APP, resource_port, resource_url, resource_env),
        ):
            log_path = log_dir / f"{name}.log" if log_dir is not None else None
            cluster.instances[name] = Instance(name, kind, app, port, url, env, log_path)
    return cluster
