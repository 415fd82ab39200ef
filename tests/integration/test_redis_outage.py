"""A Redis outage under a connected dashboard: the service resubscribes at once and replays what was missed.

A replica of the service runs on a Redis server of this module's own, which
the tests stop and start again; a real Socket.IO client stays connected to the
service throughout. Redis pub/sub keeps nothing, so alert changes published
(or not publishable) while the service's listener was away reach the client
only through the replay from PostgreSQL when the listener subscribes again.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import redis as redis_lib
import socketio

from iotmon.adapters.redis import keys
from iotmon.adapters.redis.live_emitter import LiveEmitter
from iotmon.core.contracts.alerts import AlertChange
from iotmon.core.live import alert_messages
from iotmon.service.live_manager import RETRY_MAX_S
from iotmon.system import System
from tests.support.redis_process import RedisProcess
from tests.support.service import running_system
from tests.support.waiting import wait_for

ALERT_EVENTS = ("alert-triggered", "alert-resolved")
MARKER = "test-marker"


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    server = RedisProcess(tmp_path_factory.mktemp("outage-redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def replica(database_url: str, own_redis: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with running_system(database_url, own_redis.url, tmp_path_factory.mktemp("outage-replica")) as system:
        yield system


@pytest.fixture
def client(replica: System, clean_db: str) -> Iterator[socketio.SimpleClient]:
    """A dashboard: connected, subscribed to the system's and the alerts' messages (nothing to replay yet)."""
    sio = socketio.SimpleClient()
    sio.connect(replica.url, transports=["websocket"])
    assert sio.receive(timeout=5)[0] == "connection-status"
    assert sio.call("subscribe-system")["success"] is True
    assert sio.call("subscribe-alerts", {}) == {"success": True, "replayed": 0}
    yield sio
    sio.disconnect()


def listening(redis_url: str) -> bool:
    """Whether a service replica is subscribed to the Socket.IO channel."""
    with redis_lib.Redis.from_url(redis_url) as store:
        [(_, subscribers)] = store.pubsub_numsub(keys.SOCKETIO_CHANNEL)
        return bool(subscribers)


def new_alert(conn: psycopg.Connection, device: str, alert_type: str) -> int:
    return conn.execute(
        "INSERT INTO alerts (device_id, alert_type, message, severity, status, triggered_at)"
        " VALUES (%s, %s, 'test alert', 'high', 'triggered', now()) RETURNING id",
        (device, alert_type),
    ).fetchone()[0]


def record(conn: psycopg.Connection, alert: int, device: str, alert_type: str, action: str, status: str) -> AlertChange:
    """An alert change committed to PostgreSQL, as notify would receive it."""
    sequence = conn.execute(
        "INSERT INTO alert_history (alert_id, action, to_status) VALUES (%s, %s, %s) RETURNING id",
        (alert, action, status),
    ).fetchone()[0]
    return AlertChange(
        alert_id=f"alert-{alert:03d}", device_id=device, type=alert_type, severity="high", status=status,
        action=action, message="test alert", timestamp="2026-01-01T00:00:00.000Z", sequence=sequence,
    )  # fmt: skip


def publish(redis_url: str, changes: list[AlertChange]) -> int:
    """notify's live messages for the changes; how many replicas heard them."""
    return LiveEmitter(redis_url).send(message for change in changes for message in alert_messages(change))


def receive_until(client: socketio.SimpleClient, done: Any, deadline: float) -> list[tuple[str, Any]]:
    """Every event the client receives until `done(received)` holds; fails at the deadline."""
    received: list[tuple[str, Any]] = []
    while not done(received):
        assert time.monotonic() < deadline, f"still waiting; received {received}"
        with contextlib.suppress(socketio.exceptions.TimeoutError):
            event, data = client.receive(timeout=max(0.1, deadline - time.monotonic()))
            received.append((event, data))
    return received


def sequences(received: list[tuple[str, Any]]) -> Counter[int]:
    return Counter(data["sequence"] for event, data in received if event in ALERT_EVENTS)


def test_the_service_listens_before_any_dashboard_connects(replica, own_redis):
    # python-socketio subscribes at the first connection; until then notify's messages would reach nobody.
    wait_for(lambda: listening(own_redis.url), timeout=5, what="the service to subscribe")


def test_a_dashboard_gets_each_change_it_missed_while_redis_was_down_once(client, replica, own_redis, clean_db):
    with psycopg.connect(clean_db, autocommit=True) as conn:
        pump = new_alert(conn, "device-002", "threshold_exceeded")
        first = record(conn, pump, "device-002", "threshold_exceeded", "triggered", "triggered")
        assert publish(own_redis.url, [first]) == 1  # heard live, before the outage
        receive_until(client, lambda got: sequences(got)[first.sequence], time.monotonic() + 5)

        own_redis.stop()
        offline = new_alert(conn, "device-005", "device_offline")
        missed = [
            record(conn, pump, "device-002", "threshold_exceeded", "acknowledged", "acknowledged"),
            record(conn, offline, "device-005", "device_offline", "triggered", "triggered"),
            record(conn, pump, "device-002", "threshold_exceeded", "resolved", "resolved"),
        ]
        with pytest.raises(redis_lib.ConnectionError):
            publish(own_redis.url, missed)  # what notify meets meanwhile: a retryable failure

    own_redis.start()
    back = time.monotonic()
    publish(own_redis.url, missed[:1])  # notify's retry: heard by nobody until the listener is back (0)
    wanted = {change.sequence for change in missed}
    received = receive_until(client, lambda got: wanted <= set(sequences(got)), back + 5)
    caught_up_s = time.monotonic() - back

    # notify's later retry, heard now: the connection has these changes already, so it is not sent them again.
    assert publish(own_redis.url, missed) == 1
    mark = uuid.uuid4().hex
    LiveEmitter(own_redis.url).emit(MARKER, {"mark": mark}, room=client.sid)  # after everything published above
    received += receive_until(client, lambda got: (MARKER, {"mark": mark}) in got, time.monotonic() + 5)

    assert sequences(received) == Counter(wanted), received  # every missed change, exactly once, nothing older
    replayed = [data["sequence"] for event, data in received if event in ALERT_EVENTS and data.get("replayed")]
    assert replayed == sorted(replayed)
    # device-status is no alert change: a retry may repeat it, and setting a device offline twice changes nothing.
    assert {(data["deviceId"], data["status"]) for event, data in received if event == "device-status"} == {
        ("device-005", "offline")
    }
    print(f"caught up {caught_up_s:.2f} s after Redis returned")
    assert caught_up_s < 4


def test_the_listener_is_back_within_seconds_of_redis_however_long_it_was_down(
    replica, own_redis, caplog: pytest.LogCaptureFixture
):
    assert listening(own_redis.url)
    caplog.set_level(logging.WARNING, logger="iotmon.service.live_manager")

    def retries_at_the_longest_delay() -> int:
        return sum(getattr(r, "retry_in_s", None) == RETRY_MAX_S for r in caplog.records)

    own_redis.stop()
    # Down until the listener has waited the longest delay twice (python-socketio's own would keep doubling).
    wait_for(lambda: retries_at_the_longest_delay() >= 2, timeout=15, what="the listener's retries to reach 2 s")
    own_redis.start()
    back = time.monotonic()
    wait_for(lambda: listening(own_redis.url), timeout=10, what="the service to subscribe again")
    resubscribed_s = time.monotonic() - back
    print(f"resubscribed {resubscribed_s:.2f} s after Redis returned")
    assert resubscribed_s <= RETRY_MAX_S + 1  # restarted as a 2 s wait began: that wait, and a loaded machine
