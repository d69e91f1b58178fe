"""The resource side's deny list, fed from the issuer's revocation feed.

Tokens are still validated locally; revocation only adds a set lookup. The list is filled by
polling `GET {issuer}/oauth/revocations` (incremental, with an overlap because commits land out
of order) and, when Redis is configured, from the issuer's announcements: each carries the
revocations just committed, which enter the list at once, and prompts a poll.
Worst-case delay without Redis: one poll interval plus one request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from shared.claims import AccessTokenClaims

logger = logging.getLogger(__name__)
REVOCATION_CHANNEL = "myauth:revocations"


def revocation_channel(issuer: str) -> str:
    """One Redis channel per issuer: deployments sharing a Redis do not hear each other."""
    return f"{REVOCATION_CHANNEL}:{issuer}"


# A feed event of this type says a client's registration changed (its secret, metadata or
# existence; value: the client id). It revokes nothing, so the deny list ignores it; followers
# that keep clients in memory (every auth instance) forget that client. The kind fits the
# table's 10 characters.
CLIENT_CHANGED = "client_mod"
# The same for a resource server (RFC 8707) registered, changed or deleted; value: its random
# row id, not its URI, so a public feed lists nothing a deployment registered. Followers that
# keep resource-server look-ups in memory forget them all (the registry is small).
RESOURCE_SERVER_CHANGED = "rs_mod"
# An account was deleted (value: its user id, the `sub` of its tokens). The deny list refuses
# every token with that subject, and followers with per-user data delete it (the resource
# service's notes): the documented hook of README "Deleting an account". Kept for
# SUBJECT_DELETED_DAYS, so a resource server that was down meanwhile still hears of it.
SUBJECT_DELETED = "user"
SUBJECT_DELETED_DAYS = 30

# Re-read this far behind the previous answer: a transaction may commit after a later one.
OVERLAP_SECONDS = 30.0
# An announcement carries at most this many revocations; a bigger batch is left to the poll.
MAX_ANNOUNCED = 1000


def announcement(events: list[tuple[str, str, float]]) -> bytes:
    """The Redis message for revocations just committed: (kind, value, expires_at) each, and
    when they were announced (followers measure how long revocations take to reach them)."""
    if len(events) > MAX_ANNOUNCED:
        return b"{}"
    now = time.time()
    body = [
        {"type": kind, "value": value, "expires_at": exp, "created_at": now}
        for kind, value, exp in events
    ]
    return json.dumps({"events": body}).encode()


class RevocationList:
    """Revoked token, grant and client ids, each kept until nothing it covers can still be valid."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        # kind -> value -> expiry: "token" by jti, "grant" by grant_id, "client" by client_id.
        self._entries: dict[str, dict[str, float]] = {
            "token": {}, "grant": {}, "client": {}, SUBJECT_DELETED: {},
        }  # fmt: skip
        self._clock = clock

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._entries.values())

    def add(self, kind: str, value: str, expires_at: float) -> bool:
        """Whether `value` is new to the list (a feed page repeats what the last one had)."""
        entries = self._entries.get(kind)
        if entries is None:  # a kind this version does not know is ignored
            return False
        new = value not in entries
        entries[value] = max(expires_at, entries.get(value, 0.0))
        return new

    def is_revoked(self, claims: AccessTokenClaims) -> bool:
        return (
            claims.jti in self._entries["token"]
            or (claims.grant_id is not None and claims.grant_id in self._entries["grant"])
            or claims.client_id in self._entries["client"]
            or claims.sub in self._entries[SUBJECT_DELETED]
        )

    def is_revoked_value(self, kind: str, value: str) -> bool:
        return value in self._entries.get(kind, {})

    def prune(self) -> None:
        now = self._clock()
        for entries in self._entries.values():
            for value in [v for v, exp in entries.items() if exp <= now]:
                del entries[value]


