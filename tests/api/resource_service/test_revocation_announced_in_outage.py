"""Announcements carry the revocations they announce, so followers learn them even while the
feed cannot answer (found by the fault suite: a revocation committed just before PostgreSQL
stopped stayed unknown to a resource instance for the whole outage, since its poll failed)."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import redis.asyncio as redis
from sqlmodel import Session

from auth_service.repositories.revocations import PENDING_ANNOUNCEMENT
from auth_service.revocations.notifier import RevocationNotifier
from shared.revocations import RevocationFeed, RevocationList, revocation_channel
from tests.support.services import require_redis

FEED_URL = "http://auth.test/oauth/revocations"


def own_channel() -> str:
    """A channel no other test (or deployment sharing this Redis) publishes on."""
    return revocation_channel(f"http://auth-{time.time_ns()}.test")


async def test_revocation_feed_learns_announced_revocations_while_the_feed_is_down() -> None:
    url = require_redis()
    polls = 0
    listening = asyncio.Event()  # the first poll, and the one after subscribing, were tried

    async def feed_without_database(request: httpx.Request) -> httpx.Response:
        nonlocal polls
        polls += 1
        if polls >= 2:
            listening.set()
        return httpx.Response(503, json={"error": "temporarily_unavailable"})

    http = httpx.AsyncClient(transport=httpx.MockTransport(feed_without_database))
    revocations = RevocationList()
    channel = own_channel()
    feed = RevocationFeed(
        http, revocations, feed_url=FEED_URL, poll_interval=3600, redis_url=url, channel=channel
    )
    publisher = redis.from_url(url)
    grant_id = f"grant-{time.time_ns()}"
    try:
        await feed.start()
        await asyncio.wait_for(listening.wait(), 5)
        event = {"type": "grant", "value": grant_id, "expires_at": time.time() + 60}
        await publisher.publish(channel, json.dumps({"events": [event]}))
        for _ in range(200):  # up to 2 s
            if revocations.is_revoked_value("grant", grant_id):
                break
            await asyncio.sleep(0.01)
    finally:
        await feed.aclose()
        await publisher.aclose()
        await http.aclose()

    assert revocations.is_revoked_value("grant", grant_id)


async def test_revocation_notifier_announces_what_the_session_committed() -> None:
    url = require_redis()
    local = RevocationList()
    channel = own_channel()
    notifier = RevocationNotifier(url, local=local, channel=channel)
    subscriber = redis.from_url(url)
    pubsub = subscriber.pubsub()
    await pubsub.subscribe(channel)
    session = Session()
    expires_at = time.time() + 60
    value = f"jti-{time.time_ns()}"
    session.info[PENDING_ANNOUNCEMENT] = [("token", value, expires_at)]
    try:
        notifier.after_commit(session)
        await notifier.aclose()
        bodies = []
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
            if message is not None:
                bodies.append(json.loads(message["data"]))
                if any(e["value"] == value for b in bodies for e in b.get("events", [])):
                    break
    finally:
        await pubsub.aclose()
        await subscriber.aclose()
        session.close()

    announced = [e for b in bodies for e in b.get("events", []) if e["value"] == value]
    assert [(e["type"], e["expires_at"]) for e in announced] == [("token", expires_at)]
    assert abs(announced[0]["created_at"] - time.time()) < 5  # when it was announced
    assert local.is_revoked_value("token", value)
