"""Mixed traffic: virtual clients, each a user's browser plus the app's token families.

A client loops over operations drawn from a weighted mix: resource calls, refreshes, full code
flows through the login and consent forms, introspection, revocation (followed by a watch of
how fast every resource instance refuses the revoked token) and probes that replay revoked
tokens. Clients retry the way real ones do: an unanswered token request once, on another instance.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from dataclasses import dataclass, field

from auth_service.security.keys import new_signing_key
from chaos.api import AccessToken, Api, Family, User, new_client, sha256_hex
from chaos.cluster import Instance
from chaos.ledger import Entry
from shared.tokens import JoseKey, load_private_key, sign

MAX_CLIENTS = 50
REVOCATION_WATCH = 3.0  # seconds a revocation is watched for at the resource instances
PROBE_AFTER = 1.5  # revoked tokens are replayed only after this, beyond the propagation bound


@dataclass(frozen=True, slots=True)
class Mix:
    weights: dict[str, float]
    think: tuple[float, float] = (0.0, 0.05)
    max_families: int = 3
    fresh_login: float = 0.15  # a flow from a new browser: the login form again
    prompt_consent: float = 0.1  # a flow that asks for consent again: the consent form


BASELINE = Mix(
    {"resource": 45, "refresh": 15, "introspect": 8, "flow": 8, "revoke": 5, "probe": 12}
)
ISSUANCE = Mix({"refresh": 60, "flow": 25, "resource": 15}, think=(0.0, 0.0), max_families=4)
RESOURCE_ONLY = Mix({"resource": 75, "probe": 10, "unknown_kid": 15}, think=(0.0, 0.02))


@dataclass
class Forger:
    """Access tokens that look right but are signed by a key the issuer never published."""

    issuer: str
    audience: str
    _key: JoseKey | None = field(default=None, init=False)

    def token(self) -> AccessToken:
        if self._key is None:
            self._key = load_private_key(new_signing_key("RS256").pem, "RS256")
        now = int(time.time())
        kid = "chaos-" + secrets.token_urlsafe(8)
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": "nobody",
            "client_id": "nobody",
            "scope": "profile",
            "iat": now,
            "exp": now + 300,
            "jti": secrets.token_urlsafe(16),
        }
        value = sign(claims, self._key, kid=kid, alg="RS256", typ="at+jwt")
        return AccessToken(value, str(claims["jti"]), "", kid, float(now + 300))


class VirtualClient:
    def __init__(self, workload: Workload, user: User) -> None:
        self.workload = workload
        self.api = workload.api
        self.rng = random.Random(workload.rng.random())  # noqa: S311 - traffic, not secrets
        self.user = user
        self.browser = new_client()
        self.families: list[Family] = []

    async def aclose(self) -> None:
        await self.browser.aclose()

    def live(self) -> list[Family]:
        self.families = [f for f in self.families if f.live]
        return self.families

    async def run(self, mix: Mix, stop: asyncio.Event) -> None:
        ops = list(mix.weights)
        weights = [mix.weights[op] for op in ops]
        while not stop.is_set():
            op = self.rng.choices(ops, weights)[0]
            if not self.live() and op in ("resource", "refresh", "introspect", "revoke"):
                op = "flow"
            entry = await getattr(self, f"op_{op}")(mix)
            pause = self.rng.uniform(*mix.think)
            if isinstance(entry, Entry) and not entry.ok and entry.status != 401:
                pause += 0.25  # a 5xx, a 429 or no answer: back off a little, as clients do
            if pause:
                await asyncio.sleep(pause)

    # --- operations -----------------------------------------------------------------------

    async def op_flow(self, mix: Mix) -> Entry | None:
        if self.rng.random() < mix.fresh_login:
            await self.browser.aclose()
            self.browser = new_client()
        prompt = "consent" if self.rng.random() < mix.prompt_consent else None
        code = await self.api.authorize(self.browser, self.user, prompt=prompt)
        if code is None:
            return self.api.ledger.entries[-1]
        entry, family = await self.api.redeem(code)
        if entry.unanswered:
            entry, family = await self.api.redeem(code, self._other(entry))
        if family is not None:
            self.families.append(family)
            if len(self.live()) > mix.max_families:
                await self.revoke_family(self.families[0], watch=False)
        return entry

    async def op_refresh(self, mix: Mix) -> Entry:
        return await self.refresh_family(self.rng.choice(self.live()))

    async def refresh_family(self, family: Family) -> Entry:
        entry, new = await self.api.refresh(family.refresh_token)
        if entry.unanswered:  # the answer was lost: retry the same token, as clients do
            entry, new = await self.api.refresh(family.refresh_token, self._other(entry))
        if new is not None:
            family.rotated.append(family.refresh_token)
            family.refresh_token, family.access = new.refresh_token, new.access
        elif entry.status == 400:
            family.dead = True
        return entry

    async def op_resource(self, mix: Mix) -> Entry:
        family = self.rng.choice(self.live())
        return await self.api.resource_call(family.access)

    async def op_introspect(self, mix: Mix) -> Entry:
        family = self.rng.choice(self.live())
        if self.rng.random() < 0.5:
            return await self.api.introspect(
                family.access.value, "access_token", family.access.ids()
            )
        return await self.api.introspect(
            family.refresh_token, "refresh_token", {"rt_in": sha256_hex(family.refresh_token)}
        )

    async def op_revoke(self, mix: Mix) -> Entry:
        family = self.rng.choice(self.live())
        if self.rng.random() < 0.3:
            return await self.revoke_access_token(family)
        return await self.revoke_family(family, watch=True)

    async def op_probe(self, mix: Mix) -> Entry | None:
        """Replay something revoked a while ago: it must be refused everywhere."""
        now = time.time()
        old = [(a, t) for a, t in self.workload.revoked_access if t < now - PROBE_AFTER]
        families = [f for f in self.workload.graveyard if (f.revoked_at or now) < now - PROBE_AFTER]
        if not old and not families:
            return await self.op_resource(mix) if self.live() else None
        if families and (not old or self.rng.random() < 0.6):
            family = self.rng.choice(families)
            kind = self.rng.choice(("resource", "refresh", "introspect"))
            if kind == "refresh":
                return (await self.api.refresh(family.refresh_token))[0]
            if kind == "introspect":
                return await self.api.introspect(
                    family.access.value, "access_token", family.access.ids()
                )
            return await self.api.resource_call(family.access, note={"probe": True})
        access, _ = self.rng.choice(old)
        return await self.api.resource_call(access, note={"probe": True})

    async def op_unknown_kid(self, mix: Mix) -> Entry:
        return await self.api.resource_call(self.workload.forger.token(), op="unknown_kid")

    # --- helpers --------------------------------------------------------------------------

    async def revoke_family(self, family: Family, *, watch: bool) -> Entry:
        entry = await self.api.revoke(
            family.refresh_token, "refresh_token", {"rt_in": sha256_hex(family.refresh_token),
                                                    "grant": family.grant_id}
        )  # fmt: skip
        if entry.ok:
            family.revoked_at = entry.t1
            self.workload.graveyard.append(family)
            if watch:
                await self.workload.watch_revocation(family.access, entry.t1)
        return entry

    async def revoke_access_token(self, family: Family) -> Entry:
        entry = await self.api.revoke(family.access.value, "access_token", family.access.ids())
        if entry.ok:
            revoked = family.access
            self.workload.revoked_access.append((revoked, entry.t1))
            await self.workload.watch_revocation(revoked, entry.t1)
            await self.refresh_family(family)  # carry on with a fresh access token
            if family.access is revoked:
                family.dead = True
        return entry

    def _other(self, entry: Entry) -> Instance | None:
        others = [i for i in self.api.auth if i.name != entry.instance]
        return self.rng.choice(others) if others else None


class Workload:
    def __init__(
        self, api: Api, users: tuple[User, ...], rng: random.Random, forger: Forger
    ) -> None:
        self.api = api
        self.rng = rng
        self.forger = forger
        self.clients = [VirtualClient(self, users[n % len(users)]) for n in range(MAX_CLIENTS)]
        self.graveyard: list[Family] = []
        self.revoked_access: list[tuple[AccessToken, float]] = []

    async def run(
        self, clients: int, mix: Mix, seconds: float, stop: asyncio.Event | None = None
    ) -> None:
        """`clients` virtual clients (at most 50) for `seconds`, or until `stop` is set."""
        stop = stop or asyncio.Event()
        tasks = [
            asyncio.create_task(c.run(mix, stop)) for c in self.clients[: min(clients, MAX_CLIENTS)]
        ]
        try:
            await asyncio.wait_for(stop.wait(), seconds)
        except TimeoutError:
            pass
        finally:
            stop.set()
            await asyncio.gather(*tasks)

    async def watch_revocation(self, access: AccessToken, revoked_at: float) -> None:
        """Call every resource instance with the revoked token until each refuses it."""

        async def watch(instance: Instance) -> None:
            while time.time() < revoked_at + REVOCATION_WATCH:
                entry = await self.api.resource_call(
                    access, target=instance, note={"after_revoke": revoked_at}
                )
                if entry.status == 401:
                    return
                await asyncio.sleep(0.02)

        await asyncio.gather(*(watch(i) for i in self.api.resource))

    def live_families(self) -> list[Family]:
        return [f for c in self.clients for f in c.live()]

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()
