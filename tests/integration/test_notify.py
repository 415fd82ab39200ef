"""notify against real servers: PostgreSQL, Redis, an SMTP server (aiosmtpd) and an HTTP receiver.

The Socket.IO side is read where the service replicas read it: python-socketio's
Redis manager publishes JSON messages on our channel, and the test subscribes to
that channel and checks event name, payload and room.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import msgspec
import pytest
import redis as redis_lib
from aiosmtpd.controller import Controller
from cloudevents.http import CloudEvent
from psycopg_pool import ConnectionPool

from eventing.events import alert_event
from functions.notify import NotificationsFailed, Notify
from iotmon.adapters.postgres.silences import active_silence, create_silence, list_silences
from iotmon.adapters.redis.keys import SOCKETIO_CHANNEL
from iotmon.adapters.redis.live_emitter import LiveEmitter
from iotmon.core.channels import ChannelConfig, RateLimit, SmtpConfig
from iotmon.core.contracts.alerts import AlertChange
from tests.support.kafka_broker import free_port
from tests.support.waiting import wait_for

SOURCE = "/iotmon/test"


def change(alert: int = 1, action: str = "triggered", severity: str = "high", **extra: Any) -> dict[str, Any]:
    return {
        "alertId": f"alert-{alert:03d}",
        "deviceId": "device-002",
        "type": "threshold_exceeded",
        "severity": severity,
        "status": action if action != "updated" else "triggered",
        "action": action,
        "message": "Pressure reading above threshold",
        "value": 58.5,
        "threshold": 55.0,
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "sequence": alert * 100 + ["triggered", "updated", "acknowledged", "escalated", "resolved"].index(action),
        **extra,
    }


def event_of(fields: dict[str, Any]) -> CloudEvent:
    """The event of an alert change given as JSON, as evaluate-rule or escalate-cron send it."""
    return alert_event(msgspec.convert(fields, AlertChange), SOURCE)


# the servers


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's hook)
        mail = message_from_bytes(envelope.content, policy=policy.default)
        mail["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(mail)
        return "250 OK"


class SmtpServer:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.mailbox = Mailbox()
        self._controller: Controller | None = None

    def start(self) -> SmtpServer:
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller:
            self._controller.stop()
            self._controller = None

    @property
    def messages(self) -> list[EmailMessage]:
        return self.mailbox.messages


class Receiver(ThreadingHTTPServer):
    """Records every POST; answers with `status`."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], Any]] = []
        self.status = 204
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/alerts"

    @property
    def bodies(self) -> list[Any]:
        return [body for _, body in self.requests]


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append(({k.lower(): v for k, v in self.headers.items()}, json.loads(body)))
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


class LiveView:
    """What the service replicas receive from the Redis manager: (event, data, room).

    It also listens on a channel of its own: `drain()` publishes a marker there and reads until the marker
    comes back. Redis delivers a subscriber's messages in the order they were published, and notify publishes
    before it returns, so by then everything notify sent has arrived, and nothing else can still come."""

    def __init__(self, redis_url: str) -> None:
        self._client = redis_lib.Redis.from_url(redis_url)
        self._pubsub = self._client.pubsub()
        self._marks = f"test:live-view:{uuid.uuid4().hex}"
        self._pubsub.subscribe(SOCKETIO_CHANNEL, self._marks)
        confirmed = 0
        while confirmed < 2:  # subscribed (Redis answers once it is): what is published from now on reaches us
            message = self._pubsub.get_message(timeout=10)
            assert message is not None, "Redis did not confirm the live view's subscriptions"
            confirmed += message["type"] == "subscribe"
        self.seen: list[tuple[str, Any, str]] = []

    def drain(self, timeout: float = 10.0) -> list[tuple[str, Any, str]]:
        """Everything the live view has heard so far."""
        mark = uuid.uuid4().hex.encode()
        self._client.publish(self._marks, mark)
        deadline = time.monotonic() + timeout
        while True:
            message = self._pubsub.get_message(timeout=max(0.0, deadline - time.monotonic()))
            if message is None:
                assert time.monotonic() < deadline, f"the live view's marker did not come back within {timeout:.0f} s"
            elif message["type"] != "message":
                continue
            elif message["channel"] == self._marks.encode():
                if message["data"] == mark:
                    return self.seen
            else:
                packet = json.loads(message["data"])
                self.seen.append((packet["event"], packet["data"][0], packet["room"]))

    def close(self) -> None:
        self._pubsub.close()
        self._client.close()


