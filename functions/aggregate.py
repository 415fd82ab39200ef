"""aggregate: metrics → live values and window statistics in Redis, hourly rollups, `sensor-data` to the dashboard.

For each batch of readings (`io.iotmon.reading.batch.v1`, as ingest sends them, already validated
and committed to `sensor_readings`):

- Redis: `device:<id>:current` (LiveValue, 1 h TTL), `device:<id>:stats:1h` and `:stats:24h`
  (WindowStats, 24 h TTL), `system:metrics` (SystemMetricsDoc, 1 h TTL). The windows behind the
  statistics are iotmon.adapters.redis.live_windows' (layout, memory bound, idempotency there);
  the arithmetic is iotmon.core.stats' (the trend's tolerance there).
- A value's level: critical beyond the device's alert limits, warning outside its normal range,
  else normal; the limits come from the devices table, cached for `config_ttl_s` (10 s).
- Windows (bounds in iotmon.adapters.redis.live_windows): 1 h is the 60 whole minutes ending with
  the newest reading's minute (windowStart minute-aligned), 24 h the 23 whole hours before its hour
  and that hour (windowStart hour-aligned); count, avg, std, slope, min and max exact at every batch.
- Medians are exact as of their refresh: PostgreSQL's percentile over the device's readings in the
  window, the 1 h median refreshed at most every `median_1h_interval_s` (5 s), the 24 h median every
  `median_interval_s` (60 s), per device and process, within a budget of queries a second
  (`MEDIANS_PER_S`) so that a large fleet's medians cost PostgreSQL a bounded share; the devices
  never computed go first, then the stalest. Redis keeps no raw values (the memory bound per
  device), and a sketch would not be exact; so a median may lag the other figures by that long.
- Values are taken as PostgreSQL stores them (2 decimals), so live and rebuilt state agree.
- Rebuild: a device whose windows are missing (first sight, Redis restarted, flushed or the key
  evicted) has them loaded from `sensor_readings` (minute and hour buckets, one query each).
- Readings at or before a device's newest applied one (redelivered, or late) have their minutes and
  hours recomputed from `sensor_readings` and replaced (idempotent, exact).
- `device_stats_hourly`: the (device, hour) pairs a batch touches are recomputed
  (iotmon.adapters.postgres.rollups), a past hour at once, the current one at most every
  `rollup_interval_s` (10 s), within a budget of recomputes a second (`ROLLUPS_PER_S`) that the
  hours just over go first in (iotmon.core.rollups says when).
- `sensor-data` to room `device:<id>`, for the devices somebody watches (iotmon.adapters.redis.watched):
  one per reading when a device has at most `emit_all_max` (10) readings in the batch, otherwise only
  its latest — at load-test rates the dashboard shows live values and the history API serves the rest.

Round trips per batch: a constant number to Redis and PostgreSQL, whatever the number of
readings and devices; rebuilds and late readings add one each.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache

import msgspec
import psycopg
import redis
from cloudevents.http import CloudEvent
from psycopg_pool import ConnectionPool

from eventing.delivery import Rejected
from eventing.sources import readings_of
from functions import environment
from functions.serving import entry_point
from iotmon.adapters.postgres import alerts, rollups, window_history
from iotmon.adapters.postgres.devices import DeviceCatalog, DeviceInfo
from iotmon.adapters.redis import active_alerts, keys
from iotmon.adapters.redis.documents import Document, Documents
from iotmon.adapters.redis.live_emitter import LiveEmitter
from iotmon.adapters.redis.live_windows import (
    DEVICES_SEEN,
    HOUR_US,
    MINUTE_US,
    SYSTEM_MINUTES,
    LiveWindows,
    Window,
    day_start_us,
    hour_start_us,
)
from iotmon.adapters.redis.watched import WatchedDevices
from iotmon.core import live
from iotmon.core.budget import Budget
from iotmon.core.contracts.devices import LiveValue, WindowStats
from iotmon.core.contracts.readings import Reading
from iotmon.core.rollups import RollupSchedule
from iotmon.core.stats import Ranges, status, stored_value, summary
from iotmon.core.system_metrics import DEFAULT_OFFLINE_S, Watched, stale_minutes, system_metrics

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Medians computed in PostgreSQL a second, per window and process: a 1 h median reads ~3,600 rows at 1 Hz
# (~3 ms), a 24 h one ~86,400 (~130 ms). A few devices get theirs every interval; at 10,000 devices the
# 1 h median is refreshed every ~3 minutes and the 24 h one every ~80 (it moves slowly), instead of
# PostgreSQL spending 20+ CPU-seconds a second on them.
MEDIANS_PER_S = {"1h": 50.0, "24h": 2.0}
MEDIAN_BURST_S = 10.0  # ten seconds' worth may go at once (a start, a few new devices)
# Hourly rollups recomputed a second, per process: each reads its hour's readings (3,600 at 1 Hz). A few devices
# get their current hour every rollup interval; at 10,000 devices (two processes) every ~100 s, and the hours that
# end are made final within ~100 s, instead of PostgreSQL reading millions of rows a second (the fleet benchmark
# fell further behind every minute of the hour before this budget).
ROLLUPS_PER_S = 50.0
_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True, slots=True)
class Item:
    us: int
    value: float
    reading: Reading


def micros(timestamp: str) -> int:
    return (datetime.fromisoformat(timestamp) - EPOCH) // timedelta(microseconds=1)


def iso(us: int) -> str:
    spec = "milliseconds" if us % 1000 == 0 else "microseconds"
    return window_history.at(us).isoformat(timespec=spec).replace("+00:00", "Z")


_window_start = lru_cache(maxsize=256)(iso)  # windows start on whole minutes and hours: few values, many devices


def group_readings(events: Sequence[CloudEvent]) -> tuple[dict[str, list[Item]], list[str]]:
    """The events' readings by device, oldest first, and why each event without any is refused (pure)."""
    by_device: dict[str, list[Item]] = defaultdict(list)
    readings, refused = readings_of(events)
    for reading in readings:
        by_device[reading.device_id].append(Item(micros(reading.timestamp), stored_value(reading.value), reading))
    for items in by_device.values():
        items.sort(key=lambda item: item.us)
    return dict(by_device), refused


