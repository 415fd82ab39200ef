"""The live windows in Redis: each device's last hour as minute buckets and last day as hour buckets.

Layout per device: one hash, expiring 24 h after the device's last batch:

    device:<id>:buckets      hash  end    µs of the newest reading applied (the idempotency mark)
                                   since  when the state was loaded from PostgreSQL
                                   m<minute>  the 60 minutes ending with end's minute
                                   h<hour>    the 24 hours ending with end's hour
                                   pm, km / ph, kh  the merge of the minutes / hours before end's own,
                                              and which minute / hour that was (a cache)
    system:minutes           hash  minute number → new readings in that minute (dataPointsLastHour)
    system:devices:seen      zset  device id → newest reading time, seconds (activeDevices)

A bucket is the centred moments of its readings — n, mean time, mean value, M2 of time and value, the
co-moment, min, max; time from the bucket's start (iotmon.core.stats) — packed as 60 bytes, so the
hash (≤ 90 fields, values ≤ 64 bytes) stays a listpack: ~ 7 kB per device, whatever the reading rate
(measured: tests/bench/windows.py; asserted: tests/integration/test_aggregate.py).

Windows are in event time, ending at the device's newest reading `end`, and bucket-aligned:
- 1 h: the 60 whole minutes ending with end's minute (windowStart minute-aligned, so 59 to 60
  minutes of data before end).
- 24 h: the 23 whole hours before end's hour and that hour up to end (windowStart hour-aligned).
Count, avg, std, slope, min and max are exact for both: the buckets' moments merged (Chan), nothing
subtracted, so no floating-point drift accumulates and no periodic re-base is needed. The merge of the
buckets before end's own minute (hour) is cached, so a batch merges two buckets per window; the cache
is redone when end's minute (hour) moves or a bucket before it is replaced. Medians need every value,
which Redis does not keep; the aggregate function takes them from PostgreSQL (functions/aggregate.py).

Idempotency: readings of a device arrive in order (ordered delivery, ingest forwards in order), so a
reading newer than `end` is new and is added to its minute and hour (Welford, in Lua: the check and the
update are atomic). One at or before `end` — redelivered, or late — changes nothing; its minute and hour
are reported, and the caller replaces those whole buckets with PostgreSQL's, up to `end` (`set_buckets`,
idempotent); that is exact because ingest commits readings before forwarding them. A replacement for a
state that moved on meanwhile is refused ({'moved'}) and the batch retried.

Rebuild (first sight, Redis flushed, or the hash evicted): `load` writes the 60 minute and 24 hour
buckets computed by PostgreSQL (iotmon.adapters.postgres.window_history) unless another process did first.
Every method is one pipelined round trip for all the devices it is given (one EVALSHA each).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from iotmon.adapters.redis.keys import STATS_TTL_S, WINDOWS
from iotmon.core.stats import Moments

MINUTE_US = 60_000_000
HOUR_US = 3_600_000_000
MINUTES_1H = WINDOWS["1h"] // 60  # 60 minute buckets
HOURS_24H = WINDOWS["24h"] // 3600  # 24 hour buckets
SYSTEM_MINUTES = "system:minutes"
DEVICES_SEEN = "system:devices:seen"
_BUCKET = struct.Struct("<I7d")  # as the scripts' '<I4ddddddd'


def own_keys(device_id: str) -> list[str]:
    """The device's own keys (not the shared system:* ones)."""
    return [f"device:{device_id}:buckets"]


def keys(device_id: str) -> list[str]:
    """The scripts' KEYS."""
    return [*own_keys(device_id), SYSTEM_MINUTES, DEVICES_SEEN]


