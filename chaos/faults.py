"""Injected faults: PostgreSQL stopped and started, instances killed or stopped; and their logs."""

from __future__ import annotations

import asyncio
import json
import shlex
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from chaos.cluster import Instance


def default_pg_ctl() -> str:
    """The Debian wrapper for the local cluster: `pg_ctlcluster --skip-systemctl-redirect 15 main`."""
    versions = sorted(p.name for p in Path("/etc/postgresql").iterdir() if p.is_dir())
    if not versions:
        raise RuntimeError("no PostgreSQL cluster under /etc/postgresql; pass --pg-ctl")
    return f"pg_ctlcluster --skip-systemctl-redirect {versions[-1]} main"


@dataclass
class PostgresControl:
    """Stops and starts the server; `<command> stop -m fast` and `<command> start`.

    Output goes to a file, never a pipe: the postmaster `start` forks may keep a pipe open forever.
    """

    command: str
    log_path: Path
    stops: int = 0

    def _argv(self, *action: str) -> list[str]:
        return [*shlex.split(self.command), *action]

    async def _run(self, *action: str) -> None:
        with self.log_path.open("ab") as log:
            process = await asyncio.create_subprocess_exec(
                *self._argv(*action), stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
            code = await process.wait()
        if code != 0:
            raise RuntimeError(f"`{' '.join(self._argv(*action))}` failed; see {self.log_path}")

    def start_blocking(self) -> None:
        with self.log_path.open("ab") as log:
            subprocess.run(self._argv("start"), stdin=subprocess.DEVNULL, stdout=log, stderr=log,  # noqa: S603
                           check=False)  # fmt: skip

    async def outage(self, seconds: float) -> tuple[float, float, float]:
        """Stop the server for `seconds` (from the stop command to the start command) and
        always start it again. Returns when the stop began, when it was down, when it was up."""
        began = time.time()
        down = began
        self.stops += 1
        try:
            await self._run("stop", "-m", "fast")
            down = time.time()
            await asyncio.sleep(max(0.0, began + seconds - time.time()))
        finally:
            try:
                await self._run("start")
            except BaseException:
                self.start_blocking()  # whatever happened to us, PostgreSQL comes back
                raise
        return began, down, time.time()


async def restart(
    instance: Instance, *, kill: bool, env: Mapping[str, str] | None = None
) -> tuple[float, float]:
    """Kill -9 (or stop) and start again, with `env` changed for good; (stopped at, healthy at)."""
    stopped_at = time.time()
    await asyncio.to_thread(instance.kill if kill else instance.stop)
    instance.env.update(env or {})
    instance.start()
    await instance.until_healthy()
    return stopped_at, time.time()


def log_lines(
    instance: Instance, *, since: float, until: float, containing: str
) -> list[dict[str, object]]:
    """The instance's JSON log lines in [since, until] whose message contains `containing`."""
    if instance.log_path is None or not instance.log_path.exists():
        return []
    found = []
    for line in instance.log_path.read_text(errors="replace").splitlines():
        if containing not in line or not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
            at = datetime.fromisoformat(str(record["time"])).timestamp()
        except (ValueError, KeyError):
            continue
        if since <= at <= until and containing in str(record.get("message", "")):
            found.append(record)
    return found
