"""The live windows in Redis: each device's last hour of readings and last day of minute buckets.

Layout per device (all but the marker expire 24 h after the device's last batch):

    device:<id>:w1h:t        zset  member = reading time in µs since the epoch, score = the same
                                   (the idempotency key: ZADD NX says whether a reading is new)
    device:<id>:w1h:v        zset  member = reading time in µs, score = value (min, max, median by rank)
    device:<id>:w24h:b       hash  minute number → "n mean_t mean_v m2_t m2_v c_tv min max"
                                   (centred moments, time from the minute's start; see iotmon.core.stats)
    device:<id>:w24h:lo/:hi  zset  minute number → that bucket's min / max (24 h min and max by rank)
    device:<id>:window       hash  end (µs of the newest reading), origin (µs), first (oldest minute kept),
                                   and the running moments of both windows (a_* for 1 h, d_* for 24 h)
    device:<id>:window:since string the rebuild marker: when this state was loaded from PostgreSQL;
                                   expires after `marker_ttl_s` (6 h), which re-bases the running
                                   moments from PostgreSQL and bounds floating-point drift
    system:minutes           hash  minute number → new readings in that minute (dataPointsLastHour)
    system:devices:seen      zset  device id → newest reading time, seconds (activeDevices)

Windows are in event time, ending at the device's newest reading `end`:
- 1 h: the readings with end − 3600 s < t ≤ end, kept raw, so every statistic is exact (count, avg,
  std, slope from running moments; min, max and median by rank in the value zset).
- 24 h: the 1440 whole minutes ending with end's minute, so windowStart is minute-aligned. Count,
  avg, std, slope are exact (merged bucket moments), min and max exact (extremes of the buckets).
  The exact median needs every value of the day, which is not bounded at high rates, so Redis does
  not keep it; the aggregate function computes it in PostgreSQL (see functions/aggregate.py).

Memory per device is bounded: 3 entries per reading of the last hour (~ 100–150 bytes each) plus at
most 1440 buckets (~ 150 bytes each): ~ 0.8 MB at the fastest seed device's rate (1 reading/s), and
rate × 3600 × ~ 130 bytes + ~ 220 kB in general.

Idempotency: a reading changes the windows only when ZADD NX adds its time (Lua, so the check and
the updates are atomic). A reading older than the 1 h window cannot be checked that way; it is
reported as a late minute and the caller replaces that whole minute's bucket with one recomputed
from PostgreSQL (`set_buckets`), which is idempotent too. One batch costs one round trip for all
its devices (one EVALSHA per device, pipelined).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from iotmon.adapters.redis.keys import STATS_TTL_S, WINDOWS
from iotmon.core.stats import Moments, merge_all, moments

MINUTE_US = 60_000_000
WINDOW_1H_US = WINDOWS["1h"] * 1_000_000
MINUTES_24H = WINDOWS["24h"] // 60
MARKER_TTL_S = 6 * 3600
SYSTEM_MINUTES = "system:minutes"
DEVICES_SEEN = "system:devices:seen"


def keys(device_id: str) -> list[str]:
    base = f"device:{device_id}"
    return [
        f"{base}:w1h:t",
        f"{base}:w1h:v",
        f"{base}:w24h:b",
        f"{base}:w24h:lo",
        f"{base}:w24h:hi",
        f"{base}:window",
        f"{base}:window:since",
        SYSTEM_MINUTES,
        DEVICES_SEEN,
    ]


# The scripts (scripts/*.lua), each with the shared functions in front: Lua runs atomically in Redis,
# so the idempotency check (ZADD NX) and the updates it guards cannot be split by another writer.
_SCRIPTS = Path(__file__).with_name("scripts")
_COMMON = (_SCRIPTS / "live_windows_common.lua").read_text()
_APPLY, _SET_BUCKETS, _LOAD = (
    _COMMON + (_SCRIPTS / f"live_windows_{name}.lua").read_text() for name in ("apply", "set_buckets", "load")
)

# --- Python side -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    """One device's windows after a batch, as the scripts report them."""

    end_us: int
    origin_us: int
    first_minute: int
    added: int
    hour: Moments  # time in seconds from origin
    median_hour: float | None
    day: Moments  # time in seconds from origin
    late_minutes: tuple[int, ...]

    @property
    def day_start_us(self) -> int:
        return self.first_minute * MINUTE_US


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a rebuild loads for one device: the last hour raw and the day's minute buckets."""

    end_us: int
    raw: Sequence[tuple[int, float]]  # (µs, value), the readings of (end − 1 h, end]
    buckets: Mapping[int, Moments]  # minute → moments with time from the minute's start
    first_minute: int


