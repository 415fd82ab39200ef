"""How long failed logins make the next attempt wait (pure).

Failures are counted per username and per client address. The first few of
each are free (people mistype); after that every failure doubles the wait
before the next attempt is even checked, up to a cap. A guesser gets a few
dozen tries an hour per name, while a person who mistyped waits seconds.
Addresses get more free failures than names: many people can share one (NAT).
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_WAIT_S = 15 * 60
FORGET_AFTER_S = 3600  # failures older than this (since the last one) are forgotten


@dataclass(frozen=True, slots=True)
class Schedule:
    free: int  # failures before any wait

    def wait_s(self, failures: int) -> int:
        """Seconds to wait after the last of `failures` failures before the next attempt is checked."""
        if failures < self.free:
            return 0
        return min(MAX_WAIT_S, int(2 ** (failures - self.free)))


PER_USERNAME = Schedule(free=5)
PER_ADDRESS = Schedule(free=20)


def retry_after(failures: int, last_failure: float, now: float, schedule: Schedule) -> int:
    """Seconds until an attempt is allowed (0: now)."""
    remaining = last_failure + schedule.wait_s(failures) - now
    return max(0, int(remaining + 0.999))
