"""Load generators: wrk with the Lua scripts in bench/lua, and a small httpx loop for smoke runs
where wrk is not installed. Both report the same `RunResult`."""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx

from bench.stack import LOAD_CPU, pinned

LUA_DIR = Path(__file__).resolve().parent / "lua"
Rotate = Literal["none", "form", "bearer", "dpop"]


@dataclass(frozen=True, slots=True)
class Load:
    """What every request of a run looks like; `pool` holds one form body or token per line."""

    method: str
    url: str
    rotate: Rotate
    headers: dict[str, str]
    pool: tuple[str, ...] = ()
    once: bool = False  # each pool line may be used a single time (codes, refresh tokens)


@dataclass(frozen=True, slots=True)
class RunResult:
    requests: int
    seconds: float
    failed: int  # answers with status >= 400
    socket_errors: int  # connect, read and write errors, and timeouts
    p50_ms: float
    p99_ms: float
    exhausted: bool  # a single-use pool ran out before the time was up
    # CPU seconds the server used per second of the run: about 1.0 when it saturates its core;
    # less means it waited (on locks, the database) or something else ran on its CPU.
    server_cpu: float = 0.0

    @property
    def errors(self) -> int:
        return self.failed + self.socket_errors

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def per_cpu_second(self) -> float:
        """Requests per CPU-second of the server: what one core would serve if it had it alone."""
        busy = self.server_cpu * self.seconds
        return self.requests / busy if busy else 0.0


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(load: Load, *, seconds: float, connections: int, workdir: Path) -> RunResult:
    """One wrk thread (the load generator has one CPU), pinned away from the servers."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s"]
    for name, value in load.headers.items():
        command += ["-H", f"{name}: {value}"]
    if load.rotate == "none":
        command += ["-s", str(LUA_DIR / "report.lua"), load.url]
    else:
        pool_file = workdir / "pool.txt"
        pool_file.write_text("\n".join(load.pool) + "\n")
        script = LUA_DIR / f"{load.rotate}.lua"
        mode = "once" if load.once else "cycle"
        command += ["-s", str(script), load.url, "--", str(pool_file), mode, "1"]
    completed = subprocess.run(  # noqa: S603 - fixed argv
        pinned(LOAD_CPU, command),
        capture_output=True,
        text=True,
        check=False,
        timeout=seconds + 60,
    )
    line = next((ln for ln in completed.stdout.splitlines() if ln.startswith("BENCH-JSON ")), None)
    if completed.returncode != 0 or line is None:
        raise RuntimeError(
            f"wrk failed ({completed.returncode}):\n{completed.stdout}{completed.stderr}"
        )
    data = json.loads(line.removeprefix("BENCH-JSON "))
    return RunResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        failed=data["status_errors"],
        socket_errors=data["socket_errors"] + data["timeouts"],
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        exhausted=data["exhausted_threads"] > 0,
    )


def run_python(load: Load, *, seconds: float, connections: int) -> RunResult:
    """The same run with httpx: slow itself, so only fit for smoke runs, never for numbers."""
    return asyncio.run(_run_python(load, seconds, connections))


async def _run_python(load: Load, seconds: float, connections: int) -> RunResult:
    latencies: list[float] = []
    failed = socket_errors = 0
    items = iter(load.pool) if load.once else None
    exhausted = False
    cursor = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    started = time.perf_counter()
    deadline = started + seconds

    def next_item() -> str | None:
        nonlocal cursor, exhausted
        if not load.pool:
            return None
        if items is not None:
            item = next(items, None)
            exhausted = exhausted or item is None
            return item
        cursor += 1
        return load.pool[cursor % len(load.pool)]

    async def worker(http: httpx.AsyncClient) -> None:
        nonlocal failed, socket_errors
        while time.perf_counter() < deadline:
            item = next_item()
            if load.once and item is None:
                return
            headers = dict(load.headers)
            content = None
            if load.rotate == "bearer":
                headers["Authorization"] = f"Bearer {item}"
            elif load.rotate == "dpop" and item is not None:
                token, proof = item.split(" ", 1)
                headers["Authorization"] = f"DPoP {token}"
                headers["DPoP"] = proof
            elif load.rotate == "form":
                headers["Content-Type"] = "application/x-www-form-urlencoded"
                content = item
            sent = time.perf_counter()
            try:
                response = await http.request(
                    load.method, load.url, headers=headers, content=content
                )
                failed += response.status_code >= 400
            except httpx.HTTPError:
                socket_errors += 1
            latencies.append(time.perf_counter() - sent)

    async with httpx.AsyncClient(limits=limits, timeout=10) as http:
        await asyncio.gather(*(worker(http) for _ in range(connections)))
    elapsed = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return RunResult(
        requests=len(latencies),
        seconds=elapsed,
        failed=failed,
        socket_errors=socket_errors,
        p50_ms=cuts[49] * 1000 if cuts else 0.0,
        p99_ms=cuts[98] * 1000 if cuts else 0.0,
        exhausted=exhausted,
    )