@pytest.fixture
def live(redis_url: str) -> Iterator[LiveView]:
    view = LiveView(redis_url)
    yield view
    view.close()


@pytest.fixture
def notify_env(pool: ConnectionPool, redis: redis_lib.Redis, redis_url: str) -> tuple[Any, redis_lib.Redis, Any]:
    """What Notify runs on: a pool on the clean database (no notifications, no silences), the emptied Redis (no
    rate-limit buckets) and the live view's emitter."""
    return pool, redis, LiveEmitter(redis_url)


def make_notify(notify_env, smtp_port: int | None, webhooks: tuple[str, ...] = (), **config: Any) -> Notify:
    pool, client, emitter = notify_env
    smtp = (
        SmtpConfig(host="127.0.0.1", port=smtp_port, recipients=("ops@example.com", "lead@example.com"), timeout=3)
        if smtp_port
        else None
    )
    return Notify(pool, client, emitter, ChannelConfig(smtp=smtp, webhook_urls=webhooks, webhook_timeout=3, **config))


def logged(notify: Notify) -> list[tuple[str, str, str, int]]:
    with notify.pool.connection() as conn:
        return conn.execute(
            "SELECT alert_id, channel, status, attempts FROM notifications ORDER BY alert_id, channel"
        ).fetchall()


# the tests


def test_triggered_goes_live_by_email_and_to_the_webhook(notify_env, smtp, receiver, live):
    notify = make_notify(notify_env, smtp.port, (receiver.url,))
    alert = change(severity="high", details={"breaches": 3})
    event = event_of(alert)
    notify([event])

    [(name, data, room)] = live.drain()
    assert (name, room) == ("alert-triggered", "alerts")
    assert {
        k: data[k] for k in ("alertId", "deviceId", "type", "severity", "message", "value", "threshold", "timestamp")
    } == {
        k: alert[k] for k in ("alertId", "deviceId", "type", "severity", "message", "value", "threshold", "timestamp")
    }
    assert data["status"] == "triggered" and data["action"] == "triggered" and data["details"] == {"breaches": 3}

    [mail] = smtp.messages
    assert mail["Subject"] == "[HIGH] device-002 threshold_exceeded: Pressure reading above threshold"
    assert mail["X-Envelope-To"] == "ops@example.com, lead@example.com"
    text = mail.get_content()
    assert "Alert:        alert-001" in text and "Value:        58.5" in text and "Threshold:    55.0" in text

    [(headers, body)] = receiver.requests
    assert body == msgspec.to_builtins(msgspec.convert(alert, AlertChange))
    assert headers["content-type"] == "application/json"
    assert headers["ce-id"] == event["id"] and headers["ce-type"] == "io.iotmon.alert.triggered.v1"

    assert logged(notify) == [
        ("alert-001", "email", "sent", 1),
        ("alert-001", "socketio", "sent", 1),
        ("alert-001", "webhook", "sent", 1),
    ]


def test_low_severity_goes_only_to_the_webhook(notify_env, smtp, receiver, live):
    notify = make_notify(notify_env, smtp.port, (receiver.url,))
    notify([event_of(change(severity="low"))])
    assert [name for name, _, _ in live.drain()] == ["alert-triggered"]
    assert smtp.messages == []
    assert len(receiver.requests) == 1


