"""The aggregate function on real PostgreSQL and Redis: live state, windows, rollups, Socket.IO, rebuild."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import redis.asyncio as aioredis

from eventing.events import batch_event
from functions.aggregate import Aggregate
from iotmon.adapters.postgres import storage
from iotmon.adapters.redis import device_state, keys, live_windows, watched
from iotmon.adapters.redis.live_emitter import LiveEmitter
from iotmon.core.readings import parse_reading, to_json
from tests.support.waiting import wait_for

UNITS = {"device-001": ("temperature", "celsius"), "device-002": ("pressure", "psi"), "device-003": ("vibration", "hz")}


def reading(device: str, at: datetime, value: float):
    sensor, unit = UNITS[device]
    return parse_reading(
        {
            "deviceId": device,
            "timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "sensorType": sensor,
            "value": value,
            "unit": unit,
            "location": "assembly-line-1",
        }
    )


def series(device: str, end: datetime, count: int, every_s: float, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    values = np.round(50 + np.linspace(0, 10, count) + rng.normal(0, 3, count), 2)
    return [reading(device, end - timedelta(seconds=every_s * (count - 1 - i)), float(v)) for i, v in enumerate(values)]


def event(readings):
    return batch_event([to_json(r) for r in readings], "/test", readings[0].device_id)


def epoch(r) -> float:
    return datetime.fromisoformat(r.timestamp).timestamp()


def hour_start(end: float) -> float:
    """Where the 1 h window ending at `end` starts: the 60 whole minutes ending with end's minute."""
    return (end // 60 - 59) * 60


def day_start(end: float) -> float:
    """Where the 24 h window starts: the 23 whole hours before end's hour, and that hour."""
    return (end // 3600 - 23) * 3600


def expected(readings, since: float | None = None, until: float | None = None):
    """The statistics of the readings in since <= t <= until, with numpy."""
    chosen = [r for r in readings if (since is None or epoch(r) >= since) and (until is None or epoch(r) <= until)]
    t = np.array([epoch(r) for r in chosen])
    v = np.array([r.value for r in chosen])
    slope = float(np.polyfit(t - t.mean(), v, 1)[0]) if len(t) > 1 else 0.0
    return {
        "count": len(v),
        "avg": float(v.mean()),
        "min": float(v.min()),
        "max": float(v.max()),
        "std": float(v.std()),
        "median": statistics.median(v.tolist()),
        "slope": slope,
    }


def assert_stats(doc: dict, want: dict) -> None:
    """Exact up to the published rounding (4 decimals; the slope 9)."""
    assert doc["count"] == want["count"]
    for name in ("avg", "min", "max", "std", "median"):
        assert doc[name] == pytest.approx(want[name], rel=0, abs=5.1e-5), name
    assert doc["slope"] == pytest.approx(want["slope"], rel=0, abs=5.1e-10), "slope"


@pytest.fixture
def aggregate(pool, redis, redis_url):
    """The function on the clean database and the emptied Redis (`pool` and `redis`: the conftests)."""
    return Aggregate(
        pool,
        redis,
        LiveEmitter(redis_url),
        config_ttl_s=0,
        median_interval_s=0,
        median_1h_interval_s=0,
        rollup_interval_s=0,
        system_interval_s=0,  # the system's figures after every batch, not once a second
    )


def store(pool, readings) -> None:
    with pool.connection() as conn:
        storage.write_readings(conn, readings)


def feed(aggregate, pool, *batches) -> None:
    for batch in batches:
        store(pool, batch)
        aggregate([event(batch)])


def stats_doc(redis, device, window) -> dict:
    return json.loads(redis.get(keys.stats(device, window)))


def hourly(pool) -> list:
    with pool.connection() as conn:
        return conn.execute(
            "SELECT device_id, hour_timestamp, avg_value, min_value, max_value, count_readings, std_deviation"
            " FROM device_stats_hourly ORDER BY 1, 2"
        ).fetchall()


NOW = datetime.now(UTC).replace(microsecond=0)


def test_current_and_window_stats_are_exact_with_1h_and_24h_ttls(aggregate, pool, redis):
    readings = series("device-001", NOW, 400, 15.0)  # 100 minutes, so the 1 h window drops some
    feed(aggregate, pool, readings[:150], readings[150:300], readings[300:])
    current = json.loads(redis.get(keys.current("device-001")))
    last = readings[-1]
    assert current == {"value": last.value, "timestamp": last.timestamp, "status": "normal", "unit": "celsius"}
    assert 3590 <= redis.ttl(keys.current("device-001")) <= 3600
    for window in ("1h", "24h"):
        assert 86_390 <= redis.ttl(keys.stats("device-001", window)) <= 86_400
    end = epoch(last)
    hour = stats_doc(redis, "device-001", "1h")
    assert_stats(hour, expected(readings, since=hour_start(end)))
    assert 236 < hour["count"] <= 240 and hour["trend"] in ("increasing", "stable", "decreasing")
    assert hour["windowEnd"] == last.timestamp
    assert datetime.fromisoformat(hour["windowStart"]).timestamp() == hour_start(end)
    day = stats_doc(redis, "device-001", "24h")
    assert_stats(day, expected(readings))
    assert datetime.fromisoformat(day["windowStart"]).timestamp() == day_start(end)
    # the hourly rollups equal the raw data per hour
    rows = hourly(pool)
    by_hour: dict = {}
    for r in readings:
        by_hour.setdefault(datetime.fromisoformat(r.timestamp).replace(minute=0, second=0, microsecond=0), []).append(
            r.value
        )
    assert [(row[1], row[5]) for row in rows] == [(hour, len(values)) for hour, values in sorted(by_hour.items())]
    stored = 0.005 + 1e-9  # DECIMAL(10,2) rounds half a cent either way; a float mean can sit on that boundary
    for row in rows:
        values = np.array(by_hour[row[1]])
        assert [float(x) for x in row[2:5]] == pytest.approx([values.mean(), values.min(), values.max()], abs=stored)
        assert float(row[6]) == pytest.approx(values.std(), abs=stored)


def test_a_redelivery_changes_nothing(aggregate, pool, redis):
    readings = series("device-002", NOW, 120, 20.0, seed=1)
    feed(aggregate, pool, readings[:60], readings[60:])
    before = {w: stats_doc(redis, "device-002", w) for w in ("1h", "24h")}
    rollups = hourly(pool)
    current = redis.get(keys.current("device-002"))
    aggregate([event(readings[:60]), event(readings[60:]), event(readings[30:90])])
    for window, doc in before.items():
        again = stats_doc(redis, "device-002", window)
        assert {k: v for k, v in again.items() if k != "updatedAt"} == {
            k: v for k, v in doc.items() if k != "updatedAt"
        }
    assert hourly(pool) == rollups
    assert redis.get(keys.current("device-002")) == current


def test_the_windows_are_rebuilt_from_postgresql_after_redis_loses_its_data(aggregate, pool, redis):
    readings = series("device-001", NOW - timedelta(seconds=10), 300, 15.0, seed=2)
    feed(aggregate, pool, readings[:200], readings[200:])
    redis.flushall()
    one_more = reading("device-001", NOW, 77.77)
    feed(aggregate, pool, [one_more])
    everything = [*readings, one_more]
    assert_stats(stats_doc(redis, "device-001", "1h"), expected(everything, since=hour_start(epoch(one_more))))
    assert_stats(stats_doc(redis, "device-001", "24h"), expected(everything))
    assert json.loads(redis.get(keys.current("device-001")))["value"] == 77.77


def test_late_readings_count_in_the_day_once_and_never_in_the_hour(aggregate, pool, redis):
    recent = series("device-002", NOW, 60, 10.0, seed=3)
    late = series("device-002", NOW - timedelta(hours=3), 30, 10.0, seed=4)
    feed(aggregate, pool, recent, late)
    aggregate([event(late)])  # redelivered: older than the hour, checked against PostgreSQL
    assert_stats(stats_doc(redis, "device-002", "1h"), expected(recent))
    assert_stats(stats_doc(redis, "device-002", "24h"), expected(recent + late))
    assert json.loads(redis.get(keys.current("device-002")))["timestamp"] == recent[-1].timestamp


def test_late_readings_within_the_hour_count_exactly_once_in_both_windows(aggregate, pool, redis):
    on_time = series("device-001", NOW, 120, 20.0, seed=8)  # 40 minutes
    between = [reading("device-001", datetime.fromisoformat(r.timestamp) + timedelta(seconds=7), 60.0 + i % 7)
               for i, r in enumerate(on_time[30:60])]  # fmt: skip
    feed(aggregate, pool, on_time, between)  # at or before the newest reading: their minutes come from PostgreSQL
    aggregate([event(between)])  # and again: nothing changes
    everything = on_time + between
    end = epoch(on_time[-1])
    assert_stats(stats_doc(redis, "device-001", "1h"), expected(everything, since=hour_start(end)))
    assert_stats(stats_doc(redis, "device-001", "24h"), expected(everything))
    assert json.loads(redis.get(keys.SYSTEM_METRICS))["dataPointsLastHour"] == len(everything)


def test_a_redelivery_does_not_count_readings_committed_after_it_twice(aggregate, pool, redis):
    readings = series("device-003", NOW, 90, 2.0, seed=9)  # 3 minutes, so batches share minutes
    first, second = readings[:50], readings[50:]
    feed(aggregate, pool, first)
    store(pool, second)  # ingest committed the next batch; aggregate has not had it yet
    aggregate([event(first[-10:])])  # a redelivery: its minute is recomputed up to the newest applied reading only
    aggregate([event(second)])
    end = epoch(readings[-1])
    assert_stats(stats_doc(redis, "device-003", "1h"), expected(readings, since=hour_start(end)))
    assert_stats(stats_doc(redis, "device-003", "24h"), expected(readings))


def test_redis_memory_per_device_is_bounded_whatever_the_rate(aggregate, pool, redis):
    """1 reading/s for the last 2 hours, one every 10 minutes for the 22 before: all 60 minute and 24 hour buckets
    are in use; the device's windows stay a compact hash under 10 kB (before issue #14: ~ 0.8 MB at 1 reading/s)."""
    sparse = series("device-002", NOW - timedelta(hours=2), 132, 600.0, seed=10)[:-1]
    dense = series("device-002", NOW, 7200, 1.0, seed=11)
    feed(aggregate, pool, sparse, *(dense[i : i + 600] for i in range(0, len(dense), 600)))
    windows = live_windows.keys("device-002")[0]
    assert redis.hlen(windows) <= 60 + 24 + 6
    assert redis.object("encoding", windows) in (b"ziplist", b"listpack")
    used = redis.memory_usage(windows, samples=0)
    assert used < 10_000, used
    everything = sparse + dense
    end = epoch(dense[-1])
    hour = stats_doc(redis, "device-002", "1h")
    assert_stats(hour, expected(everything, since=hour_start(end)))
    assert hour["count"] > 3540
    assert_stats(stats_doc(redis, "device-002", "24h"), expected(everything, since=day_start(end)))


def test_a_decommissioned_device_is_forgotten_and_the_others_are_not(aggregate, pool, redis, redis_url):
    feed(aggregate, pool, series("device-001", NOW, 10, 2.0), series("device-002", NOW, 10, 3.0))

    async def forget() -> None:
        client = aioredis.Redis.from_url(redis_url)
        await device_state.forget(client, "device-001")
        await client.aclose()

    with ThreadPoolExecutor(1) as thread:  # its own event loop, whatever an earlier test left running here
        thread.submit(asyncio.run, forget()).result()
    assert not any(redis.exists(key) for key in device_state.device_keys("device-001"))
    assert all(redis.exists(key) for key in device_state.device_keys("device-002") if "rules:" not in key)
    assert redis.zscore(live_windows.DEVICES_SEEN, "device-001") is None
    assert redis.zscore(live_windows.DEVICES_SEEN, "device-002") is not None
    assert sum(int(n) for n in redis.hvals(live_windows.SYSTEM_MINUTES)) == 20


def test_sensor_data_is_published_in_python_socketio_format_to_the_device_room(aggregate, pool, redis):
    # python-socketio >= 5.12's RedisManager publishes its message as JSON (older versions pickled it).
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(keys.SOCKETIO_CHANNEL)
    wait_for(lambda: pubsub.get_message(timeout=0.1) is None and redis.pubsub_numsub(keys.SOCKETIO_CHANNEL)[0][1])
    redis.zadd(watched.WATCHED, watched.marks(["device-001", "device-002"], time.time()))  # as the service does
    few = series("device-002", NOW - timedelta(minutes=5), 3, 3.0, seed=5)
    many = series("device-001", NOW, 50, 1.0, seed=6)
    unwatched = series("device-003", NOW, 5, 1.0, seed=7)
    feed(aggregate, pool, few, unwatched, many)
    messages = []
    wait_for(
        lambda: (
            ((m := pubsub.get_message(timeout=0.1)) and messages.append(json.loads(m["data"]))) or len(messages) >= 4
        )
    )
    pubsub.close()
    assert [m["room"] for m in messages] == ["device:device-002"] * 3 + ["device:device-001"]
    assert all(m["method"] == "emit" and m["event"] == "sensor-data" and m["namespace"] == "/" for m in messages)
    stats_1h = stats_doc(redis, "device-002", "1h")
    assert messages[0]["data"] == [
        {
            "deviceId": "device-002",
            "timestamp": few[0].timestamp,
            "data": {"value": few[0].value, "unit": "psi", "status": "warning" if few[0].value > 50 else "normal"},
            "stats": {
                "avg": stats_1h["avg"],
                "trend": stats_1h["trend"],
                "min": stats_1h["min"],
                "max": stats_1h["max"],
            },
        }
    ]
    assert messages[3]["data"][0]["timestamp"] == many[-1].timestamp  # 50 readings of one device: only the latest


def test_sensor_data_is_sent_only_for_watched_devices_and_a_new_mark_is_seen_within_a_second(aggregate, pool, redis):
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(keys.SOCKETIO_CHANNEL)
    wait_for(lambda: pubsub.get_message(timeout=0.1) is None and redis.pubsub_numsub(keys.SOCKETIO_CHANNEL)[0][1])
    feed(aggregate, pool, [reading("device-001", NOW - timedelta(seconds=3), 50.0)])
    assert pubsub.get_message(timeout=0.5) is None  # nobody watches device-001
    redis.zadd(watched.WATCHED, watched.marks(["device-001"], time.time()))
    time.sleep(watched.READ_EVERY_S)
    feed(aggregate, pool, [reading("device-001", NOW - timedelta(seconds=2), 51.0)])
    message = json.loads(wait_for(lambda: pubsub.get_message(timeout=0.1))["data"])
    assert message["room"] == "device:device-001" and message["data"][0]["data"]["value"] == 51.0
    redis.zadd(watched.WATCHED, {"device-001": time.time() - 1})  # a mark that lapsed
    time.sleep(watched.READ_EVERY_S)
    feed(aggregate, pool, [reading("device-001", NOW - timedelta(seconds=1), 52.0)])
    assert pubsub.get_message(timeout=0.5) is None
    pubsub.close()


def test_a_configuration_change_applies_after_the_cache_ttl(aggregate, pool, redis):
    feed(aggregate, pool, [reading("device-001", NOW - timedelta(seconds=2), 82.0)])
    assert json.loads(redis.get(keys.current("device-001")))["status"] == "warning"
    with pool.connection() as conn:
        conn.execute("UPDATE devices SET alert_max = 81 WHERE device_id = 'device-001'")
    feed(aggregate, pool, [reading("device-001", NOW, 82.0)])
    assert json.loads(redis.get(keys.current("device-001")))["status"] == "critical"


def test_system_metrics(aggregate, pool, redis):
    now = datetime.now(UTC).replace(microsecond=0)  # 'active' means heard from lately: not the module's now
    feed(aggregate, pool, series("device-001", now, 10, 2.0), series("device-002", now, 10, 3.0))
    metrics = json.loads(redis.get(keys.SYSTEM_METRICS))
    assert metrics == {
        "totalDevices": 5,
        "activeDevices": 2,
        "activeAlertsCount": 0,
        "dataPointsLastHour": 20,
        "systemHealth": "degraded",
    }
    redis.set(keys.ALERTS_ACTIVE, json.dumps([{"id": "alert-001"}, {"id": "alert-002"}]))
    feed(aggregate, pool, [reading("device-001", now + timedelta(seconds=1), 50.0)])
    metrics = json.loads(redis.get(keys.SYSTEM_METRICS))
    assert metrics["activeAlertsCount"] == 2 and metrics["dataPointsLastHour"] == 21
    assert redis.get(keys.ALERTS_ACTIVE) is not None
