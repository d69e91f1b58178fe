"""A hand-driven monotonic clock for the throttle's in-memory counter store.

The store reads `time.monotonic`, which the app's `clock` does not move; tests that need a delay
to run out swap in a store on this clock instead of sleeping.
"""

from __future__ import annotations

from fastapi import FastAPI

from auth_service.throttling.counters import MemoryCounterStore


class ManualMonotonic:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def manual_throttle_clock(app: FastAPI) -> ManualMonotonic:
    """Give `app`'s throttle an empty in-memory store on a clock the test moves."""
    clock = ManualMonotonic()
    app.state.throttle.store = MemoryCounterStore(clock=clock)
    return clock