class Aggregate:
    """The function's core: takes a batch of events in-process."""

    def __init__(
        self,
        pool: ConnectionPool,
        redis_client: redis.Redis,
        emitter: LiveEmitter,
        *,
        config_ttl_s: float = 10.0,
        median_interval_s: float = 60.0,
        median_1h_interval_s: float = 5.0,
        rollup_interval_s: float = 10.0,
        emit_all_max: int = 10,
        system_interval_s: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pool = pool
        self.redis = redis_client
        self.emitter = emitter
        self.windows = LiveWindows(redis_client)
        self.documents = Documents(redis_client)
        self.watched = WatchedDevices(redis_client, clock)
        self.devices = DeviceCatalog(pool, config_ttl_s)
        self.rollups = RollupSchedule(rollup_interval_s, Budget(ROLLUPS_PER_S, MEDIAN_BURST_S * ROLLUPS_PER_S))
        self.median_intervals = {"1h": median_1h_interval_s, "24h": median_interval_s}
        self.emit_all_max = emit_all_max
        self.system_interval_s = system_interval_s
        self._system_at = float("-inf")
        self.clock = clock
        # a cache per window: device → (when, since µs, the median)
        self._medians: dict[str, dict[str, tuple[float, int, float | None]]] = {"1h": {}, "24h": {}}
        self._median_budget = {name: Budget(rate, MEDIAN_BURST_S * rate) for name, rate in MEDIANS_PER_S.items()}

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
        devices = self.devices.devices(by_device)
        with self.pool.connection() as conn:
            windows = self._apply(conn, by_device)
            medians = self._medians_of(conn, windows)
            self._roll_up(conn, by_device)
            hours = self._write_state(conn, by_device, windows, devices, medians)
        self.emitter.send(self._sensor_data(by_device, devices, hours))  # best effort: nobody may be watching
        return sum(window.added for window in windows.values())

    # -- windows ----------------------------------------------------------------------------------

    def _apply(self, conn: psycopg.Connection, by_device: dict[str, list[Item]]) -> dict[str, Window]:
        pairs = {device: [(item.us, item.value) for item in items] for device, items in by_device.items()}
        applied = self.windows.apply(pairs)
        if missing := [device for device, window in applied.items() if window is None]:
            loaded, ends = self._rebuild(conn, missing, by_device)
            applied.update(loaded)
            again = {  # all when another process loaded first, else what PostgreSQL did not have
                device: pairs[device] if loaded[device] is None else [p for p in pairs[device] if p[0] > ends[device]]
                for device in missing
            }
            if again := {device: items for device, items in again.items() if items}:
                applied.update(self.windows.apply(again))
        windows = {device: window for device, window in applied.items() if window is not None}
        if len(windows) < len(applied):
            raise RuntimeError("live windows vanished during their rebuild; retry")
        late = {device: window for device, window in windows.items() if window.late_minutes or window.late_hours}
        if late:
            windows.update(self._recompute(conn, late))
        return windows

    def _rebuild(
        self, conn: psycopg.Connection, devices: list[str], by_device: dict[str, list[Item]]
    ) -> tuple[dict[str, Window | None], dict[str, int]]:
        """Load devices' windows from PostgreSQL up to its newest reading (ingest committed this batch's readings
        before sending it, so that is the batch's or a later one); returns the windows and the ends loaded."""
        stored = window_history.newest(conn, devices)
        ends = {device: stored.get(device) or by_device[device][0].us - 1 for device in devices}
        minutes = window_history.buckets(conn, [(d, hour_start_us(ends[d]), ends[d] + 1) for d in devices], MINUTE_US)
        hours = window_history.buckets(conn, [(d, day_start_us(ends[d]), ends[d] + 1) for d in devices], HOUR_US)
        snapshots = {d: (ends[d], minutes.get(d, {}), hours.get(d, {})) for d in devices}
        loaded = self.windows.load(snapshots, since=iso(int(self.clock() * 1e6)))
        log.info("live windows rebuilt from PostgreSQL", extra={"devices": len(devices)})
        return loaded, ends

    def _recompute(self, conn: psycopg.Connection, late: dict[str, Window]) -> dict[str, Window]:
        """Readings at or before a device's newest applied one: their minutes and hours, up to that newest one,
        are replaced by PostgreSQL's (idempotent; later readings, still to come, are not counted twice)."""
        found = {}
        for kind, width in (("m", MINUTE_US), ("h", HOUR_US)):
            spans = [
                (device, x * width, min((x + 1) * width, window.end_us + 1))
                for device, window in late.items()
                for x in (window.late_minutes if kind == "m" else window.late_hours)
            ]
            found[kind] = window_history.buckets(conn, spans, width) if spans else {}
        replaced = self.windows.set_buckets(
            {
                device: (
                    window.end_us,
                    {
                        **{("m", m): found["m"].get(device, {}).get(m) for m in window.late_minutes},
                        **{("h", h): found["h"].get(device, {}).get(h) for h in window.late_hours},
                    },
                )
                for device, window in late.items()
            }
        )
        # the readings applied before (the batch's new ones) count, and those the buckets gained
        return {
            device: replace(window, added=late[device].added + window.added)
            for device, window in replaced.items()
            if window is not None
        }

    # -- PostgreSQL: medians and rollups ---------------------------------------------------------

    def _medians_of(self, conn: psycopg.Connection, windows: dict[str, Window]) -> dict[str, dict[str, float | None]]:
        """Each device's 1 h and 24 h medians, from PostgreSQL when the cached one is older than its interval,
        as many as the window's budget allows (the devices never computed first, then the stalest)."""
        now = time.monotonic()
        out: dict[str, dict[str, float | None]] = {device: {} for device in windows}
        for name, start in (("1h", hour_start_us), ("24h", day_start_us)):
            cache = self._medians[name]
            stale = sorted(
                (
                    (device, start(window.end_us), window.end_us)
                    for device, window in windows.items()
                    if (cached := cache.get(device)) is None
                    or now - cached[0] >= self.median_intervals[name]
                    or cached[1] > start(window.end_us)  # never a median of a later window (after a rebuild)
                ),
                key=lambda item: cache[item[0]][0] if item[0] in cache else float("-inf"),
            )
            stale = stale[: self._median_budget[name].allow(len(stale), now)]
            if stale:
                found = window_history.medians(conn, stale)
                for device, since, _until in stale:
                    cache[device] = (now, since, found.get(device))
            for device in windows:
                out[device][name] = cache[device][2] if device in cache else None
        return out

    def _roll_up(self, conn: psycopg.Connection, by_device: dict[str, list[Item]]) -> None:
        touched = {(device, item.us // HOUR_US) for device, items in by_device.items() for item in items}
        due = self.rollups.due(touched, int(self.clock() * 1e6) // HOUR_US, time.monotonic())
        if due:
            rollups.roll_up(conn, [(device, window_history.at(hour * HOUR_US)) for device, hour in due])
            self.redis.incr(keys.cache_generation("rollups"))  # the API's cached analytics are stale now

    # -- Redis: the documents others read --------------------------------------------------------

    def _write_state(
        self,
        conn: psycopg.Connection,
        by_device: dict[str, list[Item]],
        windows: dict[str, Window],
        devices: dict[str, DeviceInfo],
        medians: dict[str, dict[str, float | None]],
    ) -> dict[str, WindowStats]:
        """Current values and statistics, then the system's figures; returns each device's last hour."""
        now_us = int(self.clock() * 1e6)
        updated = iso(now_us)
        pipe = self.redis.pipeline(transaction=False)
        hours: dict[str, WindowStats] = {}
        documents: list[Document] = []
        for device, items in by_device.items():
            window = windows[device]
            ranges = devices[device].ranges if device in devices else Ranges()
            span, end = ranges.normal_span, iso(window.end_us)
            hours[device] = summary(
                window.hour, median_value=medians[device]["1h"], window_s=3600, normal_span=span,
                window_start=_window_start(window.hour_start_us), window_end=end, updated_at=updated,
            )  # fmt: skip
            day = summary(
                window.day, median_value=medians[device]["24h"], window_s=86_400, normal_span=span,
                window_start=_window_start(window.day_start_us), window_end=end, updated_at=updated,
            )  # fmt: skip
            documents += (
                (keys.stats(device, "1h"), _encode(hours[device]), keys.STATS_TTL_S),
                (keys.stats(device, "24h"), _encode(day), keys.STATS_TTL_S),
            )
            latest = items[-1]
            if latest.us >= window.end_us:  # a late batch does not replace a newer current value
                current = LiveValue(
                    value=latest.value,
                    timestamp=latest.reading.timestamp,
                    status=status(latest.value, ranges),
                    unit=latest.reading.unit,
                )
                documents.append((keys.current(device), _encode(current), keys.CURRENT_TTL_S))
        self.documents.set_all(pipe, documents)
        # The system's figures read every device seen and every open alert: at most every system_interval_s.
        if system_due := time.monotonic() - self._system_at >= self.system_interval_s:
            pipe.get(keys.ALERTS_ACTIVE)
            longest = max((info.rules.offline_timeout_s for info in devices.values()), default=DEFAULT_OFFLINE_S)
            pipe.zrangebyscore(DEVICES_SEEN, now_us / 1e6 - longest, "+inf", withscores=True)  # maybe active
            pipe.hgetall(SYSTEM_MINUTES)
        replies = pipe.execute()
        if system_due:
            alerts_document, seen, minutes = replies[-3:]
            open_alerts = active_alerts.count(alerts_document)
            if open_alerts is None:  # alerts:active is gone (Redis flushed): PostgreSQL knows
                open_alerts = alerts.open_count(conn)
            self._write_system(devices, seen, open_alerts, minutes, now_us / 1e6)
            self._system_at = time.monotonic()
        return hours

    def _write_system(
        self,
        devices: dict[str, DeviceInfo],
        seen: list[tuple[bytes, float]],
        open_alerts: int,
        minutes: dict[bytes, bytes],
        now_s: float,
    ) -> None:
        per_minute = {int(minute): int(count) for minute, count in minutes.items()}
        watched = {name: Watched(info.rules.offline_timeout_s, info.monitored) for name, info in devices.items()}
        figures = system_metrics(
            watched, [(member.decode(), last) for member, last in seen], open_alerts, per_minute, now_s
        )
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(keys.SYSTEM_METRICS, _encode(figures), ex=keys.CURRENT_TTL_S)
        if old := stale_minutes(per_minute, now_s):
            pipe.hdel(SYSTEM_MINUTES, *old)
        pipe.execute()

    # -- the dashboard ----------------------------------------------------------------------------

    def _sensor_data(
        self, by_device: dict[str, list[Item]], devices: dict[str, DeviceInfo], hours: dict[str, WindowStats]
    ) -> list[live.LiveMessage]:
        messages = []
        watched = self.watched.now()
        for device, items in by_device.items():
            if device not in watched:
                continue
            ranges = devices[device].ranges if device in devices else Ranges()
            for item in items if len(items) <= self.emit_all_max else items[-1:]:
                reading = item.reading
                data = live.sensor_data(
                    device, reading.timestamp, item.value, reading.unit, status(item.value, ranges), hours[device]
                )
                messages.append(live.LiveMessage(live.SENSOR_DATA, data, live.device_room(device)))
        return messages


# functions-framework entry point: one event per HTTP request, from a KafkaSource.


@cache
def _instance() -> Aggregate:
    return Aggregate(environment.database(), environment.redis_client(), environment.live_emitter())


handle = entry_point(_instance)
