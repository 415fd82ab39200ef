"""How many events each Socket.IO connection may send: a token bucket per connection.

The dashboard sends a handful of events as it connects (`subscribe-system`,
`subscribe-alerts`, one `subscribe-device` per device it shows) and almost
nothing afterwards, so the burst covers a reconnect with a large device list
and the rate is far above anything a person clicking can cause. An event over
the limit is refused; a connection that goes on sending while refused, never
pausing long enough for its bucket to fill again, is flooding and is
disconnected.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass

EVENTS_PER_S = 20.0
BURST = 200  # events at once: a reconnecting dashboard sends two plus one per device it shows
REFUSED_BEFORE_DISCONNECT = 40  # refused events without a pause that fills the bucket again


class Verdict(enum.Enum):
    ALLOWED = "allowed"
    REFUSED = "refused"
    FLOODING = "flooding"


@dataclass
class _Bucket:
    tokens: float
    at: float
    refused: int = 0


class EventLimiter:
    """The token buckets of one replica's connections; a connection's bucket goes when it disconnects."""

    def __init__(
        self,
        rate: float = EVENTS_PER_S,
        burst: int = BURST,
        refused_before_disconnect: int = REFUSED_BEFORE_DISCONNECT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.refused_before_disconnect = refused_before_disconnect
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, sid: str) -> Verdict:
        """Whether the connection may send one more event now."""
        now = self.clock()
        bucket = self._buckets.setdefault(sid, _Bucket(float(self.burst), now))
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens >= self.burst:
            bucket.refused = 0  # it paused: what it was refused before is forgiven
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return Verdict.ALLOWED
        bucket.refused += 1
        return Verdict.FLOODING if bucket.refused > self.refused_before_disconnect else Verdict.REFUSED

    def forget(self, sid: str) -> None:
        self._buckets.pop(sid, None)

    def __contains__(self, sid: object) -> bool:
        """Whether the connection `sid` is followed."""
        return sid in self._buckets
