"""Scenario 3: `kill -9` of an auth instance three times during heavy token issuance.

Each killed instance is started again at once. Requests it never answered must have committed
fully or not at all; every answered token must be in the database; and refresh tokens rotated
before the kill must still be refused by the restarted instance (as reuse: the family dies).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from chaos.api import Family
from chaos.context import TOKEN_OPS, Context, Result
from chaos.faults import restart
from chaos.ledger import Entry
from chaos.snapshot import Snapshot
from chaos.workload import ISSUANCE

LABEL = "3-kill"
CLIENTS = 40
VICTIMS = ("auth-1", "auth-2", "auth-1")
GAP = 6.0  # seconds of traffic before each kill, and after the last restart
RESERVED = 8  # families per kill whose rotated refresh tokens are replayed after the restart


async def run(ctx: Context) -> Result:
    result = Result(3, "kill -9 of an auth instance three times during heavy token issuance")
    started = ctx.begin(LABEL)
    await ctx.top_up(CLIENTS)
    reserve = await rotated_families(ctx, RESERVED * len(VICTIMS))
    stop = asyncio.Event()
    traffic = asyncio.create_task(ctx.workload.run(CLIENTS, ISSUANCE, 3600, stop))
    restarts, replays = [], []
    for n, name in enumerate(VICTIMS):
        await asyncio.sleep(GAP)
        instance = ctx.cluster.instances[name]
        killed_at, healthy_at = await restart(instance, kill=True)
        ctx.declare(LABEL, f"kill -9 {name}", killed_at, healthy_at)
        restarts.append(f"{name} {healthy_at - killed_at:.1f} s")
        batch = reserve[n * RESERVED : (n + 1) * RESERVED]
        replays.extend(await replay_rotated(ctx, batch, name))
    await asyncio.sleep(GAP)
    stop.set()
    await traffic
    await asyncio.sleep(1.5)  # the replayed families' revocations reach the resource instances
    for family in reserve:
        for instance in ctx.resource:
            await ctx.api.resource_call(family.access, target=instance, note={"probe": True})
    await ctx.finish(result, LABEL, started)
    entries = list(ctx.ledger.of(LABEL))
    snap = await Snapshot.load(ctx.database_url)
    issued = [e for e in entries if e.op in TOKEN_OPS and e.ok]
    span = max(e.t1 for e in entries) - min(e.t0 for e in entries)
    result.figure(
        "token issuance", f"{len(issued)} tokens in {span:.0f} s ({len(issued) / span:.0f}/s)"
    )
    result.figure("kill -9 to healthy again", ", ".join(restarts))
    atomic_when_unanswered(result, entries, snap, ctx.ledger.entries)
    rotated_stay_rejected(result, replays)
    return result


async def rotated_families(ctx: Context, count: int) -> list[Family]:
    """Families refreshed twice, so each has refresh tokens that were rotated."""
    families = await ctx.families(count)
    for family in families:
        for _ in range(2):
            entry, new = await ctx.api.refresh(family.refresh_token)
            if new is None:
                raise RuntimeError(f"preparing rotated tokens: refresh got {entry.status}")
            family.rotated.append(family.refresh_token)
            family.refresh_token, family.access = new.refresh_token, new.access
    return families


async def replay_rotated(ctx: Context, families: Sequence[Family], name: str) -> list[Entry]:
    """On the restarted instance: each rotated token, then its family's current one."""
    target = ctx.cluster.instances[name]

    async def replay(family: Family) -> list[Entry]:
        entry, _ = await ctx.api.refresh(family.rotated[-1], target)
        entry.note["replay"] = "rotated"
        current, _ = await ctx.api.refresh(family.refresh_token, target)
        current.note["replay"] = "current"
        return [entry, current]

    return [e for pair in await asyncio.gather(*(replay(f) for f in families)) for e in pair]


def rotated_stay_rejected(result: Result, replays: Sequence[Entry]) -> None:
    rotated = [e for e in replays if e.note["replay"] == "rotated"]
    current = [e for e in replays if e.note["replay"] == "current"]
    refused = sum(1 for e in rotated if e.status == 400 and e.error == "invalid_grant")
    family_dead = sum(1 for e in current if e.status == 400 and e.error == "invalid_grant")
    result.check(
        "rotated refresh tokens stay rejected after the restart",
        refused == len(rotated) and family_dead == len(current) and bool(rotated),
        f"{refused}/{len(rotated)} rotated tokens refused by the restarted instance; then "
        f"{family_dead}/{len(current)} of their families' current tokens (reuse revoked them)",
        [
            f"{e.note['replay']} token got {e.status} {e.error}"
            for e in replays
            if not e.status == 400
        ],
    )


def atomic_when_unanswered(
    result: Result, entries: Sequence[Entry], snap: Snapshot, all_entries: Sequence[Entry]
) -> None:
    """A request that got no answer either committed all its writes or none of them: a rotated
    token has the successor its rotation created (same instant), a used code has its family."""
    answered = {e.ids["rt"] for e in all_entries if e.ok and "rt" in e.ids}
    lost = [e for e in entries if e.unanswered and e.op in TOKEN_OPS]
    committed = nothing = retried_ok = 0
    violations = []
    for e in lost:
        if e.op == "refresh":
            row = snap.tokens.get(e.ids["rt_in"])
            used_at = row.rotated_at if row else None
            made = [snap.tokens[c] for c in snap.children.get(e.ids["rt_in"], [])]
            made_hashes = snap.children.get(e.ids["rt_in"], [])
        else:
            grant, used_at = snap.codes.get(e.ids["code"], ("", None))
            made_hashes = [
                h for h, t in snap.tokens.items() if t.grant_id == grant and t.parent_hash is None
            ]
            made = [snap.tokens[h] for h in made_hashes]
        if used_at is None:
            if made:
                violations.append(f"{e.op} on {e.instance}: successor written but not marked used")
            nothing += 1
            continue
        mine = [h for h, t in zip(made_hashes, made, strict=True) if t.created_at == used_at]
        if not mine:
            violations.append(f"{e.op} on {e.instance}: marked used without its successor")
        elif any(h not in answered for h in mine):
            committed += 1  # this request's work, whose answer was lost
            retried_ok += retry_answered(e, entries)
        else:
            nothing += 1  # the retry did the work
    result.check(
        "unanswered requests committed fully or not at all",
        not violations,
        f"{len(lost)} token requests got no answer: {committed} fully committed ({retried_ok} "
        f"of their retries answered by the grace rule), {nothing} not at all, "
        f"{len(violations)} half",
        violations,
    )


def retry_answered(lost: Entry, entries: Sequence[Entry]) -> int:
    """1 if the client's retry of a lost refresh (the same token, next) got new tokens."""
    if lost.op != "refresh":
        return 0
    later = [e for e in entries if e.op == "refresh" and e.t0 > lost.t0]
    retry = next((e for e in later if e.ids.get("rt_in") == lost.ids["rt_in"]), None)
    return int(retry is not None and retry.ok)
