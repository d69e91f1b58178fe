"""Scenario 4: every auth instance stopped for longer than the JWKS cache lifetime.

The resource instances must keep accepting valid tokens signed by keys they know, refuse tokens
with unknown `kid`s quickly, keep refusing what was revoked, and not hammer the auth service:
at most one key fetch per refetch interval and one feed poll per poll interval, however many
unknown `kid`s arrive.
"""

from __future__ import annotations

import asyncio
import math
import time

from chaos.checks import latency_summary, percentile
from chaos.context import Context, Result
from chaos.faults import log_lines
from chaos.workload import RESOURCE_ONLY

LABEL = "4-auth-down"
CLIENTS = 20
BEFORE, DOWN, AFTER = 4.0, 25.0, 6.0
JWKS_TTL = 10.0  # AUTH_JWKS_MAX_AGE of the suite's cluster (the resource's minimum, too)
REFETCH_INTERVAL = 10.0  # RESOURCE_JWKS_REFETCH_INTERVAL (default)
POLL_INTERVAL = 2.0  # RESOURCE_REVOCATION_POLL_INTERVAL (default)
# Refusing an unknown kid must not wait for the issuer: its p99 may exceed that of valid calls in
# the same window by this factor at most, and no refusal may take as long as a key fetch may.
QUICK_FACTOR = 1.5
FETCH_TIMEOUT = 2.0  # RESOURCE_JWKS_TIMEOUT (default)
REVOKED = 5  # families revoked just before the outage, replayed throughout


async def run(ctx: Context) -> Result:
    result = Result(4, f"auth service stopped for {DOWN:.0f} s (JWKS cache TTL {JWKS_TTL:.0f} s)")
    started = ctx.begin(LABEL)
    await ctx.top_up(CLIENTS)
    for family in await ctx.families(REVOKED):
        revoked = await ctx.api.revoke(
            family.refresh_token, "refresh_token", {"grant": family.grant_id}
        )
        family.revoked_at = revoked.t1
        ctx.workload.graveyard.append(family)
        await ctx.workload.watch_revocation(family.access, revoked.t1)
    stop = asyncio.Event()
    traffic = asyncio.create_task(ctx.workload.run(CLIENTS, RESOURCE_ONLY, 3600, stop))
    await asyncio.sleep(BEFORE)
    stopped = time.time()
    await asyncio.gather(*(asyncio.to_thread(i.stop) for i in ctx.auth))
    down = time.time()
    await asyncio.sleep(max(0.0, stopped + DOWN - time.time()))
    for instance in ctx.auth:
        instance.start()
    await asyncio.gather(*(i.until_healthy() for i in ctx.auth))
    up = time.time()
    ctx.declare(LABEL, "auth instances stopped", stopped, up)
    await asyncio.sleep(AFTER)
    stop.set()
    await traffic
    result.figure(
        "outage", f"every auth instance down {up - down:.1f} s (SIGTERM to healthy again)"
    )
    await ctx.finish(result, LABEL, started)
    unknown_kids(ctx, result, down, up)
    calls_to_issuer(ctx, result, down, up)
    return result


def unknown_kids(ctx: Context, result: Result, down: float, up: float) -> None:
    during = [e for e in ctx.ledger.of(LABEL) if down <= e.t0 <= up]
    forged = [e for e in during if e.op == "unknown_kid"]
    valid = [e.latency for e in during if e.op == "resource" and e.ok]
    refused = [e for e in forged if e.status == 401]
    latencies = [e.latency for e in forged]
    p99, p99_valid = percentile(latencies, 0.99), percentile(valid, 0.99)
    result.check(
        "unknown kids refused quickly while the issuer is down",
        bool(forged)
        and len(refused) == len(forged)
        and p99 <= QUICK_FACTOR * p99_valid
        and max(latencies) < FETCH_TIMEOUT,
        f"{len(refused)}/{len(forged)} refused with 401, {latency_summary(latencies)} (valid "
        f"tokens meanwhile: p99 {p99_valid * 1000:.0f} ms; limits {QUICK_FACTOR}x that, and "
        f"no refusal as slow as a key fetch may be, {FETCH_TIMEOUT:.0f} s)",
        [f"{e.status or e.error} on {e.instance}" for e in forged if e not in refused][:10],
    )


def calls_to_issuer(ctx: Context, result: Result, down: float, up: float) -> None:
    """Each failed key fetch and feed poll is logged by the resource instance: count them."""
    seconds = up - down
    limit = math.ceil(seconds / REFETCH_INTERVAL) + math.ceil(seconds / POLL_INTERVAL) + 2
    parts, hammered = [], []
    for instance in ctx.resource:
        jwks = len(log_lines(instance, since=down, until=up, containing="jwks: fetch failed"))
        feed = len(log_lines(instance, since=down, until=up, containing="poll failed"))
        served = [
            e for e in ctx.ledger.of(LABEL) if e.instance == instance.name and down <= e.t0 <= up
        ]
        forged = sum(1 for e in served if e.op == "unknown_kid")
        parts.append(
            f"{instance.name}: {jwks + feed} calls in {seconds:.0f} s ({jwks} key fetches, {feed} "
            f"feed polls) while answering {len(served)} requests, {forged} with unknown kids"
        )
        if jwks + feed > limit or jwks == 0:
            hammered.append(instance.name)
    result.check(
        "the resource service does not hammer the stopped issuer",
        not hammered,
        "; ".join(parts) + f" (limit {limit} each)",
        hammered,
    )
