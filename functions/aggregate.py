"""aggregate: metrics → Redis live state and windows, hourly rollups in PostgreSQL, `sensor-data` to Socket.IO.

For each batch of readings (`io.iotmon.reading.batch.v1`, as ingest sends them, already validated
and committed to `sensor_readings`):

- Redis, the seed's keys (iotmon.redis_keys): `device:<id>:current` {value, timestamp, status, unit}
  (1 h TTL), `device:<id>:stats:1h` and `:stats:24h` {avg, min, max, count, trend, std, median,
  slope, windowStart, windowEnd, updatedAt} (24 h TTL), `system:metrics` {totalDevices,
  activeDevices, activeAlertsCount, dataPointsLastHour, systemHealth} (1 h TTL). The windows
  behind the stats are iotmon.live_state's (layout, memory bound, idempotency there); the
  arithmetic is iotmon.stats's (trend tolerance there). `alerts:active` is only read.
- status: "critical" beyond the device's alert bounds, "warning" outside its normal range, else
  "normal"; the ranges come from PostgreSQL `devices`, cached per process for `config_ttl_s`
  (10 s), so a configuration change applies within that time without a restart.
- The 24 h median is exact: PostgreSQL's percentile_cont over the device's readings in the 24 h
  window, refreshed at most every `median_interval_s` (60 s) per device and process (so it may be
  up to that old); Redis keeps no day of raw values. The 1 h median is exact at every batch.
- Values are taken as PostgreSQL stores them (2 decimals), so live and rebuilt state agree.
- Rebuild: when a device's marker `device:<id>:window:since` is missing (first sight, Redis restart
  or FLUSHALL, or the marker's 6 h expiry, which re-bases the running sums), its windows are
  reloaded from `sensor_readings` (the last hour raw, the day as minute buckets) before the
  batch is applied; readings already loaded are not counted again.
- `device_stats_hourly` (avg, min, max, count, population std): the (device, hour) pairs a batch
  touches are recomputed from `sensor_readings` in one INSERT … SELECT … ON CONFLICT DO UPDATE,
  so a redelivery changes nothing. A past hour is always recomputed. The current (wall-clock)
  hour is recomputed at most every `rollup_interval_s` (10 s) per device and process; a skipped
  pair is remembered and recomputed once its hour is over (by the next batch this process
  handles), so each hour ends up final. If the process stops in between, the hour's row lacks at
  most the readings of its last `rollup_interval_s` seconds until that device's hour is touched
  again (for instance by a late reading).
- `sensor-data` {deviceId, timestamp, data: {value, unit, status}, stats: {avg, trend, min, max}}
  to room `device:<id>` through python-socketio's Redis manager (write-only): one event per
  reading when a device has at most `emit_all_max` (10) readings in the batch, otherwise only its
  latest — at load-test rates the dashboard shows live values and the history API serves the
  rest. stats are the 1 h window's after the batch.

Round trips per batch: a constant number to Redis and PostgreSQL (plus one publish per emitted
event), whatever the number of readings and devices; rebuilds and late readings add one each.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import msgspec
import redis
import socketio
from cloudevents.http import CloudEvent

from eventing.delivery import Rejected
from eventing.events import READING, READING_BATCH
from eventing.sources import unwrap
from functions import environment
from functions.serving import entry_point
from iotmon.adapters.redis import keys
from iotmon.adapters.redis.live_windows import (
    DEVICES_SEEN,
    MINUTE_US,
    MINUTES_24H,
    SYSTEM_MINUTES,
    WINDOW_1H_US,
    LiveWindows,
    Snapshot,
    Window,
)
from iotmon.core import live
from iotmon.core.readings import Reading, parse_batch, parse_reading
from iotmon.core.stats import Moments, Ranges, status, stored_value, summary

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HOUR_US = 3_600_000_000
DEFAULT_OFFLINE_S = 30
_encode = msgspec.json.Encoder().encode  # the JSON strings of the seed's Redis values


@dataclass(frozen=True, slots=True)
class Device:
    ranges: Ranges
    unit: str | None
    offline_timeout_s: int
    monitored: bool  # devices.status = 'active'


@dataclass(frozen=True, slots=True)
class Item:
    us: int
    value: float
    reading: Reading


def micros(timestamp: str) -> int:
    return (datetime.fromisoformat(timestamp) - EPOCH) // timedelta(microseconds=1)


def at(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def iso(us: int) -> str:
    spec = "milliseconds" if us % 1000 == 0 else "microseconds"
    return at(us).isoformat(timespec=spec).replace("+00:00", "Z")


def group_readings(events: Sequence[CloudEvent]) -> tuple[dict[str, list[Item]], list[str]]:
    """The events' readings by device, oldest first, and why each event without any is refused (pure)."""
    by_device: dict[str, list[Item]] = defaultdict(list)
    refused: list[str] = []
    for event in map(unwrap, events):
        data = event.get_data()
        try:
            if event["type"] == READING_BATCH:
                readings, bad = parse_batch(data)
            elif event["type"] == READING:
                readings, bad = [parse_reading(data)], []
            else:
                refused.append(f"event {event['id']}: unknown type {event['type']!r}")
                continue
        except ValueError as error:
            refused.append(f"event {event['id']}: {error}")
            continue
        if bad and not readings:
            refused.append(f"event {event['id']}: {bad[0].reason}")
            continue
        if bad:  # ingest validated them: this would be a contract break upstream
            log.warning("invalid readings on metrics", extra={"event": event["id"], "count": len(bad)})
        for reading in readings:
            by_device[reading.device_id].append(Item(micros(reading.timestamp), stored_value(reading.value), reading))
    for items in by_device.values():
        items.sort(key=lambda item: item.us)
    return dict(by_device), refused


