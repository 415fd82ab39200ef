"""When to recompute an hourly rollup (pure): a past hour at once, the current one at most every interval.

A (device, hour) skipped because it was recomputed recently is remembered and
recomputed once its hour is over (by the next batch), so each hour ends up final.
With a budget (recomputes a second), the hours that are over and the current
hours due go within it, the finished ones first, then the current hours never
done, then the stalest: a recompute reads the hour's readings (3,600 at one a
second), so a fleet's current hours every ten seconds would cost PostgreSQL
more than the readings themselves. A late reading's past hour still goes at once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from iotmon.core.budget import Budget

Pair = tuple[str, int]  # (device, hour number since the epoch)


class RollupSchedule:
    def __init__(self, interval_s: float, budget: Budget | None = None) -> None:
        self.interval_s = interval_s
        self.budget = budget
        self._rolled: dict[Pair, float] = {}  # when each pair of the last hours was recomputed
        self._pending: set[Pair] = set()  # skipped, to do once their hour is over

    def due(self, touched: Iterable[Pair], current_hour: int, now: float) -> list[Pair]:
        """The pairs to recompute now, given the pairs a batch touched; remembers them as done."""
        due: set[Pair] = set()
        stale: set[Pair] = set()  # the current hour's, not done within the interval
        for pair in touched:
            if pair[1] < current_hour:
                due.add(pair)
            elif now - self._rolled.get(pair, -math.inf) >= self.interval_s:
                stale.add(pair)
            else:
                self._pending.add(pair)
        over = sorted(pair for pair in self._pending - due if pair[1] < current_hour)
        candidates = over + sorted(stale, key=lambda pair: self._rolled.get(pair, -math.inf))
        allowed = len(candidates) if self.budget is None else self.budget.allow(len(candidates), now)
        due.update(candidates[:allowed])
        self._pending.update(candidates[allowed:])
        self._pending -= due
        for pair in due:
            self._rolled[pair] = now
        for pair in [p for p in self._rolled if p[1] < current_hour - 1]:
            del self._rolled[pair]
        return sorted(due)
