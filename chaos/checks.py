"""The invariants, checked afterwards against the ledger and what the database holds.

Times: the ledger's are the client's wall clock at send (t0) and answer (t1); the database's are
the server's `now` at the start of the request that wrote them. One machine, one clock.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from chaos.ledger import Entry, FaultWindow, overlaps
from chaos.snapshot import Snapshot

# How long a resource instance may go on accepting a token after its revocation was answered.
# The README: with Redis, well under 100 ms; without, one poll interval (2 s) plus a request.
PROPAGATION_BOUND = 1.0
# An outage ends when PostgreSQL is back (or the instance is healthy again); 5xx answers are
# allowed this much longer.
FAULT_SLACK = 5.0
# A revocation the ledger did not see answered (its request died with an instance) is taken
# as committed this long after the `now` the database recorded for it.
UNSEEN_COMMIT = 5.0
SUCCESS_TARGET = 0.999


@dataclass
class Check:
    name: str
    passed: bool
    detail: str
    violations: list[str] = field(default_factory=list)


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


# --- revocation instants -------------------------------------------------------------------


@dataclass
class Revocations:
    """When each revocation took effect: the answer that proved it committed."""

    grants: dict[str, float]
    jtis: dict[str, float]

    @classmethod
    def of(cls, entries: Iterable[Entry], snap: Snapshot) -> Revocations:
        grants: dict[str, float] = {}
        jtis: dict[str, float] = {}

        def earliest(table: dict[str, float], key: str, t: float) -> None:
            table[key] = min(t, table.get(key, t))

        for e in entries:
            if e.op == "revoke" and e.ok:
                if e.note.get("hint") == "access_token":
                    earliest(jtis, e.ids["jti"], e.t1)
                elif e.ids.get("grant"):
                    earliest(grants, e.ids["grant"], e.t1)
            elif e.op in ("refresh", "code") and e.status == 400:
                # Reuse detection commits the family's revocation before answering; a 400 for a
                # family revoked earlier proves the same. Only if the database says revoked.
                grant = snap.grant_of(e)
                revoked_at = snap.grants.get(grant) if grant else None
                if grant and revoked_at is not None and revoked_at <= e.t1:
                    earliest(grants, grant, e.t1)
        for grant, revoked_at in snap.grants.items():
            if revoked_at is not None and grant not in grants:
                grants[grant] = revoked_at + UNSEEN_COMMIT
        for jti, created_at in snap.revoked_jtis.items():
            if jti not in jtis:
                jtis[jti] = created_at + UNSEEN_COMMIT
        return cls(grants, jtis)

    def since(self, entry: Entry) -> float | None:
        """When what this entry carried was revoked, if it was."""
        times = []
        if entry.ids.get("grant") in self.grants:
            times.append(self.grants[entry.ids["grant"]])
        if entry.ids.get("jti") in self.jtis:
            times.append(self.jtis[entry.ids["jti"]])
        return min(times) if times else None


# --- the invariants ------------------------------------------------------------------------


def codes_redeemed_once(entries: Sequence[Entry], snap: Snapshot) -> Check:
    wins: dict[str, int] = defaultdict(int)
    for e in entries:
        if e.op == "code" and e.ok:
            wins[e.ids["code"]] += 1
    violations = [f"code {c[:12]}… redeemed {n} times" for c, n in wins.items() if n > 1]
    roots: dict[str, int] = defaultdict(int)
    for row in snap.tokens.values():
        if row.parent_hash is None:
            roots[row.grant_id] += 1
    for code in wins:
        grant = snap.codes.get(code, ("", None))[0]
        if roots.get(grant, 0) > 1:
            violations.append(
                f"code {code[:12]}… has {roots[grant]} token families in the database"
            )
    return Check(
        "no code redeemed twice",
        not violations,
        f"{len(wins)} codes redeemed, {len(violations)} more than once",
        violations,
    )


def one_successor_each(entries: Sequence[Entry], snap: Snapshot, grace: float) -> Check:
    """At most one successful successor per refresh token. A second answer only by the grace
    rule: a retry within the window, the successor it displaces then retired (marked used or
    revoked) and never continued. In the database: no token has two successors that went on."""
    wins: dict[str, list[Entry]] = defaultdict(list)
    for e in entries:
        if e.op == "refresh" and e.ok:
            wins[e.ids["rt_in"]].append(e)
    violations, by_grace = [], 0
    for token, answered in wins.items():
        if len(answered) == 1:
            continue
        row = snap.tokens.get(token)
        answered.sort(key=lambda e: e.t1)
        displaced = [snap.tokens.get(e.ids["rt"]) for e in answered[:-1]]
        retired = all(
            t is not None
            and (t.rotated_at is not None or t.revoked_at is not None)
            and not _went_on(snap, e.ids["rt"])
            for t, e in zip(displaced, answered[:-1], strict=True)
        )
        in_window = (
            row is not None
            and row.rotated_at is not None
            and all(e.t0 <= row.rotated_at + grace + 0.5 for e in answered)
        )
        if grace > 0 and retired and in_window:
            by_grace += len(answered) - 1
        else:
            violations.append(f"refresh token {token[:12]}… answered {len(answered)} times")
    forks = 0
    for parent in {e.ids["rt_in"] for e in entries if e.op == "refresh"}:
        went_on = [c for c in snap.children.get(parent, []) if _went_on(snap, c)]
        if len(went_on) > 1:
            forks += 1
            violations.append(f"refresh token {parent[:12]}… has {len(went_on)} successors in use")
    return Check(
        "one successor per refresh token",
        not violations,
        f"{len(wins)} refresh tokens rotated, {by_grace} more answers by the grace rule, "
        f"{len(violations)} violations ({forks} forked families in the database)",
        violations,
    )


def _went_on(snap: Snapshot, token_hash: str) -> bool:
    """The successor was itself exchanged for a successor: its branch continued."""
    return bool(snap.children.get(token_hash))


def nothing_after_revocation(
    entries: Sequence[Entry], snap: Snapshot, revocations: Revocations
) -> Check:
    violations, attempts, at_resource = [], 0, 0
    for e in entries:
        if e.op in ("refresh", "code") and e.ids.get("rt_in", e.ids.get("code")):
            grant = snap.grant_of(e)
            since = revocations.grants.get(grant) if grant else None
            if since is not None and e.t0 > since:
                attempts += 1
                if e.ok:
                    violations.append(
                        f"{e.op} on {e.instance} {e.t0 - since:.2f} s after revocation"
                    )
        elif e.op == "introspect" and e.status == 200:
            grant = snap.grant_of(e)
            since = revocations.since(e)
            if since is None and grant:
                since = revocations.grants.get(grant)
            if since is not None and e.t0 > since:
                attempts += 1
                if e.note.get("active"):
                    violations.append(f"introspection active {e.t0 - since:.2f} s after revocation")
        elif e.op == "resource":
            since = revocations.since(e)
            if since is not None and e.t0 > since + PROPAGATION_BOUND:
                attempts += 1
                at_resource += 1
                if e.ok:
                    violations.append(
                        f"resource call on {e.instance} accepted {e.t0 - since:.2f} s after revocation"
                    )
    return Check(
        "nothing works after its revocation",
        not violations,
        f"{attempts} uses after revocation ({at_resource} at resource instances more than "
        f"{PROPAGATION_BOUND:.0f} s after), {len(violations)} accepted",
        violations,
    )


def propagation(entries: Sequence[Entry]) -> tuple[list[float], int]:
    """Delay from a revocation's answer to the first refusal, per watched token and instance."""
    first: dict[tuple[str, str], float] = {}
    watched: set[tuple[str, str]] = set()
    for e in entries:
        if "after_revoke" not in e.note:
            continue
        key = (e.ids["jti"], e.instance)
        watched.add(key)
        if e.status == 401 and key not in first:
            first[key] = max(0.0, e.t0 - float(e.note["after_revoke"]))
    return list(first.values()), len(watched) - len(first)


