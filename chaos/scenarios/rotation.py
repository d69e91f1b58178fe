"""Scenario 5: a signing key rotation under load, with `auth-service keys rotate`.

The new key is published at once (at each instance's next schedule reload) and signs after
AUTH_KEY_ACTIVATION_DELAY: 11 s in the suite, the least the settings allow with a 10 s
AUTH_JWKS_MAX_AGE and a 1 s AUTH_KEY_RELOAD_INTERVAL. Not one unexpired token signed by either
key may be refused.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from chaos.api import AccessToken
from chaos.checks import Revocations, valid_resource_calls
from chaos.context import TOKEN_OPS, Context, Result
from chaos.ledger import Entry
from chaos.snapshot import Snapshot
from chaos.workload import BASELINE

LABEL = "5-rotation"
CLIENTS = 24
BEFORE, AFTER_ACTIVATION = 3.0, 15.0
RELOAD_INTERVAL = 1.0  # AUTH_KEY_RELOAD_INTERVAL of the suite's cluster
ACTIVATION_DELAY = 11.0  # AUTH_KEY_ACTIVATION_DELAY of the suite's cluster


async def run(ctx: Context) -> Result:
    result = Result(5, "signing key rotation under load (auth-service keys rotate)")
    started = ctx.begin(LABEL)
    await ctx.top_up(CLIENTS)
    stockpile = [f.access for f in ctx.workload.live_families()]
    stop = asyncio.Event()
    traffic = asyncio.create_task(ctx.workload.run(CLIENTS, BASELINE, 3600, stop))
    replay = asyncio.create_task(replay_old_tokens(ctx, stockpile, stop))
    await asyncio.sleep(BEFORE)
    known = await published_kids(ctx)
    watchers = [asyncio.create_task(first_new_kid(ctx, i.name, known)) for i in ctx.auth]
    rotated = await ctx.cli("keys", "rotate")
    new_kid = rotated["kid"]
    activates_at = datetime.fromisoformat(rotated["activates_at"]).timestamp()
    rotated_at = activates_at - ACTIVATION_DELAY  # when the CLI committed the new key
    published = await asyncio.gather(*watchers)
    await asyncio.sleep(max(0.0, activates_at + AFTER_ACTIVATION - time.time()))
    stop.set()
    await asyncio.gather(traffic, replay)
    result.figure(
        "rotation",
        f"new key published {', '.join(f'{n} +{s - rotated_at:.1f} s' for n, s in published)}; "
        f"signs from +{activates_at - rotated_at:.1f} s",
    )
    revocations = await ctx.finish(result, LABEL, started)
    entries = list(ctx.ledger.of(LABEL))
    snap = await Snapshot.load(ctx.database_url)
    no_rejections(result, entries, snap, revocations, new_kid)
    everyone_switched(ctx, result, entries, new_kid, activates_at)
    result.check(
        "the rotation is seen by every auth instance",
        all(s - rotated_at <= RELOAD_INTERVAL + 1.0 for _, s in published),
        f"the new kid in each instance's JWKS within {RELOAD_INTERVAL + 1:.0f} s of the CLI's "
        "commit (AUTH_KEY_RELOAD_INTERVAL + 1 s)",
    )
    return result


async def replay_old_tokens(
    ctx: Context, tokens: Sequence[AccessToken], stop: asyncio.Event
) -> None:
    """Tokens signed before the rotation, used all along at every resource instance."""
    n = 0
    while not stop.is_set() and tokens:
        for instance in ctx.resource:
            await ctx.api.resource_call(tokens[n % len(tokens)], target=instance)
        n += 1
        await asyncio.sleep(0.05)


async def published_kids(ctx: Context) -> set[str]:
    _, response = await ctx.api.call(ctx.auth[0], "jwks", "GET", "/.well-known/jwks.json")
    assert response is not None  # noqa: S101 - the cluster is up
    return {k["kid"] for k in response.json()["keys"]}


async def first_new_kid(ctx: Context, name: str, known: set[str]) -> tuple[str, float]:
    """Poll one instance's JWKS until a kid not in `known` appears; (instance, when seen)."""
    instance = ctx.cluster.instances[name]
    while True:
        entry, response = await ctx.api.call(instance, "jwks", "GET", "/.well-known/jwks.json")
        if response is not None and {k["kid"] for k in response.json()["keys"]} - known:
            return name, entry.t1
        await asyncio.sleep(0.1)


def no_rejections(
    result: Result,
    entries: Sequence[Entry],
    snap: Snapshot,
    revocations: Revocations,
    new_kid: str,
) -> None:
    calls = valid_resource_calls(entries, snap, revocations)
    by_kid = Counter("new" if e.ids["kid"] == new_kid else "old" for e in calls)
    refused = [e for e in calls if not e.ok]
    result.check(
        "zero rejections of unexpired tokens signed by either key",
        not refused and by_kid["new"] > 0 and by_kid["old"] > 0,
        f"{len(calls)} calls with valid tokens ({by_kid['old']} old key, {by_kid['new']} new "
        f"key), {len(refused)} refused",
        [
            f"{e.status or e.error} on {e.instance} kid {'new' if e.ids['kid'] == new_kid else 'old'}"
            for e in refused
        ],  # fmt: skip
    )


def everyone_switched(
    ctx: Context, result: Result, entries: Sequence[Entry], new_kid: str, activates_at: float
) -> None:
    settled = activates_at + RELOAD_INTERVAL + 0.5
    issued = [e for e in entries if e.op in TOKEN_OPS and e.ok and e.t0 > settled]
    per_instance = Counter(e.instance for e in issued if e.ids["kid"] == new_kid)
    stale = [e for e in issued if e.ids["kid"] != new_kid]
    result.check(
        "every auth instance signs with the new key once it is active",
        not stale and all(per_instance[i.name] > 0 for i in ctx.auth),
        f"{len(issued)} tokens issued after activation: "
        + ", ".join(f"{i.name} {per_instance[i.name]} with the new key" for i in ctx.auth)
        + f", {len(stale)} with the old one",
    )
