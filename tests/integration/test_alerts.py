"""evaluate-rule and escalate-cron on real PostgreSQL and Redis, with the in-process transport.

The machines run on the readings' own timestamps, so no test sleeps.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

import msgspec
import pytest
import redis as redis_lib
from jsonschema import Draft202012Validator, FormatChecker
from psycopg_pool import ConnectionPool

from eventing import topics
from eventing.binding import decode, json_data
from eventing.events import PING, READING, batch_event, make_event
from eventing.memory import MemoryTransport
from eventing.transport import waiting_s
from functions.escalate_cron import EscalateCron
from functions.evaluate_rule import EvaluateRule
from iotmon.adapters.postgres import alerts
from iotmon.adapters.redis import active_alerts
from iotmon.adapters.redis.keys import ALERTS_ACTIVE, current
from iotmon.adapters.redis.rule_state import state_key
from iotmon.core.contracts.alerts import ActiveAlert
from tests.support.database import sql
from tests.support.paths import SCHEMA_DIR

VALIDATOR = Draft202012Validator(
    json.loads((SCHEMA_DIR / "events" / "alert.schema.json").read_text()),
    format_checker=FormatChecker(),
)
BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
TESTS = "/tests"  # the CloudEvent source of the changes these tests make themselves


@dataclass
class Env:
    url: str  # the clean database
    redis: redis_lib.Redis  # emptied
    transport: MemoryTransport  # where the functions publish their alert events
    pool: Callable[[], ConnectionPool]  # a new pool per call: one per evaluator, as replicas have


@pytest.fixture
def env(clean_db, redis, new_pool) -> Env:
    return Env(clean_db, redis, MemoryTransport(), new_pool)


def readings(values, device="device-001", start=0, period=2.0):
    """Readings of `device` every `period` s from BASE + start s."""
    return [
        {
            "deviceId": device,
            "timestamp": (BASE + timedelta(seconds=start + period * i)).isoformat().replace("+00:00", "Z"),
            "sensorType": "temperature",
            "value": value,
            "unit": "celsius",
        }
        for i, value in enumerate(values)
    ]


def batch(items):
    event = batch_event(items, "/test", key=items[0]["deviceId"])
    event.data = json.dumps(event.data).encode()  # as it arrives from Kafka: bytes
    return event


def events(transport):
    found = []
    for record in transport.records(topics.ALERTS):
        event = decode(record.headers, record.key, record.value)
        found.append((event["type"], json_data(event)))
    return found


def history(url):
    return sql(
        url,
        "SELECT alert_id, action, from_status, to_status, actor FROM alert_history ORDER BY id",
    )


def test_a_breach_gives_one_alert_and_recovery_resolves_it_after_clear_after_s(env):
    evaluate = EvaluateRule(env.pool(), env.redis, env.transport)
    normal = readings([70.0] * 10)
    breach = readings([91.0, 91.5, 90.0, 92.0, 86.0], start=20)  # 91 is 6 past 85: 10 % of the span 60, medium
    assert evaluate([batch(normal)]) == []
    changes = evaluate([batch(breach)])
    assert [c.action for c in changes] == ["triggered"]
    rows = sql(
        env.url,
        "SELECT id, alert_type, severity, status, value, threshold, triggered_at FROM alerts",
    )
    assert len(rows) == 1
    number, kind, severity, status, value, threshold, triggered_at = rows[0]
    assert (kind, severity, status, float(value), float(threshold)) == (
        "threshold_exceeded",
        "medium",
        "triggered",
        91.0,
        85.0,
    )
    assert triggered_at == BASE + timedelta(seconds=20)  # the first breach: one reading is enough
    active = json.loads(env.redis.get(ALERTS_ACTIVE))
    assert [(a["id"], a["deviceId"], a["type"], a["severity"], a["threshold"]) for a in active] == [
        (f"alert-{number:03d}", "device-001", "threshold_exceeded", "medium", 85.0)
    ]
    # Back to normal at t = 30 s: resolved by the first reading 30 s later (clear_after_s 30), not before.
    recovery = readings([70.0] * 20, start=30)
    changes = evaluate([batch(recovery[:15])])  # up to t = 58 s
    assert changes == []
    changes = evaluate([batch(recovery[15:])])
    assert [c.action for c in changes] == ["resolved"]
    assert changes[0].timestamp == (BASE + timedelta(seconds=60)).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )
    assert json.loads(env.redis.get(ALERTS_ACTIVE)) == []
    assert history(env.url) == [
        (number, "triggered", None, "triggered", "system"),
        (number, "resolved", "triggered", "resolved", "system"),
    ]
    sent = events(env.transport)
    assert [t for t, _ in sent] == [
        "io.iotmon.alert.triggered.v1",
        "io.iotmon.alert.resolved.v1",
    ]
    sequences = [row[0] for row in sql(env.url, "SELECT id FROM alert_history ORDER BY id")]
    assert [data["sequence"] for _, data in sent] == sequences
    for _, data in sent:
        assert not list(VALIDATOR.iter_errors(data)), data


def test_redelivery_changes_nothing(env):
    evaluate = EvaluateRule(env.pool(), env.redis, env.transport)
    event = batch(readings([70.0] * 5 + [90.0] * 5))
    assert len(evaluate([event])) == 1
    before = (
        history(env.url),
        len(events(env.transport)),
        env.redis.hgetall(state_key("device-001")),
    )
    assert evaluate([event]) == []
    assert EvaluateRule(env.pool(), env.redis, env.transport)([event]) == []  # another replica too
    assert (
        history(env.url),
        len(events(env.transport)),
        env.redis.hgetall(state_key("device-001")),
    ) == before


def test_parallel_evaluators_make_no_duplicates(env):
    devices = ["device-001", "device-002"]
    values = [50.0] * 10 + [99.0] * 10 + [40.0] * 30  # breach, then recovery past clear_after_s
    plans = []
    for device in devices:
        items = readings(values, device=device)
        plans.append(
            [
                batch(items[:15]),
                batch(items[5:20]),
                batch(items[:15]),
                batch(items[15:40]),
                batch(items[30:]),
                batch(items[:20]),
            ]
        )
    evaluators = [EvaluateRule(env.pool(), env.redis, env.transport) for _ in range(4)]
    start = threading.Barrier(len(evaluators))
    errors = []

    def work(evaluate, shift):
        start.wait()
        try:
            for step in range(6):
                for plan in plans[shift % 2 :] + plans[: shift % 2]:
                    evaluate([plan[(step + shift) % 6]] if shift >= 2 else [plan[step]])
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(evaluate, n)) for n, evaluate in enumerate(evaluators)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    # (a step in the data may also raise a trend or anomaly alert, depending on the windows each replica saw)
    assert sql(
        env.url,
        "SELECT device_id, alert_type, count(*) FROM alerts WHERE alert_type LIKE 'threshold%%' GROUP BY 1, 2 ORDER BY 1",
    ) == [
        ("device-001", "threshold_exceeded", 1),
        ("device-002", "threshold_exceeded", 1),
    ]
    actions = sql(
        env.url,
        "SELECT alert_id, action, count(*) FROM alert_history GROUP BY 1, 2 HAVING count(*) > 1",
    )
    assert actions == []  # no duplicate history
    assert (
        sql(
            env.url,
            "SELECT device_id, alert_type, status, count(*) FROM alerts GROUP BY 1, 2, 3"
            " HAVING count(*) > 1 AND status <> 'resolved'",
        )
        == []
    )
    sent = [data for _, data in events(env.transport) if data["type"] == "threshold_exceeded"]
    assert len({(d["alertId"], d["sequence"]) for d in sent}) == len(sent)
    assert sorted((d["deviceId"], d["action"]) for d in sent) == [
        ("device-001", "resolved"),
        ("device-001", "triggered"),
        ("device-002", "resolved"),
        ("device-002", "triggered"),
    ]


def test_a_config_change_applies_without_restart(env):
    evaluate = EvaluateRule(env.pool(), env.redis, env.transport, config_ttl_s=0)
    assert evaluate([batch(readings([84.0] * 5))]) == []
    sql(
        env.url,
        "UPDATE devices SET alert_max = 80, breach_count = 3 WHERE device_id = 'device-001'",
    )
    changes = evaluate([batch(readings([84.0] * 3, start=10))])
    assert [(c.action, c.threshold, c.type) for c in changes] == [("triggered", 80.0, "threshold_exceeded")]
    assert changes[0].triggered_at == (BASE + timedelta(seconds=14)).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )


def test_severity_rise_is_one_update_and_flapping_notifies_once(env):
    sql(
        env.url,
        "UPDATE devices SET breach_count = 1, clear_after_s = 0 WHERE device_id = 'device-001'",
    )
    evaluate = EvaluateRule(env.pool(), env.redis, env.transport)
    changes = evaluate([batch(readings([86.0, 95.0, 94.0, 70.0]))])
    assert [(c.action, c.severity) for c in changes] == [
        ("triggered", "low"),
        ("updated", "high"),
        ("resolved", "high"),
    ]
    changes = evaluate([batch(readings([86.0, 70.0, 86.0, 70.0, 86.0, 70.0], start=10))])
    assert [c.action for c in changes] == [
        "triggered",
        "updated",
    ]  # the second exit: 4 transitions in 10 min
    assert changes[1].details["flapping"] is True
    assert sql(
        env.url,
        "SELECT status, details->>'flapping' FROM alerts ORDER BY id DESC LIMIT 1",
    ) == [("triggered", "true")]
    for _, data in events(env.transport):
        assert not list(VALIDATOR.iter_errors(data)), data


def test_lost_redis_state_resumes_from_postgresql(env):
    evaluate = EvaluateRule(env.pool(), env.redis, env.transport)
    evaluate([batch(readings([60.0, 61.0], device="device-002", start=10))])
    assert sql(env.url, "SELECT alert_type, status FROM alerts") == [("threshold_exceeded", "triggered")]
    env.redis.flushdb()  # Redis loses everything
    changes = EvaluateRule(env.pool(), env.redis, env.transport)(
        [batch(readings([30.0] * 20, device="device-002", start=20))]
    )
    assert [c.action for c in changes] == ["resolved"]


def test_operators_acknowledge_and_resolve_with_clear_errors(env):
    with env.pool().connection() as conn:
        made = alerts.trigger(
            conn,
            "device-003",
            "threshold_exceeded",
            severity="high",
            message="m",
            value=130,
            threshold=120,
            details={},
            at=BASE,
            source=TESTS,
        )
        number = int(made.alert_id.split("-")[1])
        acked = alerts.acknowledge(conn, number, "alice", "looking", source=TESTS)
        assert (acked.action, acked.status, acked.actor, acked.note) == (
            "acknowledged",
            "acknowledged",
            "alice",
            "looking",
        )
        with pytest.raises(alerts.InvalidTransition, match="is acknowledged: it cannot be acknowledged"):
            alerts.acknowledge(conn, number, "bob", None, source=TESTS)
        assert alerts.escalate_due(conn, datetime.now(UTC), at=datetime.now(UTC), source=TESTS) == []
        resolved = alerts.resolve(conn, number, "alice", "fixed the fan", source=TESTS)
        assert (resolved.status, resolved.actor) == ("resolved", "alice")
        with pytest.raises(alerts.InvalidTransition, match="is resolved"):
            alerts.resolve(conn, number, "alice", None, source=TESTS)
        with pytest.raises(alerts.AlertNotFound):
            alerts.acknowledge(conn, 999_999, "alice", None, source=TESTS)
        assert [h.action for h in alerts.history(conn, number)] == [
            "triggered",
            "acknowledged",
            "resolved",
        ]
        assert not list(VALIDATOR.iter_errors(msgspec.to_builtins(acked)))
        assert not list(VALIDATOR.iter_errors(msgspec.to_builtins(resolved)))


def ping():
    return make_event(
        PING,
        "/apis/v1/namespaces/iot-monitoring/pingsources/escalate-cron-tick",
        {"job": "escalate"},
    )


def test_unacknowledged_alerts_escalate_once_even_with_ticks_at_once(env):
    evaluate = EvaluateRule(env.pool(), env.redis, env.transport)
    evaluate([batch(readings([95.0] * 3))])
    sql(env.url, "UPDATE alerts SET triggered_at = now() - interval '10 seconds'")
    crons = [EscalateCron(env.pool(), env.redis, env.transport, escalate_after_s=1, retention=False) for _ in range(3)]
    results = [None] * 3
    start = threading.Barrier(3)

    def tick(n):
        start.wait()
        results[n] = crons[n]([ping()])

    threads = [threading.Thread(target=tick, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    escalated = [c for result in results for c in result if c.action == "escalated"]
    assert len(escalated) == 1 and escalated[0].status == "escalated"
    assert crons[0]([ping()]) == []  # the next tick: nothing left to escalate
    assert sql(env.url, "SELECT count(*) FROM alert_history WHERE action = 'escalated'") == [(1,)]
    assert [t for t, _ in events(env.transport)][-1] == "io.iotmon.alert.escalated.v1"
    assert json.loads(env.redis.get(ALERTS_ACTIVE))[0]["status"] == "escalated"


def test_device_offline_is_raised_and_resolved_when_data_returns(env):
    now = datetime.now(UTC)
    cron = EscalateCron(env.pool(), env.redis, env.transport, retention=False)
    env.redis.set(
        current("device-001"),
        json.dumps(
            {
                "value": 70,
                "timestamp": (now - timedelta(seconds=45)).isoformat(),
                "status": "normal",
            }
        ),
    )
    env.redis.set(
        current("device-003"),
        json.dumps(
            {
                "value": 50,
                "timestamp": (now - timedelta(seconds=5)).isoformat(),
                "status": "normal",
            }
        ),
    )
    sql(  # device-002 is not in Redis: last seen comes from sensor_readings
        env.url,
        "INSERT INTO sensor_readings (device_id, timestamp, sensor_type, value, unit) VALUES ('device-002', %s, 'pressure', 30, 'psi')",
        now - timedelta(seconds=120),
    )
    changes = cron([ping()])
    assert sorted((c.device_id, c.type, c.action, c.severity) for c in changes) == [
        ("device-001", "device_offline", "triggered", "high"),
        ("device-002", "device_offline", "triggered", "high"),
    ]
    assert changes[0].threshold == 30.0 and changes[0].details["silentSeconds"] > 30
    assert cron([ping()]) == []  # still offline: still one alert, no new event
    env.redis.set(
        current("device-001"),
        json.dumps(
            {
                "value": 71,
                "timestamp": datetime.now(UTC).isoformat(),
                "status": "normal",
            }
        ),
    )
    changes = cron([ping()])
    assert [(c.device_id, c.action) for c in changes] == [("device-001", "resolved")]
    assert sql(env.url, "SELECT device_id FROM alerts WHERE status <> 'resolved'") == [("device-002",)]
    for _, data in events(env.transport):
        assert not list(VALIDATOR.iter_errors(data)), data


def test_a_plant_going_silent_opens_every_offline_alert_in_one_tick_and_coming_back_resolves_them(env):
    ids = [f"pump-{i:04d}" for i in range(2_000)]
    sql(
        env.url,
        "INSERT INTO devices (device_id, name, device_type, location, unit) SELECT id, id, 'pressure', 'line-1', 'psi'"
        " FROM unnest(%s::text[]) AS id",
        ids,
    )
    now = datetime.now(UTC)

    def last_seen(seconds_ago):
        stamp = (now - timedelta(seconds=seconds_ago)).isoformat()
        env.redis.mset({current(d): json.dumps({"value": 1, "timestamp": stamp, "status": "normal"}) for d in ids})

    last_seen(60)  # the whole line went silent a minute ago
    cron = EscalateCron(env.pool(), env.redis, env.transport, retention=False, clock=lambda: now)
    opened = [c for c in cron([ping()]) if c.device_id in ids]
    assert len(opened) == len(ids) and {(c.action, c.type, c.severity) for c in opened} == {
        ("triggered", "device_offline", "high")
    }
    assert all(c.details["silentSeconds"] == 60.0 and c.threshold == 30.0 for c in opened)
    assert [c.sequence for c in opened] == sorted(c.sequence for c in opened)  # history rows in their order
    assert cron([ping()]) == []  # still silent: nothing new
    last_seen(1)  # back
    resolved = cron([ping()])
    assert sorted(c.device_id for c in resolved) == ids and {c.action for c in resolved} == {"resolved"}
    assert sql(env.url, "SELECT action, count(*) FROM alert_history GROUP BY 1 ORDER BY 1") == [
        ("resolved", 2_000),
        ("triggered", 2_000),
    ]
    published = [t for t, data in events(env.transport) if data["deviceId"] in ids]
    assert published.count("io.iotmon.alert.triggered.v1") == published.count("io.iotmon.alert.resolved.v1") == 2_000


def test_a_device_is_not_offline_for_readings_the_pipeline_has_not_reached_yet(env):
    now = datetime.now(UTC)
    env.redis.set(
        current("device-001"),
        json.dumps({"value": 70, "timestamp": (now - timedelta(seconds=60)).isoformat(), "status": "normal"}),
    )
    # Readings accepted 45 s ago wait for ingest (its group has committed nothing on sensors-data): the device's
    # minute of silence is 15 s of silence in the data the system has had.
    queued = make_event(READING, "/tests", readings([70.0])[0], key="device-001")
    queued["time"] = (now - timedelta(seconds=45)).isoformat()
    env.transport.publish(topics.SENSORS_DATA, [queued])
    feeds = [(topics.SENSORS_DATA, "ingest")]
    assert waiting_s(env.transport, feeds, now) == pytest.approx(45.0, abs=0.01)
    waiting = partial(waiting_s, env.transport, feeds)
    cron = EscalateCron(env.pool(), env.redis, env.transport, retention=False, clock=lambda: now, waiting=waiting)
    assert cron([ping()]) == []
    later = now + timedelta(seconds=20)  # ingest still stuck at the same event: 80 s silent, 65 s behind
    cron = EscalateCron(env.pool(), env.redis, env.transport, retention=False, clock=lambda: later, waiting=waiting)
    assert cron([ping()]) == []
    sql(env.url, "UPDATE devices SET offline_timeout_s = 10 WHERE device_id = 'device-001'")
    (opened,) = cron([ping()])  # 15 s of silence past what is queued: offline, and the alert says why so late
    assert opened.details["silentSeconds"] == 80.0 and opened.details["pipelineBehindSeconds"] == 65.0


def test_a_broker_that_cannot_say_how_far_behind_the_pipeline_is_does_not_stop_the_offline_check(env):
    now = datetime.now(UTC)
    env.redis.set(
        current("device-001"),
        json.dumps({"value": 70, "timestamp": (now - timedelta(seconds=60)).isoformat(), "status": "normal"}),
    )

    def unreachable(_now: datetime) -> float:
        raise RuntimeError("broker down")

    cron = EscalateCron(env.pool(), env.redis, env.transport, retention=False, clock=lambda: now, waiting=unreachable)
    assert [(c.device_id, c.type) for c in cron([ping()])] == [("device-001", "device_offline")]


def test_a_device_whose_readings_ingest_stored_is_not_offline_while_aggregate_runs_behind(env):
    now = datetime.now(UTC)
    cron = EscalateCron(env.pool(), env.redis, env.transport, retention=False)
    # aggregate's current value is 45 s old (it runs behind), but ingest stored a reading 2 s ago
    env.redis.set(
        current("device-001"),
        json.dumps({"value": 70, "timestamp": (now - timedelta(seconds=45)).isoformat(), "status": "normal"}),
    )
    sql(
        env.url,
        "INSERT INTO sensor_readings (device_id, timestamp, sensor_type, value, unit)"
        " VALUES ('device-001', %s, 'temperature', 70, 'celsius')",
        now - timedelta(seconds=2),
    )
    assert [c for c in cron([ping()]) if c.device_id == "device-001"] == []


def test_the_active_alerts_document_postgresql_builds_is_the_contracts_list(env):
    pool = env.pool()
    at = datetime(2026, 5, 1, 8, 30, 15, 123_456, tzinfo=UTC)
    with pool.connection() as conn:
        conn.execute("SELECT setval('alerts_id_seq', 1, false)")  # an id below 100, whatever ran before
        alerts.trigger(conn, "device-001", "threshold_exceeded", severity="high", message='over "85" °C',
                       value=91.5, threshold=85.0, details={}, at=at, source=TESTS)  # fmt: skip
        conn.execute("SELECT setval('alerts_id_seq', 1233)")  # an id past three digits
        alerts.trigger(conn, "device-002", "device_offline", severity="critical", message="silent",
                       value=None, threshold=30.0, details={}, at=at + timedelta(seconds=1), source=TESTS)  # fmt: skip
        alerts.trigger(conn, "device-003", "data_anomaly", severity="low", message="odd",
                       value=-0.07, threshold=None, details={}, at=at - timedelta(days=400), source=TESTS)  # fmt: skip
        document = json.loads(alerts.open_alerts_document(conn))
        expected = msgspec.to_builtins(alerts.open_alerts(conn))
    assert document == expected
    assert [a["id"] for a in document][::2] == ["alert-1234", "alert-1235"]  # newest first; ids past 999 whole
    assert len(document[1]["id"]) == len("alert-001")  # ids below 100 padded to three digits
    assert document[1]["timestamp"] == "2026-05-01T08:30:15.123Z"
    msgspec.convert(document, list[ActiveAlert])  # the contract's names and types, nothing else


def test_retention_drops_expired_data(env):
    sql(
        env.url,
        "SELECT ensure_sensor_readings_partitions(now() - interval '5 months', now() - interval '5 months')",
    )
    old_partition = sql(
        env.url,
        "SELECT to_char(now() - interval '5 months', '\"sensor_readings_\"YYYY_MM')",
    )[0][0]
    sql(
        env.url,
        "INSERT INTO device_stats_hourly (device_id, hour_timestamp) VALUES ('device-001', now() - interval '2 years'), ('device-001', now())",
    )
    sql(
        env.url,
        "INSERT INTO system_events (event_type, timestamp) VALUES ('old', now() - interval '2 months'), ('new', now())",
    )
    sql(
        env.url,
        "INSERT INTO alerts (device_id, alert_type, message, status, triggered_at, resolved_at) VALUES"
        " ('device-001', 'threshold_exceeded', 'old', 'resolved', now() - interval '8 months', now() - interval '7 months'),"
        " ('device-001', 'threshold_exceeded', 'recent', 'resolved', now() - interval '2 months', now() - interval '1 month')",
    )
    cron = EscalateCron(env.pool(), env.redis, env.transport)
    cron([ping()])
    assert old_partition in cron.last_tick["droppedPartitions"]
    assert sql(env.url, "SELECT to_regclass(%s)", old_partition) == [(None,)]
    assert sql(env.url, "SELECT count(*) FROM device_stats_hourly") == [(1,)]
    assert sql(env.url, "SELECT event_type FROM system_events") == [("new",)]
    assert sql(env.url, "SELECT message FROM alerts") == [("recent",)]


def test_a_device_whose_rule_state_is_lost_judges_its_next_reading_from_the_stored_history(env):
    # Three hours of steady readings in PostgreSQL (as ingest stored them), and no rule state in Redis: a new
    # evaluator, or one after Redis lost its data. The anomaly detector judges only after its warm-up (288
    # reporting periods): without the history the out-of-pattern reading below would pass unseen.
    start = BASE - timedelta(hours=3)
    sql(
        env.url,
        "INSERT INTO sensor_readings (device_id, timestamp, sensor_type, value, unit)"
        " SELECT 'device-001', %s::timestamptz + i * interval '2 seconds', 'temperature',"
        " 50 + 0.3 * sin(i), 'celsius' FROM generate_series(0, 5399) AS i",
        start,
    )
    evaluate = EvaluateRule(env.pool(), env.redis, env.transport)
    changes = evaluate([batch(readings([50.1, 65.0], start=0))])  # 65: inside the limits, far off the pattern
    assert [(c.type, c.action) for c in changes] == [("data_anomaly", "triggered")]
    assert changes[0].details["expected"] == pytest.approx(50, abs=0.5)
    assert sql(env.url, "SELECT count(*) FROM alert_history")[0][0] == 1  # the history's own verdicts made nothing


def test_alerts_active_is_rewritten_once_for_writers_at_once_and_never_left_behind(env):
    """Writers that change alerts while another rewrites `alerts:active` leave it to that one; a rewrite never
    replaces a newer document; one left behind shows as stale (the service's loop rewrites it)."""
    pool = env.pool()
    built: list[int] = []

    def document() -> bytes:
        with pool.connection() as conn:
            built.append(1)
            return alerts.open_alerts_document(conn)

    def open_one(device: str) -> None:
        with pool.connection() as conn:
            alerts.trigger(conn, device, "threshold_exceeded", severity="high", message="over", value=91.0,
                           threshold=85.0, details={}, at=datetime.now(UTC), source=TESTS)  # fmt: skip

    open_one("device-001")
    active_alerts.changed(env.redis, document)
    assert [a["deviceId"] for a in json.loads(env.redis.get(ALERTS_ACTIVE))] == ["device-001"]
    # Another writer is rewriting (it holds the lease): a change now only moves the generation.
    env.redis.set(active_alerts.LEASE, "someone", px=active_alerts.LEASE_MS)
    open_one("device-002")
    active_alerts.changed(env.redis, document)
    assert len(json.loads(env.redis.get(ALERTS_ACTIVE))) == 1 and len(built) == 1
    assert active_alerts.is_stale(*env.redis.mget(active_alerts.STATE))
    env.redis.delete(active_alerts.LEASE)
    active_alerts.rewrite(env.redis, document)
    assert {a["deviceId"] for a in json.loads(env.redis.get(ALERTS_ACTIVE))} == {"device-001", "device-002"}
    assert not active_alerts.is_stale(*env.redis.mget(active_alerts.STATE))
    # A slow rewrite that read an older generation does not replace the newer document.
    env.redis.eval(active_alerts._STORE, 2, ALERTS_ACTIVE, active_alerts.COVERS, b"[]", 0)
    assert len(json.loads(env.redis.get(ALERTS_ACTIVE))) == 2
