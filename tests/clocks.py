"""A deterministic timer for tests: time moves only when the timed code says so."""

from __future__ import annotations


class FakeClock:
    """A ``workbench.timers`` plugin whose time advances by ``advance(seconds)``."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
