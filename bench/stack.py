"""The system under test: a fresh database and the servers as real, pinned uvicorn processes."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from devtools.scratch_databases import scratch_database

ROOT = Path(__file__).resolve().parent.parent
SERVER_CPU = 0
LOAD_CPU = 1
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def can_pin() -> bool:
    return shutil.which("taskset") is not None and (os.cpu_count() or 1) > max(SERVER_CPU, LOAD_CPU)


def pinned(cpu: int, command: Sequence[str]) -> list[str]:
    """`taskset -c CPU command`, or the bare command where taskset or a second CPU is missing."""
    return ["taskset", "-c", str(cpu), *command] if can_pin() else list(command)


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def memory_mib(self, field: str = "VmHWM") -> float | None:
        """VmHWM: the most resident memory the process ever had; VmRSS: what it has now."""
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
        return None

    def cpu_seconds(self) -> float:
        """User + system time of all the process's threads so far (/proc/PID/stat fields 14, 15)."""
        try:
            stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        except OSError:
            return 0.0
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(name: str, app: str, port: int, env: dict[str, str], workdir: Path) -> Server:
    """One uvicorn worker, uvloop + httptools, no access log (pinned by `pin_server` once up)."""
    log_path = workdir / f"{name}.log"
    command = [
        sys.executable, "-m", "uvicorn", app, "--factory",
        "--host", "127.0.0.1", "--port", str(port),
        "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - fixed argv
            command, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT
        )
    return Server(name, f"http://127.0.0.1:{port}", process, log_path)


def pin_server(server: Server) -> None:
    """`taskset -a -p -c 0 PID`: every thread of the server (aiosqlite's, the thread pool's) and
    every thread it starts later runs on the server CPU. Starting unpinned and pinning once
    healthy lets the servers import in parallel instead of queueing on one core."""
    if can_pin():
        subprocess.run(  # noqa: S603 - fixed argv
            ["taskset", "-a", "-p", "-c", str(SERVER_CPU), str(server.process.pid)],  # noqa: S607
            check=True,
            capture_output=True,
        )


def wait_healthy(servers: Sequence[Server], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    waiting = list(servers)
    while waiting:
        server = waiting[0]
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited early:\n{server.log()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                waiting.pop(0)
                continue
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.name} did not become healthy:\n{server.log()}")
        time.sleep(0.05)


def is_postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


@contextmanager
def fresh_database(workdir: Path, server_url: str | None) -> Iterator[str]:
    """A new SQLite file, or a new database on the PostgreSQL server of `server_url`, dropped after."""
    if not server_url:
        yield f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        return
    if not is_postgres(server_url):
        raise SystemExit("BENCH_DATABASE_URL must be a postgresql+asyncpg:// URL")
    bench = make_url(server_url).database or "bench"
    with scratch_database(server_url, f"{bench}_bench") as url:
        yield url


@dataclass
class Stack:
    """Two auth services (RS256 and ES256 keys, one database), the resource API and the ceilings."""

    database_url: str
    workdir: Path
    servers: dict[str, Server]

    def env(self, issuer: str, audience: str, **extra: str) -> dict[str, str]:
        # The default configuration: no settings of the caller's shell, no Redis.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AUTH_", "RESOURCE_")) and k != "REDIS_URL"
        }
        env.update(
            {
                "DATABASE_URL": self.database_url,
                "PYTHONPATH": str(ROOT),  # bench.ceiling is not an installed package
                "LOG_FORMAT": "json",
                "AUTH_LOG_LEVEL": "WARNING",
                "RESOURCE_LOG_LEVEL": "WARNING",
                "AUTH_ISSUER": issuer,
                "AUTH_RESOURCE_AUDIENCE": audience,
                # A benchmark is one client hammering the token endpoint: exactly what the
                # per-client limit exists to stop. Throttling is measured by its own tests.
                "AUTH_RATE_LIMITS_ENABLED": "false",
                "RESOURCE_ISSUER": issuer,
                "RESOURCE_AUDIENCE": audience,
            }
        )
        env.update(extra)
        return env

    def wait_idle(self, timeout: float = 15.0, interval: float = 0.1) -> None:
        """Until no server uses more than a tenth of a core. wrk stops sending at once but a server
        still answers what it accepted: the next run should start from quiet, and pool making
        should not wait behind those requests for SQLite's write lock."""
        deadline = time.monotonic() + timeout
        before = {name: server.cpu_seconds() for name, server in self.servers.items()}
        while time.monotonic() < deadline:
            time.sleep(interval)
            now = {name: server.cpu_seconds() for name, server in self.servers.items()}
            if all(now[name] - before[name] <= interval / 10 for name in now):
                return
            before = now

    def memory_mib(self, field: str = "VmHWM") -> dict[str, float | None]:
        return {name: server.memory_mib(field) for name, server in self.servers.items()}

    def error_lines(self) -> dict[str, list[str]]:
        """Log lines at ERROR or worse per server: a 500 under load must not pass unnoticed."""
        return {
            name: _matching(server.log(), ERROR_MARKERS) for name, server in self.servers.items()
        }

    def warning_lines(self) -> dict[str, list[str]]:
        """WARNING lines, such as the one behind a 503 when the database did not answer in time."""
        return {
            name: _matching(server.log(), ('"level": "warning"',))
            for name, server in self.servers.items()
        }

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()


ERROR_MARKERS = ('"level": "error"', '"level": "critical"', "ERROR:", "Traceback")


def _matching(log: str, markers: Sequence[str]) -> list[str]:
    return [line[:300] for line in log.splitlines() if any(m in line for m in markers)]


@contextmanager
def running_stack(database_url: str, workdir: Path) -> Iterator[Stack]:
    """Auth services first: the resource API and the ceilings fetch their JWKS when they start.

    Both auth services share the database; each signs only with the key whose private half is in
    its own key directory, so one signs RS256 and the other ES256.
    """
    ports = {name: free_port() for name in ("auth-rs256", "auth-es256", "resource", "ceiling")}
    issuer = f"http://127.0.0.1:{ports['auth-rs256']}"
    audience = f"http://127.0.0.1:{ports['resource']}"
    es256_issuer = f"http://127.0.0.1:{ports['auth-es256']}"
    stack = Stack(database_url, workdir, {})
    apps = {
        "auth-rs256": ("auth_service.main:create_app", stack.env(issuer, audience,
                       AUTH_KEY_DIR=str(workdir / "keys-rs256"))),
        "auth-es256": ("auth_service.main:create_app", stack.env(es256_issuer, audience,
                       AUTH_KEY_DIR=str(workdir / "keys-es256"), AUTH_SIGNING_ALG="ES256")),
        "resource": ("resource_service.main:create_app", stack.env(issuer, audience)),
        "ceiling": ("bench.ceiling:create_app", stack.env(issuer, audience)),
    }  # fmt: skip
    try:
        for group in (("auth-rs256", "auth-es256"), ("resource", "ceiling")):
            for name in group:
                app, env = apps[name]
                stack.servers[name] = start_server(name, app, ports[name], env, workdir)
            wait_healthy([stack.servers[name] for name in group])
        for server in stack.servers.values():
            pin_server(server)
        yield stack
    finally:
        stack.stop()