# --- PostgreSQL --------------------------------------------------------------------------------------

_DEVICES = """
SELECT device_id, normal_min::float8, normal_max::float8, alert_min::float8, alert_max::float8,
       unit, offline_timeout_s, status
FROM devices
"""

_ENDS = """
SELECT u.device_id,
       (extract(epoch FROM (SELECT max(timestamp) FROM sensor_readings s WHERE s.device_id = u.device_id))
        * 1000000)::bigint
FROM unnest(%s::text[]) AS u(device_id)
"""

_RAW = """
SELECT w.device_id, (extract(epoch FROM r.timestamp) * 1000000)::bigint, r.value::float8
FROM unnest(%s::text[], %s::timestamptz[], %s::timestamptz[]) AS w(device_id, since, until)
JOIN sensor_readings r ON r.device_id = w.device_id AND r.timestamp > w.since AND r.timestamp <= w.until
"""

# Minute buckets as centred moments (iotmon.stats.Moments), time from the minute's start.
_BUCKETS = """
SELECT device_id, minute, count(*), avg(tau), avg(v), var_pop(tau) * count(*), var_pop(v) * count(*),
       covar_pop(tau, v) * count(*), min(v), max(v)
FROM (
  SELECT r.device_id, floor(extract(epoch FROM r.timestamp) / 60)::bigint AS minute,
         (extract(epoch FROM r.timestamp) - floor(extract(epoch FROM r.timestamp) / 60) * 60)::float8 AS tau,
         r.value::float8 AS v
  FROM unnest(%s::text[], %s::timestamptz[], %s::timestamptz[]) AS w(device_id, since, until)
  JOIN sensor_readings r ON r.device_id = w.device_id AND r.timestamp >= w.since AND r.timestamp < w.until
) x
GROUP BY device_id, minute
"""

_MEDIANS = """
SELECT w.device_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY r.value::float8)
FROM unnest(%s::text[], %s::timestamptz[], %s::timestamptz[]) AS w(device_id, since, until)
JOIN sensor_readings r ON r.device_id = w.device_id AND r.timestamp >= w.since AND r.timestamp <= w.until
GROUP BY w.device_id
"""

_ROLLUP = """
INSERT INTO device_stats_hourly (device_id, hour_timestamp, avg_value, min_value, max_value,
                                 count_readings, std_deviation)
SELECT w.device_id, w.hour, avg(r.value), min(r.value), max(r.value), count(*), stddev_pop(r.value)
FROM unnest(%s::text[], %s::timestamptz[]) AS w(device_id, hour)
JOIN sensor_readings r ON r.device_id = w.device_id AND r.timestamp >= w.hour
                      AND r.timestamp < w.hour + interval '1 hour'
GROUP BY w.device_id, w.hour
ON CONFLICT (device_id, hour_timestamp) DO UPDATE SET
  avg_value = EXCLUDED.avg_value, min_value = EXCLUDED.min_value, max_value = EXCLUDED.max_value,
  count_readings = EXCLUDED.count_readings, std_deviation = EXCLUDED.std_deviation
"""

_OPEN_ALERTS = "SELECT count(*) FROM alerts WHERE status <> 'resolved'"


def _buckets(rows: Sequence[tuple]) -> dict[str, dict[int, Moments]]:
    found: dict[str, dict[int, Moments]] = defaultdict(dict)
    for device, minute, n, mt, mv, m2t, m2v, ctv, low, high in rows:
        found[device][int(minute)] = Moments(int(n), mt, mv, m2t, m2v, ctv, low, high)
    return found


