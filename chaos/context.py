"""What every scenario works with, and the figures and checks common to all of them."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos.api import Api, ClientCredentials, Code, Family, User, new_client
from chaos.checks import Check, Revocations, invariants, latency_summary, propagation
from chaos.cluster import Cluster, Instance
from chaos.faults import PostgresControl
from chaos.ledger import Entry, FaultWindow, Ledger
from chaos.snapshot import Snapshot
from chaos.workload import Workload

AUTH_CLI = Path(sys.executable).parent / "auth-service"
TOKEN_OPS = ("code", "refresh")


@dataclass
class Result:
    number: int
    title: str
    seconds: float = 0.0
    figures: list[tuple[str, str]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    def figure(self, name: str, value: str) -> None:
        self.figures.append((name, value))

    def check(self, name: str, passed: bool, detail: str, violations: Sequence[str] = ()) -> None:
        self.checks.append(Check(name, passed, detail, list(violations)))


@dataclass
class Context:
    cluster: Cluster
    api: Api
    workload: Workload
    ledger: Ledger
    users: tuple[User, ...]
    probe: ClientCredentials
    database_url: str
    pg: PostgresControl
    workdir: Path
    ci: bool
    usernames: dict[str, str]  # user id (sub) -> username
    grace: float = 5.0

    @property
    def auth(self) -> list[Instance]:
        return self.cluster.auth

    @property
    def resource(self) -> list[Instance]:
        return self.cluster.resource

    def begin(self, label: str) -> float:
        self.api.scenario = label
        return time.time()

    def declare(self, label: str, kind: str, start: float, end: float) -> FaultWindow:
        window = FaultWindow(label, kind, start, end)
        self.ledger.declare(window)
        return window

    async def finish(self, result: Result, label: str, started: float) -> Revocations:
        """Common figures and the five invariants; returns the revocation instants."""
        await asyncio.sleep(1.5)  # audit buffers flush, deny lists settle
        result.seconds = time.time() - started
        entries = list(self.ledger.of(label))
        snap = await Snapshot.load(self.database_url)
        checks, revocations = invariants(
            entries,
            snap,
            self.ledger.windows_of(label),
            grace=self.grace,
            all_entries=self.ledger.entries,
        )
        result.figures[:0] = traffic_figures(entries)
        result.checks.extend(checks)
        return revocations

    async def codes(
        self, count: int = 0, *, users: Sequence[User] | None = None, parallel: int = 10
    ) -> list[Code]:
        """Authorization codes, each from a full flow through the forms: one for each of `users`,
        or `count` spread over all users; at most `parallel` flows at a time."""
        wanted = list(users or [self.users[n % len(self.users)] for n in range(count)])
        made: list[Code | None] = [None] * len(wanted)
        browsers = {u.username: new_client() for u in wanted}
        # A user's flows share one browser (one sign-in serves them all) and so take turns, as in
        # one tab: a sign-in in a second flow replaces the session the first flow's consent
        # form was bound to, and that form is then refused (CSRF), rightly.
        turns = {name: asyncio.Lock() for name in browsers}
        jobs = iter(range(len(wanted)))

        async def worker() -> None:
            for n in jobs:
                browser = browsers[wanted[n].username]
                async with turns[wanted[n].username]:
                    made[n] = await self.api.authorize(browser, wanted[n])
                if made[n] is None:
                    step = self.api.last_step.get(id(browser))
                    raise RuntimeError(f"a code flow failed while preparing codes, at {step}")

        try:
            await asyncio.gather(*(worker() for _ in range(parallel)))
        finally:
            for browser in browsers.values():
                await browser.aclose()
        return [c for c in made if c is not None]

    async def families(
        self, count: int = 0, *, users: Sequence[User] | None = None, parallel: int = 10
    ) -> list[Family]:
        """Fresh token families: `codes`, each redeemed once."""
        codes = iter(await self.codes(count, users=users, parallel=parallel))
        made: list[Family] = []

        async def worker() -> None:
            for code in codes:
                entry, family = await self.api.redeem(code)
                if family is None:
                    raise RuntimeError(f"a code redemption failed: {entry.status} {entry.error}")
                made.append(family)

        await asyncio.gather(*(worker() for _ in range(parallel)))
        return made

    async def top_up(self, clients: int) -> None:
        """Give each of the first `clients` virtual clients a live family of its own user."""
        needy = [c for c in self.workload.clients[:clients] if not c.live()]
        by_user: dict[str, list[Family]] = {}
        for family in await self.families(users=[c.user for c in needy]):
            by_user.setdefault(self.user_of(family), []).append(family)
        for client in needy:  # families come back in any order; hand each to its user's client
            client.families.append(by_user[client.user.username].pop())

    def user_of(self, family: Family) -> str:
        return self.usernames[family.access.sub]

    async def cli(self, *args: str, **env: str) -> Any:
        """The real admin CLI against the cluster's database and key directory."""
        process = await asyncio.create_subprocess_exec(
            str(AUTH_CLI),
            *args,
            env={**self.auth[0].env, **env},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"auth-service {' '.join(args)} failed: {err.decode()[-500:]}")
        return json.loads(out)


def traffic_figures(entries: Sequence[Entry]) -> list[tuple[str, str]]:
    if not entries:
        return []
    span = max(e.t1 for e in entries) - min(e.t0 for e in entries)
    counts = Counter(e.op for e in entries)
    ok = Counter(e.op for e in entries if e.ok)
    figures = [
        (
            "requests",
            f"{len(entries)} in {span:.0f} s ({len(entries) / max(span, 0.001):.0f}/s), "
            f"{sum(ok.values())} 2xx",
        ),
        ("by operation", ", ".join(f"{op} {counts[op]} ({ok[op]} ok)" for op in sorted(counts))),
    ]
    for op, label in (("resource", "resource latency"), ("refresh", "refresh latency"),
                      ("code", "code redemption latency")):  # fmt: skip
        values = [e.latency for e in entries if e.op == op and e.ok]
        if values:
            figures.append((label, latency_summary(values)))
    delays, never = propagation(entries)
    if delays:
        figures.append(
            (
                "revocation -> refused at resource",
                f"{len(delays)} watches, {latency_summary(delays)}"
                + (f", {never} never refused within 3 s" if never else ""),
            )
        )
    return figures