def hour_start_us(end_us: int) -> int:
    """Where the 1 h window of a device whose newest reading is at end_us starts."""
    return (end_us // MINUTE_US - MINUTES_1H + 1) * MINUTE_US


def day_start_us(end_us: int) -> int:
    """Where the 24 h window starts."""
    return (end_us // HOUR_US - HOURS_24H + 1) * HOUR_US


# The scripts (scripts/*.lua), each with the shared functions in front: Lua runs atomically in Redis,
# so the idempotency check (against `end`) and the updates it guards cannot be split by another writer.
_SCRIPTS = Path(__file__).with_name("scripts")
_COMMON = (_SCRIPTS / "live_windows_common.lua").read_text()
_APPLY, _SET_BUCKETS, _LOAD = (
    _COMMON + (_SCRIPTS / f"live_windows_{name}.lua").read_text() for name in ("apply", "set_buckets", "load")
)


@dataclass(frozen=True, slots=True)
class Window:
    """One device's windows after a batch, as the scripts report them."""

    end_us: int
    added: int
    hour: Moments  # time in seconds from the start of end's minute
    day: Moments  # time in seconds from the start of end's hour
    late_minutes: tuple[int, ...] = ()
    late_hours: tuple[int, ...] = ()

    @property
    def hour_start_us(self) -> int:
        return hour_start_us(self.end_us)

    @property
    def day_start_us(self) -> int:
        return day_start_us(self.end_us)


def pack(b: Moments) -> bytes:
    return _BUCKET.pack(int(b.n), b.mean_t, b.mean_v, b.m2_t, b.m2_v, b.c_tv, b.min, b.max)


def _moments(fields: Sequence[bytes | str]) -> Moments:
    n = int(float(fields[0]))
    if n == 0:
        return Moments()
    mean_t, mean_v, m2_t, m2_v, c_tv, low, high = (float(x) for x in fields[1:8])
    return Moments(n, mean_t, mean_v, m2_t, m2_v, c_tv, low, high)


class Moved(RuntimeError):
    """A device's windows moved on while its buckets were recomputed: the batch is to be retried."""


def _window(reply: list[Any]) -> Window | None:
    status = reply[0].decode() if isinstance(reply[0], bytes) else reply[0]
    if status in ("rebuild", "exists"):
        return None
    if status == "moved":
        raise Moved("live windows moved on while buckets were recomputed; retry")
    late = int(reply[19])
    return Window(
        end_us=int(reply[1]),
        added=int(reply[2]),
        hour=_moments(reply[3:11]),
        day=_moments(reply[11:19]),
        late_minutes=tuple(int(x) for x in reply[20 : 20 + late]),
        late_hours=tuple(int(x) for x in reply[20 + late :]),
    )


class LiveWindows:
    """Reads and writes the live windows; every method is one pipelined round trip."""

    def __init__(self, client: redis.Redis, ttl_s: int = STATS_TTL_S) -> None:
        self.redis = client
        self.ttl_s = ttl_s
        self._apply = client.register_script(_APPLY)
        self._set_buckets = client.register_script(_SET_BUCKETS)
        self._load = client.register_script(_LOAD)

    def apply(self, readings: Mapping[str, Sequence[tuple[int, float]]]) -> dict[str, Window | None]:
        """Add each device's (µs, value) readings, oldest first; None for a device whose state must be loaded."""
        pipe = self.redis.pipeline(transaction=False)
        for device, items in readings.items():
            args: list[str | int] = [device, self.ttl_s]
            for us, value in items:
                args.append(us)
                args.append(repr(float(value)))
            self._apply(keys=keys(device), args=args, client=pipe)
        return {device: _window(reply) for device, reply in zip(readings, pipe.execute(), strict=True)}

    def set_buckets(
        self, buckets: Mapping[str, tuple[int, Mapping[tuple[str, int], Moments | None]]]
    ) -> dict[str, Window | None]:
        """Replace whole buckets, device → (the end they were computed up to, (kind 'm' or 'h', number) → moments,
        None for no readings); raises Moved if a device's windows moved past that end meanwhile."""
        pipe = self.redis.pipeline(transaction=False)
        for device, (end_us, chosen) in buckets.items():
            args: list[str | int | bytes] = [device, self.ttl_s, end_us]
            for (kind, number), b in sorted(chosen.items()):
                args += [kind, number, pack(b) if b is not None and b.n else "-"]
            self._set_buckets(keys=keys(device), args=args, client=pipe)
        return {device: _window(reply) for device, reply in zip(buckets, pipe.execute(), strict=True)}

    def load(
        self,
        snapshots: Mapping[str, tuple[int, Mapping[int, Moments], Mapping[int, Moments]]],
        since: str,
    ) -> dict[str, Window | None]:
        """Load each device's state, device → (end µs, minute → moments, hour → moments), unless another process
        did it first (then None: apply again)."""
        pipe = self.redis.pipeline(transaction=False)
        for device, (end_us, minutes, hours) in snapshots.items():
            args: list[str | int | bytes] = [device, self.ttl_s, since, end_us]
            for minute, b in minutes.items():
                args += [f"m{minute}", pack(b)]
            for hour, b in hours.items():
                args += [f"h{hour}", pack(b)]
            self._load(keys=keys(device), args=args, client=pipe)
        return {device: _window(reply) for device, reply in zip(snapshots, pipe.execute(), strict=True)}
