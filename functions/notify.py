"""notify: alert changes (`alerts`) → Socket.IO live view, email, webhooks.

For each alert event (schema/events/alert.schema.json):

- Socket.IO, always: `alert-triggered` / `alert-resolved` to the `alerts`
  room, and `device-status` for `device_offline` alerts
  (iotmon/core/live.py), through python-socketio's Redis manager in
  write-only mode. Not routed, silenced or rate-limited: it is the live view.
  Sent means heard by at least one service replica: Redis pub/sub drops a
  message nobody is subscribed to (a replica still resubscribing after a Redis
  outage), so PUBLISH reaching no listener is a retryable failure.
- Email and webhooks, as routed by severity and action
  (iotmon/core/routing.py); suppressed by an active silence for the
  device or for all devices (logged `silenced`); limited by a token bucket per
  channel in Redis (logged `rate_limited`, not sent).

Deduplication, at-least-once. Every outcome goes into the `notifications`
log under (alert id, change, channel, target) AFTER the attempt. Before
sending, the log is read: a channel whose row is final (sent, silenced,
rate_limited) is skipped, so a redelivered event sends nothing again. The
chosen side is "log after send": a crash between a send and its row (or two
replicas handed the same event during a rebalance) can send that one
notification twice, never lose it. For alerts a rare duplicate is better than
a missed page. Email carries a Message-ID per change and the webhook a `ce-id`,
so receivers can drop such a duplicate.

Failures. A channel that fails is logged `failed` and does not stop the
others. If any failure can be retried (server down, timeout, 5xx, 429) the
function raises after everything else is done: the KafkaSource redelivers the
event, and thanks to the log the retry only attempts the failed channels. A
permanent failure (refused recipient, 4xx) is logged and not raised: a retry
could not help. After the KafkaSource's retries the event goes to the
dead-letter topic, and the `failed` rows say what did not go out. An event
that is no alert change is refused (`Rejected`, HTTP 400): it goes to the
dead-letter topic at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, partial
from typing import Any

import msgspec
import psycopg
import redis
from cloudevents.http import CloudEvent
from psycopg_pool import ConnectionPool

from eventing.delivery import Rejected
from eventing.sources import unwrap
from functions import environment
from functions.serving import entry_point
from iotmon.adapters.email import send_email
from iotmon.adapters.postgres import notification_log
from iotmon.adapters.postgres.silences import Silence, active_silence
from iotmon.adapters.redis.live_emitter import LiveEmitter
from iotmon.adapters.redis.ratelimit import TokenBucket
from iotmon.adapters.webhook import post_webhook
from iotmon.core.channels import EMAIL, SOCKETIO, WEBHOOK, ChannelConfig, DeliveryError
from iotmon.core.contracts.alerts import AlertChange
from iotmon.core.live import alert_messages
from iotmon.core.routing import route, webhook_target

log = logging.getLogger(__name__)

ALERT_TYPE_PREFIX = "io.iotmon.alert."


@dataclass(frozen=True)
class Outcome:
    alert_id: str
    channel: str
    target: str
    status: str  # sent, failed, rate_limited, silenced
    error: str | None = None
    retryable: bool = False


class NotificationsFailed(RuntimeError):
    """Some notifications can still go out: raised so the event is delivered again."""

    def __init__(self, failures: Sequence[Outcome]) -> None:
        self.failures = list(failures)
        listed = "; ".join(f"{f.alert_id} {f.channel}{'/' + f.target if f.target else ''}: {f.error}" for f in failures)
        super().__init__(f"{len(failures)} notification(s) failed and will be retried: {listed}")


def parse_change(event: CloudEvent) -> AlertChange | str:
    """The alert change an event carries, or why it is not one (pure)."""
    event = unwrap(event)  # a KafkaSource-wrapped plain record, as the alert change it carries
    if not str(event["type"]).startswith(ALERT_TYPE_PREFIX):
        return f"not an alert event: {event['type']!r}"
    data = event.get_data()
    try:
        if isinstance(data, (bytes, bytearray, str)):
            return _change.decode(data)
        return msgspec.convert(data, AlertChange)
    except msgspec.ValidationError as error:  # (a DecodeError too: first)
        return f"alert event data is not an alert change: {error}"
    except msgspec.DecodeError as error:
        return f"alert event data is not JSON: {error}"


@dataclass(frozen=True)
class _Target:
    channel: str
    target: str
    send: Callable[[], object]


_change = msgspec.json.Decoder(AlertChange)


class Notify:
    """The function's core: takes a batch of alert events in-process."""

    def __init__(
        self,
        pool: ConnectionPool,
        redis_client: redis.Redis,
        emitter: LiveEmitter,
        channels: ChannelConfig | None = None,
    ) -> None:
        self.pool = pool
        self.redis = redis_client
        self.emitter = emitter
        self.channels = channels if channels is not None else ChannelConfig()
        self.buckets = TokenBucket(redis_client)

    def __call__(self, events: Sequence[CloudEvent]) -> list[Outcome]:
        """Notify about each change; returns what was done.

        Raises NotificationsFailed to ask for redelivery, or, once the rest is done, Rejected for events that are
        not alert changes.
        """
        done: list[Outcome] = []
        refused: list[str] = []
        with self.pool.connection() as conn:
            for event in events:
                change = parse_change(event)
                if isinstance(change, str):
                    refused.append(f"event {event['id']}: {change}")
                    continue
                done.extend(self._notify(conn, event, change))
        if retry := [outcome for outcome in done if outcome.status == notification_log.FAILED and outcome.retryable]:
            raise NotificationsFailed(retry)
        if refused:
            raise Rejected("; ".join(refused[:10]))
        return done

    def _notify(self, conn: psycopg.Connection, event: CloudEvent, change: AlertChange) -> list[Outcome]:
        logged = notification_log.outcomes(conn, change)
        done: list[Outcome] = []
        if logged.get((SOCKETIO, "")) not in notification_log.FINAL:  # the live view: never routed, silenced or limited
            done.append(self._attempt(conn, change, _Target(SOCKETIO, "", lambda: self._emit(change))))
        pending = [
            t for t in self._targets(event, change) if logged.get((t.channel, t.target)) not in notification_log.FINAL
        ]
        if not pending:
            return done
        silence = active_silence(conn, change.device_id)
        for target in pending:
            if silence is not None:
                done.append(self._silenced(conn, change, target, silence))
            elif not self._take_token(target.channel):
                notification_log.record(conn, change, target.channel, target.target, notification_log.RATE_LIMITED)
                log.warning("notification rate-limited", extra=_fields(change, target))
                done.append(Outcome(change.alert_id, target.channel, target.target, notification_log.RATE_LIMITED))
            else:
                done.append(self._attempt(conn, change, target))
        return done

    def _targets(self, event: CloudEvent, change: AlertChange) -> list[_Target]:
        channels = route(change.severity, change.action, self.channels)
        targets = []
        if EMAIL in channels and (smtp := self.channels.smtp) is not None:
            targets.append(_Target(EMAIL, "", lambda: send_email(change, smtp)))
        if WEBHOOK in channels:
            attributes = {name: event.get(name) for name in ("id", "type", "source", "subject", "time")}
            timeout = self.channels.webhook_timeout
            for url in self.channels.webhook_urls:
                targets.append(
                    _Target(WEBHOOK, webhook_target(url), partial(post_webhook, url, change, attributes, timeout))
                )
        return targets

    def _attempt(self, conn: psycopg.Connection, change: AlertChange, target: _Target) -> Outcome:
        try:
            target.send()
        except DeliveryError as error:
            notification_log.record(
                conn, change, target.channel, target.target, notification_log.FAILED, error=str(error)
            )
            log.warning(
                "notification failed",
                extra={**_fields(change, target), "error": str(error), "retryable": error.retryable},
            )
            return Outcome(
                change.alert_id, target.channel, target.target, notification_log.FAILED, str(error), error.retryable
            )
        notification_log.record(conn, change, target.channel, target.target, notification_log.SENT)
        log.info("notification sent", extra=_fields(change, target))
        return Outcome(change.alert_id, target.channel, target.target, notification_log.SENT)

    def _silenced(self, conn: psycopg.Connection, change: AlertChange, target: _Target, silence: Silence) -> Outcome:
        notification_log.record(
            conn, change, target.channel, target.target, notification_log.SILENCED, silence_id=silence.id
        )
        log.info("notification silenced", extra={**_fields(change, target), "silence": silence.id})
        return Outcome(change.alert_id, target.channel, target.target, notification_log.SILENCED)

    def _emit(self, change: AlertChange) -> None:
        try:
            listeners = self.emitter.send(alert_messages(change))
        except (redis.RedisError, OSError) as error:
            raise DeliveryError(f"Socket.IO publish failed: {error}", retryable=True) from error
        if listeners == 0:
            raise DeliveryError("Socket.IO publish reached no service replica", retryable=True)

    def _take_token(self, channel: str) -> bool:
        limit = self.channels.limits.get(channel)
        if limit is None:
            return True
        try:
            return self.buckets.take(channel, limit)
        except redis.RedisError as error:
            # Fail open: a rate limiter that cannot answer must not swallow alerts.
            log.warning("rate limiter unavailable; sending anyway", extra={"channel": channel, "error": str(error)})
            return True


def _fields(change: AlertChange, target: _Target) -> dict[str, Any]:
    return {
        "alert": change.alert_id,
        "action": change.action,
        "device": change.device_id,
        "channel": target.channel,
        "target": target.target,
    }


# functions-framework entry point: one event per HTTP request, from a KafkaSource.


@cache
def _instance() -> Notify:
    return Notify(
        environment.database(),
        environment.redis_client(),
        environment.live_emitter(),
        environment.settings().channels,
    )


handle = entry_point(_instance)
