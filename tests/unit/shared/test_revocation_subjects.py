"""The feed's "subject deleted" events (README "Deleting an account"): every token of the
subject is refused, and the follower's hook runs once per subject, again after a failure."""

from __future__ import annotations

import time
from typing import Any

from shared.claims import AccessTokenClaims
from shared.revocations import SUBJECT_DELETED, RevocationFollower, RevocationList


def claims(sub: str) -> AccessTokenClaims:
    return AccessTokenClaims(iss="i", sub=sub, aud="a", client_id="c", iat=0, exp=1, jti=sub)


class PagesFollower(RevocationFollower):
    """A follower of a feed that is a list in memory."""

    def __init__(self, events: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(RevocationList(), poll_interval=3600, **kwargs)
        self.events = events

    async def _fetch(self, after: int) -> dict[str, Any]:
        return {"events": self.events, "complete": True, "now": time.time()}


def deleted(user_id: str, n: int = 1) -> dict[str, Any]:
    return {"id": n, "type": SUBJECT_DELETED, "value": user_id, "expires_at": time.time() + 60}


def test_every_token_of_a_deleted_subject_is_refused() -> None:
    revocations = RevocationList()
    revocations.add(SUBJECT_DELETED, "gone-user", time.time() + 60)

    assert revocations.is_revoked(claims("gone-user"))
    assert not revocations.is_revoked(claims("kept-user"))


async def test_the_hook_runs_once_per_subject_and_again_after_it_failed() -> None:
    calls: list[str] = []
    failing = {"b"}

    async def hook(user_id: str) -> None:
        calls.append(user_id)
        if user_id in failing:
            raise OSError("database down")

    follower = PagesFollower([deleted("a", 1), deleted("b", 2)], on_subject_deleted=hook)

    assert await follower.poll()
    assert await follower.poll()  # the feed repeats itself (overlap): "a" is done already
    failing.clear()
    assert await follower.poll()
    assert await follower.poll()

    assert calls == ["a", "b", "b", "b"]


async def test_without_a_hook_the_events_only_deny() -> None:
    follower = PagesFollower([deleted("a")])

    assert await follower.poll()
    assert follower.revocations.is_revoked(claims("a"))
