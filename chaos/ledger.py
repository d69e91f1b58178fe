"""Every request the suite makes, with what it carried and what came back, and the fault windows."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# httpx failures after which the server may have processed the request (it was sent);
# anything else without an answer (a refused connection) never reached a server.
NOT_SENT = ("ConnectError", "ConnectTimeout", "PoolTimeout")


@dataclass(slots=True)
class Entry:
    t0: float  # wall clock (time.time()), comparable with the database's timestamps
    t1: float
    scenario: str
    instance: str
    op: str
    status: int | None  # None: no answer
    error: str | None = None  # the OAuth error code, or the httpx exception without an answer
    ids: dict[str, str] = field(default_factory=dict)
    note: dict[str, Any] = field(default_factory=dict)

    @property
    def latency(self) -> float:
        return self.t1 - self.t0

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def unanswered(self) -> bool:
        """Sent, and no answer: the server may or may not have done the work."""
        return self.status is None and self.error not in NOT_SENT


@dataclass(frozen=True, slots=True)
class FaultWindow:
    scenario: str
    kind: str
    start: float
    end: float


@dataclass
class Ledger:
    entries: list[Entry] = field(default_factory=list)
    windows: list[FaultWindow] = field(default_factory=list)

    def add(self, entry: Entry) -> None:
        self.entries.append(entry)

    def declare(self, window: FaultWindow) -> None:
        self.windows.append(window)

    def of(self, scenario: str, *ops: str) -> Iterator[Entry]:
        for entry in self.entries:
            if entry.scenario == scenario and (not ops or entry.op in ops):
                yield entry

    def windows_of(self, scenario: str) -> list[FaultWindow]:
        return [w for w in self.windows if w.scenario == scenario]

    def dump(self, path: Path) -> None:
        with path.open("w") as out:
            for window in self.windows:
                out.write(json.dumps({"window": asdict(window)}) + "\n")
            for entry in self.entries:
                out.write(json.dumps(asdict(entry)) + "\n")


def overlaps(entry: Entry, windows: Iterable[FaultWindow], after: float = 0.0) -> bool:
    """Whether the request was in flight at some point of a window (extended by `after`)."""
    return any(entry.t0 <= w.end + after and entry.t1 >= w.start for w in windows)