class Aggregate:
    """The function's core: takes a batch of events in-process."""

    def __init__(  # type: ignore[no-untyped-def]
        self,
        pool,
        redis_client: redis.Redis,
        emitter,
        *,
        config_ttl_s: float = 10.0,
        median_interval_s: float = 60.0,
        rollup_interval_s: float = 10.0,
        emit_all_max: int = 10,
        clock=time.time,
    ) -> None:
        self.pool = pool
        self.redis = redis_client
        self.emitter = emitter
        self.windows = LiveWindows(redis_client)
        self.config_ttl_s = config_ttl_s
        self.median_interval_s = median_interval_s
        self.rollup_interval_s = rollup_interval_s
        self.emit_all_max = emit_all_max
        self.clock = clock
        # Caches (never state): device configuration, 24 h medians, rollup throttle.
        self._devices: dict[str, Device] = {}
        self._devices_at = -math.inf
        self._open_alerts: int | None = None
        self._medians: dict[str, tuple[float, int, int, float | None]] = {}  # at, since µs, until µs, median
        self._rolled: dict[tuple[str, int], float] = {}
        self._pending: set[tuple[str, int]] = set()

    def __call__(self, events: Sequence[CloudEvent]) -> int:
        """Handle events; returns the number of readings new to the windows.

        Raises to ask for redelivery, or, once the rest is done, Rejected for events without readings.
        """
        by_device, refused = group_readings(events)
        added = self._handle(by_device) if by_device else 0
        if refused:
            raise Rejected("; ".join(refused[:10]))
        return added

    def _handle(self, by_device: dict[str, list[Item]]) -> int:
        with self.pool.connection() as conn:
            windows = self._apply(conn, by_device)
            devices = self._configuration(conn)
            medians = self._medians_24h(conn, windows)
            self._rollup(conn, by_device)
            open_alerts = self._open_alerts
        stats_1h = self._write_state(by_device, windows, devices, medians, open_alerts)
        self._emit(by_device, devices, stats_1h)
        return sum(window.added for window in windows.values())

    # -- windows ----------------------------------------------------------------------------------

    def _apply(self, conn, by_device: dict[str, list[Item]]) -> dict[str, Window]:  # type: ignore[no-untyped-def]
        pairs = {device: [(item.us, item.value) for item in items] for device, items in by_device.items()}
        windows = self.windows.apply(pairs)
        missing = [device for device, window in windows.items() if window is None]
        if missing:
            self._rebuild(conn, missing, by_device)
            windows.update(self.windows.apply({device: pairs[device] for device in missing}))
            if any(windows[device] is None for device in missing):
                raise RuntimeError("live windows vanished during their rebuild; retry")
        late = {device: window.late_minutes for device, window in windows.items() if window and window.late_minutes}
        if late:
            windows.update(self._recompute_minutes(conn, late))
        return windows  # type: ignore[return-value]

    def _rebuild(self, conn, devices: list[str], by_device: dict[str, list[Item]]) -> None:  # type: ignore[no-untyped-def]
        """Load devices' windows from PostgreSQL (ingest committed this batch's readings before sending it)."""
        ends = {device: end for device, end in conn.execute(_ENDS, (devices,)).fetchall()}
        for device in devices:
            batch_end = by_device[device][-1].us
            ends[device] = max(ends.get(device) or batch_end, batch_end)
        firsts = {device: end // MINUTE_US - MINUTES_24H + 1 for device, end in ends.items()}
        raw: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for device, us, value in conn.execute(
            _RAW, (devices, [at(ends[d] - WINDOW_1H_US) for d in devices], [at(ends[d]) for d in devices])
        ):
            raw[device].append((us, value))
        buckets = _buckets(
            conn.execute(
                _BUCKETS,
                (devices, [at(firsts[d] * MINUTE_US) for d in devices], [at(ends[d] + 1) for d in devices]),
            ).fetchall()
        )
        snapshots = {d: Snapshot(ends[d], raw.get(d, []), buckets.get(d, {}), firsts[d]) for d in devices}
        self.windows.load(snapshots, since=iso(int(self.clock() * 1e6)))
        log.info("live windows rebuilt from PostgreSQL", extra={"devices": len(devices)})

    def _recompute_minutes(self, conn, late: dict[str, tuple[int, ...]]) -> dict[str, Window]:  # type: ignore[no-untyped-def]
        """Readings older than the 1 h window: their minutes are replaced by PostgreSQL's (idempotent)."""
        pairs = [(device, minute) for device, minutes in late.items() for minute in minutes]
        found = _buckets(
            conn.execute(
                _BUCKETS,
                (
                    [d for d, _ in pairs],
                    [at(m * MINUTE_US) for _, m in pairs],
                    [at((m + 1) * MINUTE_US) for _, m in pairs],
                ),
            ).fetchall()
        )
        replaced = self.windows.set_buckets(
            {device: {m: found.get(device, {}).get(m) for m in minutes} for device, minutes in late.items()}
        )
        return {device: window for device, window in replaced.items() if window is not None}

    # -- PostgreSQL reads and rollups ---------------------------------------------------------------

    def _configuration(self, conn) -> dict[str, Device]:  # type: ignore[no-untyped-def]
        now = time.monotonic()
        if now - self._devices_at >= self.config_ttl_s:
            self._devices = {
                row[0]: Device(Ranges(*row[1:5]), row[5], row[6] or DEFAULT_OFFLINE_S, row[7] == "active")
                for row in conn.execute(_DEVICES)
            }
            # used only when `alerts:active` is absent (evaluate-rule maintains it)
            self._open_alerts = conn.execute(_OPEN_ALERTS).fetchone()[0]
            self._devices_at = now
        return self._devices

    def _medians_24h(self, conn, windows: dict[str, Window]) -> dict[str, float | None]:  # type: ignore[no-untyped-def]
        now = time.monotonic()
        stale = [
            d
            for d, w in windows.items()
            if (cached := self._medians.get(d)) is None
            or now - cached[0] >= self.median_interval_s
            or cached[1] > w.day_start_us  # never reuse a median of a later window (after a rebuild)
        ]
        if stale:
            since = {d: windows[d].day_start_us for d in stale}
            until = {d: windows[d].end_us for d in stale}
            found = dict(
                conn.execute(_MEDIANS, (stale, [at(since[d]) for d in stale], [at(until[d]) for d in stale])).fetchall()
            )
            for d in stale:
                self._medians[d] = (now, since[d], until[d], found.get(d))
        return {d: self._medians[d][3] for d in windows}

    def _rollup(self, conn, by_device: dict[str, list[Item]]) -> None:  # type: ignore[no-untyped-def]
        now = time.monotonic()
        current_hour = int(self.clock() * 1e6) // HOUR_US
        due: set[tuple[str, int]] = {pair for pair in self._pending if pair[1] < current_hour}
        for device, items in by_device.items():
            for hour in {item.us // HOUR_US for item in items}:
                pair = (device, hour)
                if hour < current_hour or now - self._rolled.get(pair, -math.inf) >= self.rollup_interval_s:
                    due.add(pair)
                else:
                    self._pending.add(pair)
        if not due:
            return
        ordered = sorted(due)
        conn.execute(_ROLLUP, ([d for d, _ in ordered], [at(h * HOUR_US) for _, h in ordered]))
        self.redis.incr(keys.cache_generation("rollups"))  # the API's cached analytics are stale now
        self._pending -= due
        for pair in ordered:
            self._rolled[pair] = now
        for pair in [p for p in self._rolled if p[1] < current_hour - 1]:
            del self._rolled[pair]

    # -- Redis writes and Socket.IO ------------------------------------------------------------------

    def _write_state(  # type: ignore[no-untyped-def]
        self, by_device, windows: dict[str, Window], devices: dict[str, Device], medians, open_alerts
    ) -> dict[str, dict[str, Any]]:
        now_us = int(self.clock() * 1e6)
        updated = iso(now_us)
        pipe = self.redis.pipeline(transaction=False)
        stats_1h: dict[str, dict[str, Any]] = {}
        for device, items in by_device.items():
            window = windows[device]
            config = devices.get(device)
            ranges = config.ranges if config else Ranges()
            span = ranges.normal_span
            hour = summary(
                window.hour,
                median_value=window.median_hour,
                window_s=3600,
                normal_span=span,
                window_start=iso(window.end_us - WINDOW_1H_US),
                window_end=iso(window.end_us),
                updated_at=updated,
            )
            day = summary(
                window.day,
                median_value=medians.get(device),
                window_s=86_400,
                normal_span=span,
                window_start=iso(window.day_start_us),
                window_end=iso(window.end_us),
                updated_at=updated,
            )
            stats_1h[device] = hour
            pipe.set(keys.stats(device, "1h"), _encode(hour), ex=keys.STATS_TTL_S)
            pipe.set(keys.stats(device, "24h"), _encode(day), ex=keys.STATS_TTL_S)
            latest = items[-1]
            if latest.us >= window.end_us:  # a late batch does not replace a newer current value
                current = {
                    "value": latest.value,
                    "timestamp": latest.reading.timestamp,
                    "status": status(latest.value, ranges),
                    "unit": latest.reading.unit,
                }
                pipe.set(keys.current(device), _encode(current), ex=keys.CURRENT_TTL_S)
        pipe.get(keys.ALERTS_ACTIVE)
        pipe.zrangebyscore(
            DEVICES_SEEN,
            now_us / 1e6 - max([d.offline_timeout_s for d in devices.values()] or [DEFAULT_OFFLINE_S]),
            "+inf",
            withscores=True,
        )
        pipe.hgetall(SYSTEM_MINUTES)
        *_, alerts_active, seen, minutes = pipe.execute()
        self._write_system(devices, alerts_active, open_alerts, seen, minutes, now_us)
        return stats_1h

    def _write_system(self, devices, alerts_active, open_alerts, seen, minutes, now_us: int) -> None:  # type: ignore[no-untyped-def]
        now_s = now_us / 1e6
        active = sum(
            1
            for member, last in seen
            if now_s - last
            <= (devices[name].offline_timeout_s if (name := member.decode()) in devices else DEFAULT_OFFLINE_S)
        )
        if alerts_active is not None:
            try:
                alerts_count = len(json.loads(alerts_active))
            except (ValueError, TypeError):
                alerts_count = open_alerts or 0
        else:
            alerts_count = open_alerts or 0
        this_minute = now_us // MINUTE_US
        points = sum(int(count) for minute, count in minutes.items() if int(minute) > this_minute - 60)
        old = [minute for minute in minutes if int(minute) < this_minute - 120]
        monitored = sum(1 for d in devices.values() if d.monitored)
        health = "unhealthy" if devices and active == 0 else "degraded" if active < monitored else "healthy"
        metrics = {
            "totalDevices": len(devices),
            "activeDevices": active,
            "activeAlertsCount": alerts_count,
            "dataPointsLastHour": points,
            "systemHealth": health,
        }
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(keys.SYSTEM_METRICS, _encode(metrics), ex=keys.CURRENT_TTL_S)
        if old:
            pipe.hdel(SYSTEM_MINUTES, *old)
        pipe.execute()

    def _emit(self, by_device: dict[str, list[Item]], devices: dict[str, Device], stats_1h) -> None:  # type: ignore[no-untyped-def]
        messages = []
        for device, items in by_device.items():
            config = devices.get(device)
            ranges = config.ranges if config else Ranges()
            stats = stats_1h[device]
            brief = {"avg": stats["avg"], "trend": stats["trend"], "min": stats["min"], "max": stats["max"]}
            chosen = items if len(items) <= self.emit_all_max else items[-1:]
            for item in chosen:
                payload = {
                    "deviceId": device,
                    "timestamp": item.reading.timestamp,
                    "data": {"value": item.value, "unit": item.reading.unit, "status": status(item.value, ranges)},
                    "stats": brief,
                }
                messages.append((live.device_room(device), payload))
        emit_all(self.emitter, "sensor-data", messages)


def emit_all(manager, event: str, messages: Sequence[tuple[str, Any]]) -> None:  # type: ignore[no-untyped-def]
    """Emit (room, data) pairs through a python-socketio manager.

    A RedisManager publishes each emit with its own round trip; here the same messages (the
    manager's channel, serializer, host id and message format, as PubSubManager.emit builds them
    for a plain, callback-less emit) go out in one pipeline. Any other manager gets plain emits.
    Unlike the manager, a Redis failure raises (Redis is the state store: retrying is right).
    """
    client = getattr(manager, "redis", None)
    if not isinstance(manager, socketio.RedisManager) or not manager.write_only:
        for room, data in messages:
            manager.emit(event, data, room=room)
        return
    if client is None or not getattr(manager, "connected", False):
        manager._redis_connect()
        client = manager.redis
    pipe = client.pipeline(transaction=False)
    for room, data in messages:
        message = {
            "method": "emit",
            "event": event,
            "data": [data],
            "binary": False,
            "namespace": "/",
            "room": room,
            "skip_sid": None,
            "callback": None,
            "host_id": manager.host_id,
        }
        pipe.publish(manager.channel, manager.json.dumps(message))
    pipe.execute()


# functions-framework entry point: one event per HTTP request, from a KafkaSource.


@cache
def _instance() -> Aggregate:
    return Aggregate(environment.database(), environment.redis_client(), environment.socketio_emitter())


handle = entry_point(_instance)
