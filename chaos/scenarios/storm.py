"""Scenario 6: a concurrency storm, with AUTH_REFRESH_TOKEN_REUSE_GRACE=0.

50 codes, each redeemed 10 times at once; 50 refresh tokens, each refreshed 10 times at once
(both spread over the auth instances, 50 requests in flight); 20 races of a revocation against
a refresh of the same token. Exactly one success each, and nothing alive after a revocation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import TypeVar

from chaos.api import Code, Family, sha256_hex
from chaos.context import Context, Result
from chaos.faults import restart
from chaos.ledger import Entry

LABEL = "6-storm"
ITEMS, PARALLEL, RACES = 50, 10, 20
IN_FLIGHT = 50  # items per batch x PARALLEL stays within the suite's 50 clients
PROPAGATION_WAIT = 1.5
STRICT_REUSE = {"AUTH_REFRESH_TOKEN_REUSE_GRACE": "0"}

T = TypeVar("T")


async def run(ctx: Context) -> Result:
    result = Result(6, "concurrency storm (AUTH_REFRESH_TOKEN_REUSE_GRACE=0)")
    started = ctx.begin(LABEL)
    for instance in ctx.auth:  # strict reuse detection: a rolling restart with the new setting
        await restart(instance, kill=False, env=STRICT_REUSE)
    ctx.grace = 0.0
    await code_storm(ctx, result)
    await refresh_storm(ctx, result)
    await revoke_refresh_races(ctx, result)
    await ctx.finish(result, LABEL, started)
    return result


async def batched(calls: Sequence[Awaitable[T]], per_item: int) -> list[T]:
    """Run `calls` (`per_item` per item, adjacent) with at most IN_FLIGHT in flight."""
    results: list[T] = []
    step = IN_FLIGHT // per_item * per_item
    for start in range(0, len(calls), step):
        results.extend(await asyncio.gather(*calls[start : start + step]))
    return results


async def code_storm(ctx: Context, result: Result) -> None:
    codes = await ctx.codes(ITEMS)
    calls = [ctx.api.redeem(c, ctx.auth[n % len(ctx.auth)]) for c in codes for n in range(PARALLEL)]
    outcomes = await batched(calls, PARALLEL)
    winners = exactly_one(result, "code", codes, [f for _, f in outcomes])
    await family_is_dead(ctx, result, winners, "the replayed codes' tokens are revoked")


async def refresh_storm(ctx: Context, result: Result) -> None:
    families = await ctx.families(ITEMS)
    calls = [
        ctx.api.refresh(f.refresh_token, ctx.auth[n % len(ctx.auth)])
        for f in families
        for n in range(PARALLEL)
    ]
    outcomes = await batched(calls, PARALLEL)
    winners = exactly_one(result, "refresh token", families, [f for _, f in outcomes])
    await family_is_dead(ctx, result, winners, "reuse revoked each winner's family (grace 0)")


def exactly_one(
    result: Result, kind: str, items: Sequence[Code | Family], families: Sequence[Family | None]
) -> list[Family]:
    """`families` holds PARALLEL outcomes per item, in order; each item must have one winner."""
    counts, winners = [], []
    for n in range(len(items)):
        won = [f for f in families[n * PARALLEL : (n + 1) * PARALLEL] if f is not None]
        counts.append(len(won))
        winners.extend(won)
    exact = sum(1 for c in counts if c == 1)
    result.check(
        f"{kind}s: exactly one success each",
        exact == len(items) == ITEMS,
        f"{len(items)} {kind}s x {PARALLEL} parallel: {exact} with exactly one success, "
        f"{sum(1 for c in counts if c == 0)} with none, {sum(1 for c in counts if c > 1)} with more",
    )
    return winners


async def family_is_dead(
    ctx: Context, result: Result, families: Sequence[Family], name: str
) -> None:
    """Each family's newest refresh token refused; after the propagation bound, its access token
    refused by every resource instance."""
    refreshes = [(await ctx.api.refresh(f.refresh_token))[0] for f in families]
    await asyncio.sleep(PROPAGATION_WAIT)
    calls = [
        await ctx.api.resource_call(f.access, target=i, note={"probe": True})
        for f in families
        for i in ctx.resource
    ]
    alive = [e for e in (*refreshes, *calls) if e.ok]
    result.check(
        name,
        not alive and bool(families),
        f"{len(families)} families: {sum(1 for e in refreshes if e.status == 400)} refresh "
        f"tokens refused, {sum(1 for e in calls if e.status == 401)}/{len(calls)} access tokens "
        f"refused at resource instances",
        [f"{e.op} on {e.instance} accepted" for e in alive],
    )


async def revoke_refresh_races(ctx: Context, result: Result) -> None:
    families = await ctx.families(RACES)

    async def race(n: int, family: Family) -> tuple[Entry, Entry, Family | None]:
        revoking, refreshing = ctx.auth[n % 2], ctx.auth[(n + 1) % 2]
        revoke, (refresh, successor) = await asyncio.gather(
            ctx.api.revoke(
                family.refresh_token,
                "refresh_token",
                {"rt_in": _rt(family), "grant": family.grant_id},
                revoking,
            ),
            ctx.api.refresh(family.refresh_token, refreshing),
        )
        return revoke, refresh, successor

    outcomes = await asyncio.gather(*(race(n, f) for n, f in enumerate(families)))
    refresh_won = [s for _, _, s in outcomes if s is not None]
    revoked = sum(1 for r, _, _ in outcomes if r.ok)
    after = [
        await ctx.api.introspect(s.refresh_token, "refresh_token", {"rt_in": _rt(s)})
        for s in refresh_won
    ]
    still_active = [e for e in after if e.note.get("active")]
    await family_is_dead(ctx, result, [*families, *refresh_won], "nothing alive after revocation")
    result.check(
        "revoke-versus-refresh races",
        revoked == RACES and not still_active,
        f"{RACES} races: {revoked} revocations answered 200; the refresh got in first "
        f"{len(refresh_won)} times and its new tokens died with the family "
        f"({len(still_active)} still active by introspection)",
    )


def _rt(family: Family) -> str:
    return sha256_hex(family.refresh_token)
