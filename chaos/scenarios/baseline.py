"""Scenario 1: mixed traffic on 2 + 2 instances with nothing broken, plus the scale-out checks."""

from __future__ import annotations

import math

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from chaos.context import TOKEN_OPS, Context, Result
from chaos.faults import log_lines
from chaos.workload import BASELINE

LABEL = "1-baseline"
CLIENTS = 24
MAINTENANCE_INTERVAL = 5.0  # AUTH_MAINTENANCE_INTERVAL of the suite's cluster


async def run(ctx: Context, seconds: float) -> Result:
    result = Result(1, f"Baseline: 2 auth + 2 resource instances, mixed traffic ({seconds:.0f} s)")
    started = ctx.begin(LABEL)
    await ctx.top_up(CLIENTS)
    await ctx.workload.run(CLIENTS, BASELINE, seconds)
    no_throttling(ctx, result)
    await shared_rate_limit(ctx, result)
    await ctx.finish(result, LABEL, started)
    cross_instance_flows(ctx, result)
    cleanup_runs_once(ctx, result, started)
    await audit_kept(ctx, result, LABEL, started)
    return result


def no_throttling(ctx: Context, result: Result) -> None:
    """Ordinary traffic from one address with the default limits is never refused."""
    throttled = [e for e in ctx.ledger.of(LABEL) if e.status == 429]
    ops = sorted({e.op for e in throttled})
    result.check(
        "ordinary traffic is not throttled",
        not throttled,
        f"{len(throttled)} answers 429 among {sum(1 for _ in ctx.ledger.of(LABEL))} requests "
        f"from one address with the default rate limits"
        + (f" (ops: {', '.join(ops)})" if ops else ""),
    )


async def shared_rate_limit(ctx: Context, result: Result) -> None:
    """Wrong client secrets alternately on each instance: the limit counts them together."""
    statuses = []
    for n in range(4):
        target = ctx.auth[n % len(ctx.auth)]
        entry, _ = await ctx.api.call(
            target,
            "throttle_probe",
            "POST",
            "/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": "x"},
            auth=(ctx.probe.client_id, "wrong-secret"),
        )
        statuses.append(entry.status)
    result.check(
        "rate limits hold across instances",
        statuses == [401, 401, 401, 429],
        f"wrong client secrets alternating instances: {statuses} (the 4th is refused)",
    )


def cross_instance_flows(ctx: Context, result: Result) -> None:
    issued = {
        e.ids["code"]: e.instance
        for e in ctx.ledger.of(LABEL)
        if e.status == 302 and "code" in e.ids
    }
    redeemed = [e for e in ctx.ledger.of(LABEL, "code") if e.ok]
    crossed = sum(1 for e in redeemed if issued.get(e.ids["code"], e.instance) != e.instance)
    steps = [e for e in ctx.ledger.of(LABEL) if e.op in ("login", "login_form", "consent_form")]
    result.figure(
        "no sticky sessions",
        f"{crossed} of {len(redeemed)} codes redeemed on another instance than the one that "
        f"issued them; {len(steps)} login/consent steps on random instances",
    )


def cleanup_runs_once(ctx: Context, result: Result, started: float) -> None:
    """Both instances try the cleanup every interval; the database lock lets one run it."""
    ended = started + result.seconds
    runs = sum(
        len(log_lines(i, since=started, until=ended, containing="deleted expired rows"))
        for i in ctx.auth
    )
    limit = math.ceil(result.seconds / (0.9 * MAINTENANCE_INTERVAL)) + 1
    result.check(
        "scheduled cleanup runs once per interval, not once per instance",
        1 <= runs <= limit,
        f"{runs} runs in {result.seconds:.0f} s across {len(ctx.auth)} instances "
        f"(interval {MAINTENANCE_INTERVAL:.0f} s: at most {limit}; once per instance would be "
        f"~{len(ctx.auth) * result.seconds / MAINTENANCE_INTERVAL:.0f})",
    )


async def audit_kept(ctx: Context, result: Result, label: str, started: float) -> None:
    """Every token issued has its (batched) audit row once the buffers have flushed."""
    issued = sum(1 for e in ctx.ledger.of(label, *TOKEN_OPS) if e.ok)
    engine = create_async_engine(ctx.database_url)
    try:
        async with engine.connect() as db:
            rows = (
                await db.execute(
                    text(
                        "SELECT count(*) FROM audit_event WHERE event = 'token_issued'"
                        " AND created_at >= to_timestamp(:since)"
                        " AND created_at <= to_timestamp(:until)"
                    ).bindparams(since=started, until=started + result.seconds)
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    result.check(
        "audit events kept",
        rows == issued,
        f"{rows} token_issued audit rows for {issued} tokens issued",
    )
