"""A burst of Redis announcements is answered by a poll or two, not one poll each (found by the
fault suite: under load, queued polls delayed the last revocations of a burst beyond 1 s)."""

from __future__ import annotations

import asyncio
import time

import httpx
import redis.asyncio as redis

from shared.revocations import RevocationFeed, RevocationList, revocation_channel
from tests.support.services import require_redis

FEED_URL = "http://auth.test/oauth/revocations"
POLL_SECONDS = 0.1  # how long the issuer takes to answer one poll
BURST = 30


async def test_revocation_feed_burst_of_announcements_is_answered_by_few_polls() -> None:
    url = require_redis()
    started: list[float] = []
    listening = asyncio.Event()  # the first poll, and the one after subscribing, have begun

    async def slow_feed(request: httpx.Request) -> httpx.Response:
        started.append(time.monotonic())
        if len(started) >= 2:
            listening.set()
        await asyncio.sleep(POLL_SECONDS)
        return httpx.Response(200, json={"now": time.time(), "complete": True, "events": []})

    http = httpx.AsyncClient(transport=httpx.MockTransport(slow_feed))
    # A channel of its own: announcements of tests running alongside would add polls.
    channel = revocation_channel(f"http://auth-{time.time_ns()}.test")
    feed = RevocationFeed(
        http,
        RevocationList(),
        feed_url=FEED_URL,
        poll_interval=3600,
        redis_url=url,
        channel=channel,
    )
    publisher = redis.from_url(url)
    try:
        await feed.start()
        await asyncio.wait_for(listening.wait(), 5)
        await asyncio.sleep(2 * POLL_SECONDS)
        before = len(started)
        for _ in range(BURST):
            await publisher.publish(channel, b"1")
        burst_ended = time.monotonic()
        await asyncio.sleep(BURST * POLL_SECONDS / 2)
    finally:
        await feed.aclose()
        await publisher.aclose()
        await http.aclose()

    polls = started[before:]
    assert 1 <= len(polls) <= 3, len(polls)  # one poll per announcement would be 30
    assert polls[-1] >= burst_ended - POLL_SECONDS  # the last announcement was not lost
