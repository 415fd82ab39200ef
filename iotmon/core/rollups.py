"""When to recompute an hourly rollup (pure): a past hour at once, the current one at most every interval.

A (device, hour) skipped because it was recomputed recently is remembered and
recomputed once its hour is over (by the next batch), so each hour ends up final.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

Pair = tuple[str, int]  # (device, hour number since the epoch)


class RollupSchedule:
    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._rolled: dict[Pair, float] = {}  # when each pair of the last hours was recomputed
        self._pending: set[Pair] = set()  # skipped, to do once their hour is over

    def due(self, touched: Iterable[Pair], current_hour: int, now: float) -> list[Pair]:
        """The pairs to recompute now, given the pairs a batch touched; remembers them as done."""
        due = {pair for pair in self._pending if pair[1] < current_hour}
        for pair in touched:
            if pair[1] < current_hour or now - self._rolled.get(pair, -math.inf) >= self.interval_s:
                due.add(pair)
            else:
                self._pending.add(pair)
        self._pending -= due
        for pair in due:
            self._rolled[pair] = now
        for pair in [p for p in self._rolled if p[1] < current_hour - 1]:
            del self._rolled[pair]
        return sorted(due)
