"""The MQTT bridge (`iotmon bridge mqtt`): plant messages in, readings onto `sensors-data`, acknowledged after.

paho's network thread puts each message in a bounded inbox (when it is full the thread waits, so the broker
stops sending: memory stays bounded); the bridge's worker takes up to `max_messages` of them, waiting up to
`linger_ms` for more once it has one, and translates them; its carrier then carries out each batch's translations
together, in the order taken: births registered, readings published in batch events under the devices' ordering
keys, rejections dead-lettered with the reason and the topic, replies published back, presence reported. Only
then does it acknowledge the batch's QoS 1 messages to the broker (paho's manual acks). A failure there
acknowledges nothing: the carrier tries again, and if the bridge dies first the broker delivers the messages
again (persistent session). At least once, then; ingest stores a reading once per (device, timestamp), so a
message with the device's own timestamp is stored once.

The two threads make a pipeline: the next batch is translated while Kafka takes the one before (a publish
waited some 70 ms in the benchmark, a third of the run when the worker did both). One translated batch waits for
the carrier at most; the inbox counts every message until it is acknowledged, so the bounds hold all along.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import paho.mqtt.client as paho
from cloudevents.http import CloudEvent

from eventing import mqtt, topics
from eventing.events import reading_batches, rejected_event
from eventing.mqtt_intake import Received
from eventing.transport import Publisher
from iotmon.bridges.presence import publish_presence
from iotmon.core.bridging import Birth, Presence, Rejected, Translation, Translator
from iotmon.core.mqtt_config import BridgeConfig, ConfigError, Subscription, endpoint, parse, rules
from iotmon.core.mqtt_config import subscriptions as configured_subscriptions
from iotmon.core.readings import as_json
from iotmon.core.sparkplug.translator import SparkplugSettings, SparkplugTranslator
from iotmon.core.topic_mapping import RulesTranslator

log = logging.getLogger(__name__)

SOURCE = "/iotmon/bridges/mqtt"
KEPT_OF_OVERSIZED = 1024  # bytes of an oversized payload kept for its dead letter
RETRY_S = (0.2, 0.5, 1.0, 2.0, 5.0)

Births = Callable[[Sequence[Birth]], None]
PresenceHook = Callable[[Sequence[Presence]], None]


class Message(NamedTuple):  # a tuple: made for every message on paho's thread, a quarter of a frozen dataclass' cost
    topic: str
    payload: bytes
    size: int  # of the payload as received (an oversized one is kept cut)
    qos: int
    mid: int
    connection: int  # which connection it came on: an acknowledgement is only valid on that one
    received_at: datetime


class Inbox:
    """Messages received and not yet acknowledged, bounded by count and bytes (one message is always let in)."""

    def __init__(self, max_messages: int, max_bytes: int) -> None:
        self._max_messages, self._max_bytes = max_messages, max_bytes
        self._queue: deque[Message] = deque()
        self._held = self._bytes = 0  # queued or being handled
        self._wanted = 1  # the batch size the worker waits for
        self._changed = threading.Condition()
        self.closed = False

    def put(self, messages: Sequence[Message]) -> int:
        """Each in turn, waiting for room; how many went in before the inbox closed (the others are not
        acknowledged: they come again)."""
        with self._changed:
            for count, message in enumerate(messages):
                while self._held and (self._held >= self._max_messages or self._bytes >= self._max_bytes):
                    if self.closed:
                        return count
                    self._changed.notify_all()  # what went in so far is the worker's to take meanwhile
                    self._changed.wait(0.5)
                self._queue.append(message)
                self._held += 1
                self._bytes += len(message.payload)
            self._changed.notify_all()  # once a burst: the worker waits for a first message, or a full batch
            return len(messages)

    def take(self, max_messages: int, linger_s: float, timeout: float) -> list[Message]:
        """Up to `max_messages`: waits up to `timeout` for a first one, then up to `linger_s` for more."""
        with self._changed:
            self._wanted = max_messages
            if not self._changed.wait_for(lambda: self._queue or self.closed, timeout) or not self._queue:
                return []
            deadline = time.monotonic() + linger_s
            while len(self._queue) < max_messages and (left := deadline - time.monotonic()) > 0 and not self.closed:
                self._changed.wait(left)
            count = min(max_messages, len(self._queue))
            return [self._queue.popleft() for _ in range(count)]

    def done(self, messages: Sequence[Message]) -> None:
        with self._changed:
            self._held -= len(messages)
            self._bytes -= sum(len(m.payload) for m in messages)
            self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            self.closed = True
            self._changed.notify_all()


@dataclass
class Counts:
    received: int = 0
    readings: int = 0
    rejected: int = 0
    acknowledged: int = 0
    batches: int = 0
    retries: int = 0
    connections: int = 0


@dataclass
class Work:
    """What a batch of messages comes to, in the order it is carried out."""

    births: list[Birth] = field(default_factory=list)
    readings: list[Mapping[str, Any]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    replies: list[tuple[str, bytes]] = field(default_factory=list)
    presence: list[Presence] = field(default_factory=list)

    def add(self, translation: Translation) -> None:
        self.births.extend(translation.births)
        self.readings.extend(translation.readings)
        self.rejected.extend(translation.rejected)
        self.replies.extend(translation.replies)
        self.presence.extend(translation.presence)


def load_config(path: Path | None, environ: Mapping[str, str] = os.environ) -> BridgeConfig:
    """The configuration file (`--config`, else IOTMON_MQTT_CONFIG, else none) with the environment over it."""
    path = path or (Path(environ["IOTMON_MQTT_CONFIG"]) if environ.get("IOTMON_MQTT_CONFIG") else None)
    if path is None:
        return parse("", environ=environ)
    try:
        text = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"cannot read the MQTT bridge configuration {path}: {error.strerror}") from None
    return parse(text, str(path), environ)


def subscriptions(config: BridgeConfig) -> list[Subscription]:
    return configured_subscriptions(config)


def translators(config: BridgeConfig) -> list[Translator]:
    """The translators a message is offered to, in order: Sparkplug B (its own namespace), then the mapping rules
    (the user's, then the convention)."""
    spb = config.sparkplug
    found: list[Translator] = [RulesTranslator(rules(config))]
    if spb.enabled:
        settings = SparkplugSettings(
            device_id=spb.device_id,
            node_device_id=spb.node_device_id,
            location=spb.location,
            default_unit=spb.default_unit,
            sensor_types=spb.sensor_types,
            units=spb.units,
        )
        found.insert(0, SparkplugTranslator(settings))
    return found


def dead_letters(rejected: Sequence[Rejected]) -> list[CloudEvent]:
    return [rejected_event(r.reason, r.original, None, origin=r.origin, source=SOURCE) for r in rejected]


def _unregistered_births(births: Sequence[Birth]) -> None:
    log.warning(
        "devices announced but not registered: give the bridge DATABASE_URL and a gateway key that may register",
        extra={"devices": [birth.device_id for birth in births[:20]]},
    )


class MqttBridge:
    """Subscribes, translates with the first translator that handles a topic, publishes, then acknowledges."""

    def __init__(
        self,
        config: BridgeConfig,
        publisher: Publisher,
        translators: Sequence[Translator],
        *,
        on_births: Births = _unregistered_births,
        on_presence: PresenceHook | None = None,
    ) -> None:
        self.config = config
        self.publisher = publisher
        self.translators = tuple(translators)
        self.on_births = on_births
        # By default a device the plant reports gone (or back) goes onto sensors-data with the readings.
        self.on_presence = on_presence or partial(publish_presence, publisher)
        batching = config.batching
        self.inbox = Inbox(batching.max_in_flight, batching.max_in_flight_bytes)
        self.counts = Counts()
        self.connected = threading.Event()
        self._connection = 0
        self._stopping = threading.Event()
        self._client = mqtt.bridge_client(config.broker)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_received = self._on_received
        # The worker translates; the carrier carries out and acknowledges, one batch after the other.
        self._translated: queue.Queue[tuple[list[Message], Work] | None] = queue.Queue(maxsize=1)
        self._worker = threading.Thread(target=self._work, name="mqtt-bridge", daemon=True)
        self._carrier = threading.Thread(target=self._carry, name="mqtt-bridge-out", daemon=True)

    @property
    def address(self) -> str:
        where = endpoint(self.config.broker)
        return f"{where.host}:{where.port}"

    def start(self) -> MqttBridge:
        mqtt.connect_async(self._client, self.config.broker, receive_maximum=self.config.batching.max_in_flight)
        self._client.loop_start()
        self._carrier.start()
        self._worker.start()
        log.info("mqtt bridge started", extra={"broker": self.address, "client_id": self.config.broker.client_id})
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the batches in hand (publish and acknowledge them), then leave; what is left stays with the
        broker."""
        self._stopping.set()
        self.inbox.close()
        deadline = time.monotonic() + timeout
        self._worker.join(timeout)
        self._carrier.join(max(0.0, deadline - time.monotonic()))
        self._client.disconnect()
        self._client.loop_stop()
        log.info("mqtt bridge stopped", extra={"counts": vars(self.counts)})

    def health(self) -> dict[str, Any]:
        return {"broker": self.address, "connected": self.connected.is_set(), **vars(self.counts)}

    # paho's network thread

    def _on_connect(self, client: paho.Client, _userdata: Any, flags: Any, code: Any, _properties: Any) -> None:
        if code.is_failure:
            log.warning("mqtt broker refused the connection", extra={"broker": self.address, "reason": str(code)})
            return
        self._connection += 1
        self.counts.connections += 1
        wanted = subscriptions(self.config)
        client.subscribe([(s.topic, int(s.qos)) for s in wanted])
        self.connected.set()
        log.info(
            "mqtt bridge connected",
            extra={
                "broker": self.address,
                "session_present": bool(flags.session_present),
                "subscriptions": [s.topic for s in wanted],
            },
        )

    def _on_disconnect(self, _client: paho.Client, _userdata: Any, _flags: Any, code: Any, _properties: Any) -> None:
        self.connected.clear()
        if not self._stopping.is_set():
            log.warning(
                "mqtt broker connection lost; reconnecting", extra={"broker": self.address, "reason": str(code)}
            )

    def _on_received(self, burst: list[Received]) -> None:
        connection, limit = self._connection, self.config.batching.max_payload_bytes
        messages = [  # each its own receive time: it is the reading's time when the payload has none
            Message(topic, payload if len(payload) <= limit else payload[:KEPT_OF_OVERSIZED], len(payload), qos,
                    mid, connection, datetime.now(UTC))
            for topic, payload, qos, mid in burst
        ]  # fmt: skip
        self.counts.received += self.inbox.put(messages)

    # the worker

    def _work(self) -> None:
        """Take and translate batches until stopped (what the inbox still holds first), for the carrier."""
        batching = self.config.batching
        try:
            while True:
                batch = self.inbox.take(batching.max_messages, batching.linger_ms / 1000, timeout=0.2)
                if not batch:
                    if self.inbox.closed:
                        return
                    continue
                try:
                    work = self._translate_all(batch)
                except BaseException:
                    self.inbox.done(batch)
                    raise
                self._translated.put((batch, work))  # waits while the carrier has one waiting already
        finally:
            self._translated.put(None)

    def _carry(self) -> None:
        """Carry out and acknowledge the translated batches in order. Once one is given up (the bridge stops while
        it fails) none after it is acknowledged: the broker delivers them all again, in their order."""
        given_up = False
        while (translated := self._translated.get()) is not None:
            batch, work = translated
            try:
                if not given_up and self._carry_out(work):
                    self._acknowledge(batch)
                else:
                    given_up = True
            finally:
                self.inbox.done(batch)

    def _translate_all(self, batch: Sequence[Message]) -> Work:
        work = Work()
        for message in batch:
            work.add(self.translate(message))
        return work

    def translate(self, message: Message) -> Translation:
        """The first translator's translation; a rejection when none handles the topic, or one fails."""
        limit = self.config.batching.max_payload_bytes
        if message.size > limit:
            head = message.payload.decode("utf-8", "replace")
            original = {"truncated": True, "bytes": message.size, "head": head}
            return _rejection(f"payload of {message.size} bytes is over the limit of {limit}", original, message.topic)
        for translator in self.translators:
            try:
                translation = translator.translate(message.topic, message.payload, message.received_at)
            except Exception as error:  # a translator's bug must not stop the bridge: the message is dead-lettered
                log.exception("translator failed", extra={"topic": message.topic})
                reason = f"{type(translator).__name__} failed: {type(error).__name__}: {error}"
                return _rejection(reason, as_json(message.payload), message.topic)
            if translation is not None:
                return translation
        return _rejection(
            f"no mapping rule matches the topic {message.topic!r}", as_json(message.payload), message.topic
        )

    def _carry_out(self, work: Work) -> bool:
        """Do it all, retrying until done; False when the bridge stops first (then nothing is acknowledged)."""
        attempt = 0
        while True:
            try:
                self._carry_out_once(work)
            except Exception as error:  # the transport, the registry: try again, the broker keeps the messages
                if self._stopping.is_set():
                    return False
                pause = RETRY_S[min(attempt, len(RETRY_S) - 1)]
                attempt += 1
                self.counts.retries += 1
                log.warning(
                    "mqtt bridge could not hand on a batch; retrying",
                    extra={"error": f"{type(error).__name__}: {error}", "readings": len(work.readings), "in_s": pause},
                )
                if self._stopping.wait(pause):
                    return False
                continue
            self.counts.batches += 1
            self.counts.readings += len(work.readings)
            self.counts.rejected += len(work.rejected)
            return True

    def _carry_out_once(self, work: Work) -> None:
        if work.births:
            self.on_births(work.births)  # before the readings: ingest refuses a device it does not know
        if work.readings:
            self.publisher.publish(topics.SENSORS_DATA, reading_batches(work.readings, SOURCE))
        if work.rejected:
            self.publisher.publish(topics.SENSORS_DATA_DLQ, dead_letters(work.rejected))
            for rejected in work.rejected[:3]:
                log.info("mqtt message rejected", extra={"topic": rejected.origin, "reason": rejected.reason})
        for topic, payload in work.replies:
            self._client.publish(topic, payload, qos=0)
        if work.presence:
            self.on_presence(work.presence)

    def _acknowledge(self, batch: Sequence[Message]) -> None:
        current = self._connection
        # A message of an earlier connection is delivered again on this one: acknowledging its old id here
        # would acknowledge another message. (The subscriptions are QoS 0 or 1: no QoS 2 message comes.)
        mids = [message.mid for message in batch if message.qos == 1 and message.connection == current]
        self._client.ack_many(mids)
        self.counts.acknowledged += len(mids)


def _rejection(reason: str, original: Any, topic: str) -> Translation:
    return Translation(rejected=(Rejected(reason, original, topic),))