def test_a_redelivered_event_sends_nothing_again(notify_env, smtp, receiver, live):
    notify = make_notify(notify_env, smtp.port, (receiver.url,))
    event = event_of(change())
    notify([event, event])  # twice in one batch
    again = notify([event_of(change() | {"timestamp": event.data["timestamp"]})])  # and later, rebuilt
    assert again == []
    assert len(live.drain()) == 1 and len(smtp.messages) == 1 and len(receiver.requests) == 1
    assert [status for _, _, status, _ in logged(notify)] == ["sent", "sent", "sent"]


def test_the_email_bucket_limits_and_records_rate_limited(notify_env, smtp, receiver, live):
    notify = make_notify(notify_env, smtp.port, (receiver.url,), limits={"email": RateLimit(per_minute=1, burst=2)})
    notify([event_of(change(alert=n)) for n in (1, 2, 3)])
    assert len(smtp.messages) == 2
    assert len(receiver.requests) == 3 and len(live.drain()) == 3  # other channels unaffected
    emails = [(alert, status) for alert, channel, status, _ in logged(notify) if channel == "email"]
    assert emails == [("alert-001", "sent"), ("alert-002", "sent"), ("alert-003", "rate_limited")]
    notify([event_of(change(alert=3) | {"timestamp": "x"})])  # redelivered: rate_limited is final
    assert len(smtp.messages) == 2


def test_silences_stop_email_and_webhook_but_not_the_live_view(notify_env, smtp, receiver, live):
    notify = make_notify(notify_env, smtp.port, (receiver.url,))
    with notify.pool.connection() as conn:
        silence = create_silence(
            conn,
            device_id="device-002",
            reason="pump maintenance",
            created_by="alice",
            ends_at=datetime.now(UTC) + timedelta(hours=1),
        )
        create_silence(
            conn,
            device_id="device-003",
            reason="quick fix",
            created_by="alice",
            ends_at=datetime.now(UTC) + timedelta(seconds=0.3),
        )
        assert [s.id for s in list_silences(conn, device_id="device-002")] == [silence.id]
    notify([event_of(change(alert=1))])
    assert [name for name, _, _ in live.drain()] == ["alert-triggered"]
    assert smtp.messages == [] and receiver.requests == []
    with notify.pool.connection() as conn:
        rows = conn.execute(
            "SELECT channel, status, silence_id FROM notifications WHERE channel <> 'socketio' ORDER BY channel"
        ).fetchall()
    assert rows == [("email", "silenced", silence.id), ("webhook", "silenced", silence.id)]

    def device_003_silenced() -> bool:
        with notify.pool.connection() as conn:  # a transaction of its own: now() moves on
            return active_silence(conn, "device-003") is not None

    wait_for(lambda: not device_003_silenced(), timeout=5, what="device-003's silence to end")
    notify([event_of(change(alert=2, deviceId="device-003"))])
    assert len(smtp.messages) == 1 and len(receiver.requests) == 1


def test_a_silence_for_every_device(notify_env, smtp, receiver, live):
    notify = make_notify(notify_env, smtp.port, (receiver.url,))
    with notify.pool.connection() as conn:
        create_silence(
            conn,
            device_id=None,
            reason="plant shutdown",
            created_by="bob",
            ends_at=datetime.now(UTC) + timedelta(hours=8),
        )
    notify([event_of(change(alert=1, deviceId="device-004"))])
    assert smtp.messages == [] and receiver.requests == [] and len(live.drain()) == 1