def pack(b: Moments) -> str:
    return " ".join(
        repr(float(x)) if i else str(int(x))
        for i, x in enumerate((b.n, b.mean_t, b.mean_v, b.m2_t, b.m2_v, b.c_tv, b.min, b.max))
    )


def _float(x: bytes | str | None) -> float | None:
    return float(x) if x not in (None, b"", "") else None


def _moments(fields: Sequence[bytes | str], low: float | None, high: float | None) -> Moments:
    n = int(float(fields[0]))
    if n == 0:
        return Moments()
    mean_t, mean_v, m2_t, m2_v, c_tv = (float(x) for x in fields[1:6])
    nan = float("nan")
    return Moments(n, mean_t, mean_v, m2_t, m2_v, c_tv, nan if low is None else low, nan if high is None else high)


def _window(reply: list[Any]) -> Window | None:
    if reply[0] in (b"rebuild", "rebuild"):
        return None
    end, origin, first, added = int(float(reply[1])), int(float(reply[2])), int(float(reply[3])), int(reply[4])
    low1, high1, mid_low, mid_high = (_float(x) for x in reply[11:15])
    hour = _moments(reply[5:11], low1, high1)
    day = _moments(reply[15:21], _float(reply[21]), _float(reply[22]))
    median = (mid_low + mid_high) / 2 if mid_low is not None and mid_high is not None else None
    return Window(end, origin, first, added, hour, median, day, tuple(int(x) for x in reply[23:]))


class LiveWindows:
    """Reads and writes the live windows; every method is one pipelined round trip."""

    def __init__(self, client: redis.Redis, marker_ttl_s: int = MARKER_TTL_S, ttl_s: int = STATS_TTL_S) -> None:
        self.redis = client
        self.marker_ttl_s = marker_ttl_s
        self.ttl_s = ttl_s
        self._apply = client.register_script(_APPLY)
        self._set_buckets = client.register_script(_SET_BUCKETS)
        self._load = client.register_script(_LOAD)

    def apply(self, readings: Mapping[str, Sequence[tuple[int, float]]]) -> dict[str, Window | None]:
        """Add each device's (µs, value) readings; None for a device whose state must be rebuilt first."""
        pipe = self.redis.pipeline(transaction=False)
        for device, items in readings.items():
            args: list[str | int] = [device, self.ttl_s, MINUTES_24H]
            for us, value in items:
                args.append(us)
                args.append(repr(float(value)))
            self._apply(keys=keys(device), args=args, client=pipe)
        return {device: _window(reply) for device, reply in zip(readings, pipe.execute(), strict=True)}

    def set_buckets(self, buckets: Mapping[str, Mapping[int, Moments | None]]) -> dict[str, Window | None]:
        """Replace whole minute buckets (recomputed elsewhere); None means the minute has no readings."""
        pipe = self.redis.pipeline(transaction=False)
        for device, minutes in buckets.items():
            args: list[str | int] = [device, self.ttl_s]
            for minute, b in sorted(minutes.items()):
                args += [minute, pack(b) if b is not None and b.n else "-"]
            self._set_buckets(keys=keys(device), args=args, client=pipe)
        return {device: _window(reply) for device, reply in zip(buckets, pipe.execute(), strict=True)}

    def load(self, snapshots: Mapping[str, Snapshot], since: str) -> dict[str, bool]:
        """Replace each device's state with a snapshot, unless another process did it first (marker set)."""
        pipe = self.redis.pipeline(transaction=False)
        for device, snap in snapshots.items():
            origin = snap.end_us  # time near 0 for the newest readings: best conditioned for the 1 h window
            times = [(us - origin) / 1e6 for us, _ in snap.raw]
            hour = moments(times, [v for _, v in snap.raw])
            day = merge_all(b.shifted((m * MINUTE_US - origin) / 1e6) for m, b in snap.buckets.items())
            args: list[str | int] = [
                device,
                self.ttl_s,
                self.marker_ttl_s,
                since,
                snap.end_us,
                origin,
                snap.first_minute,
            ]
            args += [repr(float(x)) for x in (hour.n, hour.mean_t, hour.mean_v, hour.m2_t, hour.m2_v, hour.c_tv)]
            args += [repr(float(x)) for x in (day.n, day.mean_t, day.mean_v, day.m2_t, day.m2_v, day.c_tv)]
            args.append(len(snap.raw))
            for us, value in snap.raw:
                args += [us, repr(float(value))]
            for minute, b in snap.buckets.items():
                args += [minute, pack(b)]
            self._load(keys=keys(device), args=args, client=pipe)
        return {device: bool(reply) for device, reply in zip(snapshots, pipe.execute(), strict=True)}
