"""A token bucket: how much work of one kind may be done now (pure: the caller says what time it is)."""

from __future__ import annotations


class Budget:
    """`rate` units a second, up to `burst` saved while idle."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._at: float | None = None

    def allow(self, wanted: int, now: float) -> int:
        """How many of `wanted` units may go now (those are spent)."""
        if self._at is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        granted = min(wanted, int(self._tokens))
        self._tokens -= granted
        return granted