class RevocationFollower:
    """Keeps a RevocationList up to date from pages of the feed's shape (see `_fetch`).

    Polls every `poll_interval` seconds and, when Redis is configured, at once on an announcement.
    """

    # What a failed poll may raise; the list is kept as it is and the next poll tries again.
    recoverable_errors: tuple[type[Exception], ...] = (KeyError, TypeError, ValueError, IndexError)

    def __init__(
        self,
        revocations: RevocationList,
        *,
        poll_interval: float,
        redis_url: str | None = None,
        channel: str = REVOCATION_CHANNEL,
        on_subject_deleted: Callable[[str], Awaitable[None]] | None = None,
        on_propagated: Callable[[float], None] | None = None,
    ) -> None:
        self.revocations = revocations
        # Called with the seconds from a revocation's commit to its arrival here, for each one
        # first seen after the first poll (that poll reads the whole history): the metric of
        # README "Revocation that reaches the resource API".
        self._on_propagated = on_propagated
        # Called once per deleted account this process hears of (again after a restart, so it
        # must be idempotent); a call that raises is retried after the next poll.
        self._on_subject_deleted = on_subject_deleted
        self._subjects_due: set[str] = set()
        self._subjects_done: set[str] = set()
        self._hooks = asyncio.Lock()  # one pass at a time: a subject's hook runs once
        self._channel = channel
        self._poll_interval = poll_interval
        self._redis_url = redis_url
        self._since = 0.0
        self._lock = asyncio.Lock()
        self._news = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.polls = 0
        self.last_success: float | None = None

    async def start(self) -> None:
        await self.poll()
        self._tasks.append(asyncio.create_task(self._poll_forever()))
        self._tasks.append(asyncio.create_task(self._poll_on_news()))
        if self._redis_url:
            self._tasks.append(asyncio.create_task(self._listen_forever()))

    def announce(self) -> None:
        """The issuer says something was revoked: poll soon. Announcements that arrive while a
        poll runs are answered by one more poll, not one each, so a burst of revocations cannot
        queue up polls and delay the last of them."""
        self._news.set()

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def poll(self) -> bool:
        """Fetch what is new since the last answer; keep everything we have if the issuer is down."""
        async with self._lock:
            self.polls += 1
            try:
                after, complete = 0, False
                while not complete:
                    body = await self._fetch(after)
                    for event in body["events"]:
                        self._apply(event)
                    complete = bool(body["complete"]) or not body["events"]
                    if not complete:
                        after = int(body["events"][-1]["id"])
                self._since = max(0.0, float(body["now"]) - OVERLAP_SECONDS)
            except self.recoverable_errors as exc:
                logger.warning("revocation feed: poll failed: %s", type(exc).__name__)
                return False
            self.revocations.prune()
            self.last_success = time.monotonic()
        await self._run_subject_hooks()
        return True

    async def _run_subject_hooks(self) -> None:
        if self._on_subject_deleted is None:
            return
        async with self._hooks:
            for subject in sorted(self._subjects_due - self._subjects_done):
                try:
                    await self._on_subject_deleted(subject)
                except Exception as exc:  # noqa: BLE001 - its database down: the next poll retries
                    logger.warning(
                        "revocation feed: deleted-account hook failed: %s", type(exc).__name__
                    )
                    continue
                self._subjects_done.add(subject)
                self._subjects_due.discard(subject)

    async def _fetch(self, after: int) -> dict[str, Any]:
        """One page of `GET /oauth/revocations?since=<self._since>&after=<after>`."""
        raise NotImplementedError

    def _apply(self, event: dict[str, Any]) -> None:
        """One event of a feed page (with its `id`) or of an announcement (without)."""
        kind, value = str(event["type"]), str(event["value"])
        new = self.revocations.add(kind, value, float(event["expires_at"]))
        created_at = event.get("created_at")
        if new and self._on_propagated is not None and self.last_success is not None:
            # A number in a plausible range (compared, never converted: JSON allows 10**400).
            if isinstance(created_at, int | float) and not isinstance(created_at, bool):
                if 0 < created_at < 1e11:
                    self._on_propagated(max(0.0, time.time() - float(created_at)))
        if kind == SUBJECT_DELETED and value not in self._subjects_done:
            self._subjects_due.add(value)

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self._poll_interval)
            await self.poll()

    async def _poll_on_news(self) -> None:
        while True:
            await self._news.wait()
            self._news.clear()
            await self.poll()

    def _take(self, data: object) -> None:
        """Revocations an announcement carries go into the list at once: the feed may not be
        there to confirm them (its database down) just when they matter. The list can only
        refuse more tokens, so a bad message costs availability, never security."""
        if not isinstance(data, bytes | str):
            return
        try:
            events = json.loads(data)["events"]
            for event in events[:MAX_ANNOUNCED]:
                self._apply(event)
        except (ValueError, TypeError, KeyError):
            pass  # a bare nudge: the poll brings the news

    async def _listen_forever(self) -> None:
        """Poll on announcements (see `announce`); reconnect with backoff, and poll after reconnecting."""
        import redis.asyncio as redis

        assert self._redis_url is not None  # noqa: S101 - only started with a URL
        backoff = 0.5
        while True:
            client = redis.from_url(self._redis_url, socket_connect_timeout=2)
            try:
                pubsub = client.pubsub()
                await pubsub.subscribe(self._channel)
                await self.poll()  # whatever was announced while we were not listening
                backoff = 0.5
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._take(message.get("data"))
                        self.announce()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis down: the periodic poll carries on
                logger.warning("revocation feed: redis listener failed: %s", type(exc).__name__)
            finally:
                await client.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)


class RevocationFeed(RevocationFollower):
    """Follows the issuer's feed over HTTP; one per resource-service process."""

    recoverable_errors = (httpx.HTTPError, *RevocationFollower.recoverable_errors)

    def __init__(
        self,
        http: httpx.AsyncClient,
        revocations: RevocationList,
        *,
        feed_url: str,
        poll_interval: float,
        timeout: float = 2.0,
        redis_url: str | None = None,
        channel: str = REVOCATION_CHANNEL,
        feed_token: str | None = None,
        on_subject_deleted: Callable[[str], Awaitable[None]] | None = None,
        on_propagated: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__(
            revocations, poll_interval=poll_interval, redis_url=redis_url, channel=channel,
            on_subject_deleted=on_subject_deleted, on_propagated=on_propagated,
        )  # fmt: skip
        self._http = http
        self._feed_url = feed_url
        self._timeout = timeout
        # The issuer's AUTH_REVOCATION_FEED_TOKEN, where it keeps its feed private.
        self._headers = {"Authorization": f"Bearer {feed_token}"} if feed_token else {}

    async def _fetch(self, after: int) -> dict[str, Any]:
        response = await self._http.get(
            self._feed_url,
            params={"since": f"{self._since:.6f}", "after": str(after)},
            headers=self._headers,
            timeout=self._timeout,
        )
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body
