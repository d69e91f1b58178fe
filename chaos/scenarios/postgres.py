"""Scenario 2: PostgreSQL stopped for 10 s mid-run, then started again.

The auth instances must answer fast 503s with Retry-After while it is down, never hang, and
serve normally within 5 s of its return without a restart; the resource instances go on
validating tokens (their user profiles come from a cache that outlives the outage).
"""

from __future__ import annotations

import asyncio

from chaos.checks import FAULT_SLACK, latency_summary, percentile
from chaos.cluster import Instance
from chaos.context import TOKEN_OPS, Context, Result
from chaos.ledger import Entry
from chaos.scenarios.baseline import audit_kept
from chaos.workload import BASELINE

LABEL = "2-postgres"
CLIENTS = 24
BEFORE, OUTAGE, AFTER = 5.0, 10.0, 12.0
FAST = 1.0  # every 503 during the outage within this (p99), and none slower than HANG
HANG = 5.0
# Operations that need the database at the auth service (discovery and JWKS do not).
DB_OPS = (*TOKEN_OPS, "revoke", "introspect", "authorize", "login", "login_form", "consent",
          "consent_form", "readyz")  # fmt: skip


async def run(ctx: Context) -> Result:
    result = Result(2, f"PostgreSQL stopped for {OUTAGE:.0f} s mid-run")
    started = ctx.begin(LABEL)
    await ctx.top_up(CLIENTS)
    pids = {i.name: i.pid for i in ctx.auth}
    stop = asyncio.Event()
    await warm_profiles(ctx, CLIENTS)
    traffic = asyncio.create_task(ctx.workload.run(CLIENTS, BASELINE, 3600, stop))
    probes = [asyncio.create_task(readiness(ctx, i, stop)) for i in ctx.auth]
    await asyncio.sleep(BEFORE)
    began, down, up = await ctx.pg.outage(OUTAGE)
    ctx.declare(LABEL, "postgres stopped", began, up)
    await asyncio.sleep(AFTER)
    stop.set()
    await asyncio.gather(traffic, *probes)
    result.figure(
        "outage",
        f"stop command {down - began:.1f} s, down until start command, start command "
        f"returned {up - began:.1f} s after the stop began",
    )
    await ctx.finish(result, LABEL, started)
    entries = list(ctx.ledger.of(LABEL))
    outage_answers(result, entries, ctx, began, up)
    recovery(result, entries, ctx, up)
    result.check(
        "no restart needed",
        pids == {i.name: i.pid for i in ctx.auth},
        "the same auth processes before and after: "
        + ", ".join(f"{n} pid {p}" for n, p in pids.items()),
    )
    await audit_kept(ctx, result, LABEL, started)
    return result


async def warm_profiles(ctx: Context, clients: int) -> None:
    """Every user has been seen by every resource instance: the profile cache serves users it has
    seen through an outage (README), not users it meets for the first time during one."""
    by_user = {f.access.sub: f.access for c in ctx.workload.clients[:clients] for f in c.live()}
    for access in by_user.values():
        for instance in ctx.resource:
            await ctx.api.resource_call(access, target=instance)


async def readiness(ctx: Context, instance: Instance, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await ctx.api.call(instance, "readyz", "GET", "/readyz")
        await asyncio.sleep(0.2)


def outage_answers(
    result: Result, entries: list[Entry], ctx: Context, began: float, up: float
) -> None:
    auth = {i.name for i in ctx.auth}
    during = [e for e in entries if e.instance in auth and e.op in DB_OPS and began <= e.t0 <= up]
    failed = [e for e in during if not e.ok and e.status != 302 and e.status != 303]
    hung = [e for e in failed if e.status is None]
    wrong = [e for e in failed if e.status is not None and e.status >= 500 and e.status != 503]
    no_retry = [e for e in failed if e.status == 503 and "retry_after" not in e.note]
    latencies = [e.latency for e in failed if e.status == 503]
    fast = percentile(latencies, 0.99) <= FAST and max(latencies, default=0) <= HANG
    result.figure("auth during the outage", f"{len(during)} requests, {len(failed)} refused; "
                  f"503 latency {latency_summary(latencies)}")  # fmt: skip
    result.check(
        "fast 503 + Retry-After while PostgreSQL is down, never a hang",
        bool(latencies) and not hung and not wrong and not no_retry and fast,
        f"{len(latencies)} answers 503, {len(wrong)} other 5xx, {len(no_retry)} without "
        f"Retry-After, {len(hung)} unanswered; p99 {percentile(latencies, 0.99) * 1000:.0f} ms "
        f"(limit {FAST * 1000:.0f} ms), max {max(latencies, default=0) * 1000:.0f} ms",
        [f"{e.status or e.error} {e.op} on {e.instance} ({e.error})" for e in hung + wrong][:10],
    )


def recovery(result: Result, entries: list[Entry], ctx: Context, up: float) -> None:
    parts, late = [], []
    for instance in ctx.auth:
        mine = [e for e in entries if e.instance == instance.name and e.t0 >= up]
        last_5xx = max((e.t1 for e in mine if e.status and e.status >= 500), default=up)
        first_ok = min((e.t1 for e in mine if e.op in TOKEN_OPS and e.ok), default=float("inf"))
        parts.append(
            f"{instance.name}: last 5xx {last_5xx - up:+.1f} s, first token {first_ok - up:+.1f} s"
        )
        if last_5xx - up > FAULT_SLACK or first_ok - up > FAULT_SLACK:
            late.append(instance.name)
    result.check(
        "serves normally within 5 s of PostgreSQL's return",
        not late,
        "; ".join(parts) + " (after the start command returned)",
        late,
    )