def no_5xx_outside(entries: Sequence[Entry], windows: Sequence[FaultWindow]) -> Check:
    bad = [e for e in entries if e.status is not None and e.status >= 500]
    outside = [e for e in bad if not overlaps(e, windows, FAULT_SLACK)]
    return Check(
        "no 5xx outside a fault window + 5 s",
        not outside,
        f"{len(bad)} 5xx answers, {len(outside)} outside fault windows",
        [f"{e.status} {e.op} on {e.instance} ({e.error})" for e in outside],
    )


def answered_outside(entries: Sequence[Entry], windows: Sequence[FaultWindow]) -> Check:
    """With nothing broken, every request gets an answer (a hang or a dropped connection is a bug)."""
    lost = [e for e in entries if e.status is None and not overlaps(e, windows, FAULT_SLACK)]
    return Check(
        "every request answered outside fault windows",
        not lost,
        f"{sum(1 for e in entries if e.status is None)} requests without an answer, "
        f"{len(lost)} outside fault windows",
        [f"{e.op} on {e.instance}: {e.error}" for e in lost],
    )


def valid_resource_calls(
    entries: Iterable[Entry], snap: Snapshot, revocations: Revocations
) -> list[Entry]:
    """Resource calls with tokens that were valid: unexpired, signed by a published key, and
    neither revoked nor in a family revoked before the answer."""
    calls = []
    for e in entries:
        if e.op != "resource" or "after_revoke" in e.note or e.note.get("probe"):
            continue
        if float(e.note.get("exp", 0)) <= e.t1:
            continue
        since = revocations.since(e)
        grant_revoked = snap.grants.get(e.ids.get("grant", ""))
        if (since is not None and since <= e.t1) or (
            grant_revoked is not None and grant_revoked <= e.t1
        ):
            continue
        calls.append(e)
    return calls


