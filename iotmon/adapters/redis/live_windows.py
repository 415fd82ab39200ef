"""The live windows in Redis: each device's last hour of readings and last day of minute buckets.

Layout per device (all but the marker expire 24 h after the device's last batch):

    device:<id>:w1h:t        zset  member = reading time in µs since the epoch, score = the same
                                   (the idempotency key: ZADD NX says whether a reading is new)
    device:<id>:w1h:v        zset  member = reading time in µs, score = value (min, max, median by rank)
    device:<id>:w24h:b       hash  minute number → "n mean_t mean_v m2_t m2_v c_tv min max"
                                   (centred moments, time from the minute's start; see iotmon.stats)
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
most 1440 buckets (~ 150 bytes each): ~ 0.8 MB at the seed's fastest rate (1 reading/s), and
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


def marker(device_id: str) -> str:
    return f"device:{device_id}:window:since"


# --- Lua -------------------------------------------------------------------------------------------

_COMMON = r"""
local function fmt(x) return string.format('%.17g', x) end
local function zero(m) for i = 1, 6 do m[i] = 0 end end
local function add(m, t, v)
  local n = m[1] + 1
  local dt, dv = t - m[2], v - m[3]
  local mt, mv = m[2] + dt / n, m[3] + dv / n
  m[4] = m[4] + dt * (t - mt)
  m[5] = m[5] + dv * (v - mv)
  m[6] = m[6] + dt * (v - mv)
  m[1], m[2], m[3] = n, mt, mv
end
local function remove(m, t, v)
  local n = m[1] - 1
  if n <= 0 then zero(m) return end
  local mt, mv = (m[1] * m[2] - t) / n, (m[1] * m[3] - v) / n
  m[4] = m[4] - (t - mt) * (t - m[2])
  m[5] = m[5] - (v - mv) * (v - m[3])
  m[6] = m[6] - (t - mt) * (v - m[3])
  m[1], m[2], m[3] = n, mt, mv
end
-- b: {n, mean_t (shifted to the window origin), mean_v, m2_t, m2_v, c_tv}
local function merge(m, b)
  if b[1] == 0 then return end
  if m[1] == 0 then for i = 1, 6 do m[i] = b[i] end return end
  local n = m[1] + b[1]
  local dt, dv, w = b[2] - m[2], b[3] - m[3], m[1] * b[1] / n
  m[2], m[3] = m[2] + dt * b[1] / n, m[3] + dv * b[1] / n
  m[4] = m[4] + b[4] + dt * dt * w
  m[5] = m[5] + b[5] + dv * dv * w
  m[6] = m[6] + b[6] + dt * dv * w
  m[1] = n
end
local function unmerge(m, b)
  local n = m[1] - b[1]
  if n <= 0 then zero(m) return end
  local mt, mv = (m[1] * m[2] - b[1] * b[2]) / n, (m[1] * m[3] - b[1] * b[3]) / n
  local dt, dv, w = b[2] - mt, b[3] - mv, n * b[1] / m[1]
  m[4] = m[4] - b[4] - dt * dt * w
  m[5] = m[5] - b[5] - dv * dv * w
  m[6] = m[6] - b[6] - dt * dv * w
  m[1], m[2], m[3] = n, mt, mv