def test_smtp_down_does_not_block_the_webhook_and_the_retry_sends_only_the_email(notify_env, receiver, live):
    smtp = SmtpServer()  # its port, nothing listening yet
    notify = make_notify(notify_env, smtp.port, (receiver.url,))
    event = event_of(change(severity="critical"))
    with pytest.raises(NotificationsFailed, match="email"):
        notify([event])
    assert len(receiver.requests) == 1 and len(live.drain()) == 1
    assert [(channel, status) for _, channel, status, _ in logged(notify)] == [
        ("email", "failed"),
        ("socketio", "sent"),
        ("webhook", "sent"),
    ]

    smtp.start()
    try:
        outcomes = notify([event])  # the KafkaSource's retry
        assert [(o.channel, o.status) for o in outcomes] == [("email", "sent")]
        [mail] = smtp.messages
        assert mail["Subject"].startswith("[CRITICAL] device-002 threshold_exceeded:")
    finally:
        smtp.stop()
    assert len(receiver.requests) == 1 and len(live.drain()) == 1
    assert ("alert-001", "email", "sent", 2) in logged(notify)


def test_webhook_errors_retry_on_5xx_and_not_on_4xx(notify_env, receiver, live):
    notify = make_notify(notify_env, None, (receiver.url,))
    receiver.status = 500
    with pytest.raises(NotificationsFailed, match="webhook answered 500"):
        notify([event_of(change(alert=1))])
    receiver.status = 400
    [_, failed] = notify([event_of(change(alert=2))])  # a retry cannot fix a 400: logged, not raised
    assert (failed.channel, failed.status, failed.retryable) == ("webhook", "failed", False)


def test_resolved_sends_alert_resolved(notify_env, smtp, live):
    notify = make_notify(notify_env, smtp.port)
    resolved = change(action="resolved", actor="bob")
    notify([event_of(resolved)])
    [(name, data, room)] = live.drain()
    assert (name, room) == ("alert-resolved", "alerts")
    assert (
        data["alertId"] == "alert-001" and data["resolvedAt"] == resolved["timestamp"] and data["resolvedBy"] == "bob"
    )
    assert smtp.messages[0]["Subject"].startswith("[RESOLVED] device-002 threshold_exceeded:")


def test_device_offline_moves_device_status(notify_env, live):
    notify = make_notify(notify_env, None)
    offline = change(
        alert=4, type="device_offline", value=None, threshold=None, deviceId="device-005", message="No data for 30 s"
    )
    notify([event_of(offline)])
    notify([event_of(offline | {"action": "resolved", "status": "resolved", "sequence": 999})])
    seen = [(name, room, data.get("status")) for name, data, room in live.drain()]
    assert seen == [
        ("alert-triggered", "alerts", "triggered"),
        ("device-status", "device:device-005", "offline"),
        ("device-status", "system", "offline"),
        ("alert-resolved", "alerts", "resolved"),
        ("device-status", "device:device-005", "online"),
        ("device-status", "system", "online"),
    ]


def test_the_live_view_counts_as_sent_only_once_a_service_replica_heard_it(notify_env, redis_url):
    pool, client, _ = notify_env
    channel = f"test:socketio:{uuid.uuid4().hex}"  # the session's service replicas listen on the real channel
    notify = Notify(pool, client, LiveEmitter(redis_url, channel), ChannelConfig())
    event = event_of(change())
    with pytest.raises(NotificationsFailed, match="reached no service replica") as failed:
        notify([event])  # nobody subscribed: Redis dropped the message
    assert [(f.channel, f.status, f.retryable) for f in failed.value.failures] == [("socketio", "failed", True)]
    assert logged(notify) == [("alert-001", "socketio", "failed", 1)]

    replica = client.pubsub()
    replica.subscribe(channel)
    assert replica.get_message(timeout=5)["type"] == "subscribe"  # Redis confirmed: publishing reaches it now
    [outcome] = notify([event])  # the source's retry
    assert (outcome.channel, outcome.status) == ("socketio", "sent")
    assert logged(notify) == [("alert-001", "socketio", "sent", 2)]
    heard = replica.get_message(timeout=5)
    assert heard["type"] == "message" and json.loads(heard["data"])["event"] == "alert-triggered"
    replica.close()