def resource_success(
    entries: Sequence[Entry],
    snap: Snapshot,
    revocations: Revocations,
    windows: Sequence[FaultWindow],
) -> Check:
    calls = valid_resource_calls(entries, snap, revocations)
    scope = "overall"
    if windows:
        calls = [e for e in calls if overlaps(e, windows, FAULT_SLACK)]
        scope = "during faults"
    ok = sum(1 for e in calls if e.ok)
    rate = ok / len(calls) if calls else 1.0
    failures = [f"{e.status or e.error} on {e.instance}" for e in calls if not e.ok]
    detail = f"{ok}/{len(calls)} = {rate * 100:.2f} % {scope}" if calls else "no such calls"
    return Check(
        "resource success for valid tokens >= 99.9 %", rate >= SUCCESS_TARGET, detail, failures
    )


def answered_are_durable(entries: Sequence[Entry], snap: Snapshot) -> Check:
    """Nothing acknowledged is lost: every refresh token a client received is in the database."""
    answered = [e for e in entries if e.op in ("code", "refresh") and e.ok]
    missing = [e for e in answered if e.ids["rt"] not in snap.tokens]
    return Check(
        "every token answered is in the database",
        not missing,
        f"{len(answered)} token responses, {len(missing)} missing from the database",
        [f"{e.op} on {e.instance} at {e.t1:.3f}" for e in missing],
    )


def invariants(
    entries: Sequence[Entry],
    snap: Snapshot,
    windows: Sequence[FaultWindow],
    *,
    grace: float,
    all_entries: Sequence[Entry],
) -> tuple[list[Check], Revocations]:
    """The issue's five invariants, and durability, for one scenario's entries."""
    revocations = Revocations.of(all_entries, snap)
    return [
        codes_redeemed_once(entries, snap),
        one_successor_each(entries, snap, grace),
        nothing_after_revocation(entries, snap, revocations),
        no_5xx_outside(entries, windows),
        answered_outside(entries, windows),
        resource_success(entries, snap, revocations, windows),
        answered_are_durable(entries, snap),
    ], revocations


def latency_summary(values: Sequence[float]) -> str:
    if not values:
        return "-"
    return (
        f"p50 {ms(statistics.median(values))}, p99 {ms(percentile(values, 0.99))}, "
        f"max {ms(max(values))}"
    )