end
local function parse(s)
  local b = {}
  for x in string.gmatch(s, '%S+') do b[#b + 1] = tonumber(x) end
  return b
end
local function pack(b)
  return table.concat({b[1], fmt(b[2]), fmt(b[3]), fmt(b[4]), fmt(b[5]), fmt(b[6]), fmt(b[7]), fmt(b[8])}, ' ')
end
-- a bucket's moments with time measured from the window origin
local function shifted(b, minute, origin)
  return {b[1], b[2] + (minute * 60000000 - origin) / 1e6, b[3], b[4], b[5], b[6]}
end
local STATE = {'end', 'origin', 'first', 'a_n', 'a_mt', 'a_mv', 'a_m2t', 'a_m2v', 'a_ctv',
               'd_n', 'd_mt', 'd_mv', 'd_m2t', 'd_m2v', 'd_ctv'}
local function save(e, origin, first, a, d)
  local values = {e, origin, first}
  for i = 1, 6 do values[#values + 1] = fmt(a[i]) end
  for i = 1, 6 do values[#values + 1] = fmt(d[i]) end
  local args = {}
  for i = 1, #STATE do args[#args + 1] = STATE[i]; args[#args + 1] = values[i] end
  redis.call('HSET', KEYS[6], unpack(args))
end
local function expire(ttl)
  for i = 1, 6 do redis.call('EXPIRE', KEYS[i], ttl) end
end
local function score(key, rank)
  local r = redis.call('ZRANGE', key, rank, rank, 'WITHSCORES')
  return r[2] or ''
end
local function report(e, origin, first, a, d, added, late)
  local n1 = redis.call('ZCARD', KEYS[2])
  local out = {'ok', fmt(e), fmt(origin), fmt(first), added}
  for i = 1, 6 do out[#out + 1] = fmt(a[i]) end
  out[#out + 1] = score(KEYS[2], 0)
  out[#out + 1] = score(KEYS[2], -1)
  out[#out + 1] = score(KEYS[2], math.floor((n1 - 1) / 2))
  out[#out + 1] = score(KEYS[2], math.floor(n1 / 2))
  for i = 1, 6 do out[#out + 1] = fmt(d[i]) end
  out[#out + 1] = score(KEYS[4], 0)
  out[#out + 1] = score(KEYS[5], -1)
  for i = 1, #late do out[#out + 1] = late[i] end
  return out
end
local function load_state()
  if redis.call('EXISTS', KEYS[7]) == 0 then return nil end
  local s = redis.call('HMGET', KEYS[6], unpack(STATE))
  if not s[1] then return nil end
  local a, d = {}, {}
  for i = 1, 6 do a[i] = tonumber(s[3 + i]); d[i] = tonumber(s[9 + i]) end
  return tonumber(s[1]), tonumber(s[2]), tonumber(s[3]), a, d
end
"""

# KEYS: see keys(). ARGV: device id, ttl, minutes in 24 h, then (µs, value) pairs.
_APPLY = (
    _COMMON
    + r"""
local e, origin, first, a, d = load_state()
if not e then return {'rebuild'} end
local ttl, nmin = ARGV[2], tonumber(ARGV[3])
local newend = e
for i = 4, #ARGV, 2 do
  local us = tonumber(ARGV[i])
  if us > newend then newend = us end
end
local cut = newend - 3600000000
local lowmin = math.floor(newend / 60000000) - nmin + 1

-- the 1 h window loses what is now older than an hour
if newend > e then
  local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', fmt(cut))
  for start = 1, #old, 1000 do
    local chunk = {}
    for i = start, math.min(start + 999, #old) do chunk[#chunk + 1] = old[i] end
    local values = redis.call('ZMSCORE', KEYS[2], unpack(chunk))
    for i = 1, #chunk do
      if values[i] then remove(a, (tonumber(chunk[i]) - origin) / 1e6, tonumber(values[i])) end
    end
    redis.call('ZREM', KEYS[2], unpack(chunk))
  end
  if #old > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', fmt(cut)) end
end

-- the 24 h window loses the minutes now older than a day
if lowmin > first then
  local expired = {}
  if lowmin - first > 2 * nmin then
    for _, m in ipairs(redis.call('HKEYS', KEYS[3])) do
      if tonumber(m) < lowmin then expired[#expired + 1] = m end
    end
  else
    for m = first, lowmin - 1 do expired[#expired + 1] = tostring(m) end
  end
  for _, m in ipairs(expired) do
    local packed = redis.call('HGET', KEYS[3], m)
    if packed then
      unmerge(d, shifted(parse(packed), tonumber(m), origin))
      redis.call('HDEL', KEYS[3], m)
      redis.call('ZREM', KEYS[4], m)
      redis.call('ZREM', KEYS[5], m)
    end
  end
  first = lowmin
end

-- new readings
local added, late, seen_late, buckets = 0, {}, {}, {}
for i = 4, #ARGV, 2 do
  local us, v = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  local m = math.floor(us / 60000000)
  if us > cut then
    if redis.call('ZADD', KEYS[1], 'NX', ARGV[i], ARGV[i]) == 1 then
      redis.call('ZADD', KEYS[2], ARGV[i + 1], ARGV[i])
      local t = (us - origin) / 1e6
      add(a, t, v)
      add(d, t, v)
      local b = buckets[m]
      if not b then
        local packed = redis.call('HGET', KEYS[3], m)
        b = packed and parse(packed) or {0, 0, 0, 0, 0, 0, v, v}
        buckets[m] = b
      end
      add(b, (us - m * 60000000) / 1e6, v)
      if v < b[7] then b[7] = v end
      if v > b[8] then b[8] = v end
      redis.call('HINCRBY', KEYS[8], m, 1)
      added = added + 1
    end
  elseif m >= lowmin and not seen_late[m] then
    seen_late[m] = true
    late[#late + 1] = m
  end
end
for m, b in pairs(buckets) do
  redis.call('HSET', KEYS[3], m, pack(b))
  redis.call('ZADD', KEYS[4], fmt(b[7]), m)
  redis.call('ZADD', KEYS[5], fmt(b[8]), m)
end
save(fmt(newend), fmt(origin), first, a, d)
expire(ttl)
redis.call('ZADD', KEYS[9], 'GT', fmt(newend / 1e6), ARGV[1])
return report(newend, origin, first, a, d, added, late)
"""
)

# ARGV: device id, ttl, then (minute, packed bucket or '-' for none) pairs.
_SET_BUCKETS = (
    _COMMON
    + r"""
local e, origin, first, a, d = load_state()
if not e then return {'rebuild'} end
for i = 3, #ARGV, 2 do
  local m = tonumber(ARGV[i])
  if m >= first then
    local old = redis.call('HGET', KEYS[3], ARGV[i])
    if old then unmerge(d, shifted(parse(old), m, origin)) end
    if ARGV[i + 1] == '-' then
      redis.call('HDEL', KEYS[3], ARGV[i])
      redis.call('ZREM', KEYS[4], ARGV[i])
      redis.call('ZREM', KEYS[5], ARGV[i])
    else
      local b = parse(ARGV[i + 1])
      merge(d, shifted(b, m, origin))
      redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
      redis.call('ZADD', KEYS[4], fmt(b[7]), ARGV[i])
      redis.call('ZADD', KEYS[5], fmt(b[8]), ARGV[i])
    end
  end
end
save(fmt(e), fmt(origin), first, a, d)
expire(ARGV[2])
return report(e, origin, first, a, d, 0, {})
"""
)

# ARGV: device id, ttl, marker ttl, since, end µs, origin µs, first minute, a (6), d (6),
#       raw count, raw (µs, value) pairs, then (minute, packed bucket) pairs.
_LOAD = (
    _COMMON
    + r"""
if redis.call('EXISTS', KEYS[7]) == 1 then return 0 end
-- no state at all (first sight, or Redis lost it): the loaded readings count as new in system:minutes;
-- a re-base (the marker expired, the state is there) has counted them already
local fresh = redis.call('EXISTS', KEYS[6]) == 0
for i = 1, 6 do redis.call('DEL', KEYS[i]) end
local a, d = {}, {}
for i = 1, 6 do a[i] = tonumber(ARGV[7 + i]); d[i] = tonumber(ARGV[13 + i]) end
local nraw = tonumber(ARGV[20])
local i = 21
local stop = i + 2 * nraw
while i < stop do
  local tz, vz = {}, {}
  local last = math.min(i + 1999, stop - 1)
  for j = i, last, 2 do
    tz[#tz + 1] = ARGV[j]; tz[#tz + 1] = ARGV[j]
    vz[#vz + 1] = ARGV[j + 1]; vz[#vz + 1] = ARGV[j]
  end
  redis.call('ZADD', KEYS[1], unpack(tz))
  redis.call('ZADD', KEYS[2], unpack(vz))
  i = last + 1
end
if fresh then
  local per_minute = {}
  for j = 21, stop - 1, 2 do
    local m = math.floor(tonumber(ARGV[j]) / 60000000)
    per_minute[m] = (per_minute[m] or 0) + 1
  end
  for m, count in pairs(per_minute) do redis.call('HINCRBY', KEYS[8], m, count) end
end
for j = stop, #ARGV, 2 do
  local b = parse(ARGV[j + 1])
  redis.call('HSET', KEYS[3], ARGV[j], ARGV[j + 1])
  redis.call('ZADD', KEYS[4], fmt(b[7]), ARGV[j])
  redis.call('ZADD', KEYS[5], fmt(b[8]), ARGV[j])
end
save(ARGV[5], ARGV[6], ARGV[7], a, d)
expire(ARGV[2])
redis.call('SET', KEYS[7], ARGV[4], 'EX', ARGV[3])
redis.call('ZADD', KEYS[9], 'GT', fmt(tonumber(ARGV[5]) / 1e6), ARGV[1])
return 1
"""
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


def _moments(fields: Sequence, low: float | None, high: float | None) -> Moments:
    n = int(float(fields[0]))
    if n == 0:
        return Moments()
    return Moments(
        n,
        *(float(x) for x in fields[1:6]),
        low if low is not None else float("nan"),
        high if high is not None else float("nan"),
    )


def _window(reply: list) -> Window | None:
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
            args: list = [device, self.ttl_s, MINUTES_24H]
            for us, value in items:
                args.append(us)
                args.append(repr(float(value)))
            self._apply(keys=keys(device), args=args, client=pipe)
        return {device: _window(reply) for device, reply in zip(readings, pipe.execute())}

    def set_buckets(self, buckets: Mapping[str, Mapping[int, Moments | None]]) -> dict[str, Window | None]:
        """Replace whole minute buckets (recomputed elsewhere); None means the minute has no readings."""
        pipe = self.redis.pipeline(transaction=False)
        for device, minutes in buckets.items():
            args: list = [device, self.ttl_s]
            for minute, b in sorted(minutes.items()):
                args += [minute, pack(b) if b is not None and b.n else "-"]
            self._set_buckets(keys=keys(device), args=args, client=pipe)
        return {device: _window(reply) for device, reply in zip(buckets, pipe.execute())}

    def load(self, snapshots: Mapping[str, Snapshot], since: str) -> dict[str, bool]:
        """Replace each device's state with a snapshot, unless another process did it first (marker set)."""
        pipe = self.redis.pipeline(transaction=False)
        for device, snap in snapshots.items():
            origin = snap.end_us  # time near 0 for the newest readings: best conditioned for the 1 h window
            times = [(us - origin) / 1e6 for us, _ in snap.raw]
            hour = moments(times, [v for _, v in snap.raw])
            day = merge_all(b.shifted((m * MINUTE_US - origin) / 1e6) for m, b in snap.buckets.items())
            args: list = [device, self.ttl_s, self.marker_ttl_s, since, snap.end_us, origin, snap.first_minute]
            args += [repr(float(x)) for x in (hour.n, hour.mean_t, hour.mean_v, hour.m2_t, hour.m2_v, hour.c_tv)]
            args += [repr(float(x)) for x in (day.n, day.mean_t, day.mean_v, day.m2_t, day.m2_v, day.c_tv)]
            args.append(len(snap.raw))
            for us, value in snap.raw:
                args += [us, repr(float(value))]
            for minute, b in snap.buckets.items():
                args += [minute, pack(b)]
            self._load(keys=keys(device), args=args, client=pipe)
        return {device: bool(reply) for device, reply in zip(snapshots, pipe.execute())}

    def forget(self, devices: Sequence[str]) -> None:
        """Drop devices' windows (the next batch rebuilds them from PostgreSQL)."""
        if devices:
            self.redis.delete(*[key for device in devices for key in keys(device)[:7]])
