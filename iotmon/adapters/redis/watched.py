"""Which devices somebody is watching live: aggregate sends `sensor-data` only for those.

At 10,000 devices a reading a second, publishing every reading to Socket.IO
would cost more than storing it, for rooms nobody is in. Each service replica
marks the devices its clients subscribed to in a sorted set, scored by when the
mark lapses, and renews the marks of its rooms every `RENEW_S`; a replica that
dies stops renewing, so its marks lapse by themselves. Aggregate reads the set
at most every `READ_EVERY_S`, so a new subscriber's first live reading comes
that late at worst (it gets the current value at once from the service).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import redis

WATCHED = "live:watched"
MARK_S = 60.0  # a mark lasts this long unless renewed
RENEW_S = 20.0  # how often a replica renews its rooms' marks
READ_EVERY_S = 1.0


def marks(devices: Iterable[str], now_s: float) -> dict[str, float]:
    """ZADD's mapping: each device watched until `now_s + MARK_S`."""
    return dict.fromkeys(devices, now_s + MARK_S)


class WatchedDevices:
    """The devices watched now, read from Redis at most every `READ_EVERY_S` (one process's cache)."""

    def __init__(self, client: redis.Redis, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.clock = clock
        self._devices: frozenset[str] = frozenset()
        self._read_at = float("-inf")

    def now(self) -> frozenset[str]:
        now_s = self.clock()
        if now_s - self._read_at >= READ_EVERY_S:
            found: list[bytes] = self.client.zrangebyscore(WATCHED, now_s, "+inf")  # type: ignore[assignment]
            self._devices = frozenset(member.decode() for member in found)
            self._read_at = now_s
        return self._devices
