"""MQTT, the plant's side of the pipeline, on paho-mqtt: clients set up from the bridge's configuration, and a
`Publisher` that sends readings as devices do (the default topic convention, QoS 1).

A bridge's client keeps a persistent session (MQTT 3.1.1 clean session off, MQTT 5 clean start off with a
session expiry), so the broker keeps what arrives while the bridge is away and delivers it when it is back.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Sequence
from typing import Any, TypeVar

import msgspec
import paho.mqtt.client as paho
from cloudevents.http import CloudEvent
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from eventing.events import READING, READING_BATCH
from eventing.mqtt_intake import BridgeClient
from eventing.transport import DeliveryError
from iotmon.core.mqtt_config import Broker, endpoint, mqtt5

log = logging.getLogger(__name__)
Client = TypeVar("Client", bound=paho.Client)

RECEIVE_MAXIMUM = 65_535  # MQTT 5's ceiling on the messages a broker may have unacknowledged with a client
PUBLISH_TIMEOUT_S = 10.0


def client(
    broker: Broker, *, client_id: str | None = None, persistent: bool = True, manual_ack: bool = False
) -> paho.Client:
    """A paho client for the broker: its protocol version, credentials and TLS; not connected yet."""
    return _made(paho.Client, broker, client_id=client_id, persistent=persistent, manual_ack=manual_ack)


def bridge_client(broker: Broker) -> BridgeClient:
    """A bridge's client (eventing.mqtt_intake): a persistent session, messages acknowledged by the bridge."""
    return _made(BridgeClient, broker, client_id=None, persistent=True, manual_ack=True)


def _made(kind: type[Client], broker: Broker, *, client_id: str | None, persistent: bool, manual_ack: bool) -> Client:
    version = paho.MQTTv5 if mqtt5(broker) else paho.MQTTv311
    made = kind(
        CallbackAPIVersion.VERSION2,
        client_id=client_id or broker.client_id,
        protocol=version,
        clean_session=None if version == paho.MQTTv5 else not persistent,
        manual_ack=manual_ack,
    )
    if broker.username is not None:
        made.username_pw_set(broker.username, broker.password)
    if endpoint(broker).tls:
        tls = broker.tls
        made.tls_set(
            ca_certs=tls.ca if tls else None,
            certfile=tls.cert if tls else None,
            keyfile=tls.key if tls else None,
            cert_reqs=ssl.CERT_REQUIRED,
        )
        made.tls_insecure_set(bool(tls and tls.insecure))
    made.reconnect_delay_set(min_delay=1, max_delay=30)
    return made


def connect_async(
    made: paho.Client, broker: Broker, *, persistent: bool = True, receive_maximum: int | None = None
) -> None:
    """Start connecting (the client's loop thread connects, and reconnects after every loss)."""
    where = endpoint(broker)
    if not mqtt5(broker):
        made.connect_async(where.host, where.port, keepalive=broker.keepalive_s)
        return
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    if persistent:
        properties.SessionExpiryInterval = broker.session_expiry_s
    if receive_maximum:
        properties.ReceiveMaximum = max(1, min(receive_maximum, RECEIVE_MAXIMUM))
    made.connect_async(
        where.host, where.port, keepalive=broker.keepalive_s, clean_start=not persistent, properties=properties
    )


def convention_topic(reading: dict[str, Any]) -> str:
    """The default topic convention: iotmon/<location>/<deviceId>/<sensorType>."""
    return f"iotmon/{reading.get('location') or 'unknown'}/{reading['deviceId']}/{reading['sensorType']}"


def convention_payload(reading: dict[str, Any]) -> bytes:
    return msgspec.json.encode({name: reading[name] for name in ("value", "unit", "timestamp")})


class MqttPublisher:
    """Readings published as devices publish them: one message per reading, QoS 1, under the default convention.

    `publish` returns once the broker has acknowledged every message (PUBACK), as a `Publisher` must.
    """

    def __init__(self, broker: Broker, client_id: str = "iotmon-simulator", max_in_flight: int = 1000) -> None:
        self._client = client(broker, client_id=client_id, persistent=False)
        self._client.max_inflight_messages_set(max_in_flight)
        self._connected = threading.Event()
        self._client.on_connect = lambda _c, _u, _f, code, _p: self._connected.set() if not code.is_failure else None
        connect_async(self._client, broker, persistent=False)
        self._client.loop_start()

    def publish(self, topic: str, events: Sequence[CloudEvent]) -> None:
        if not self._connected.wait(PUBLISH_TIMEOUT_S):
            raise DeliveryError("the MQTT broker is not reachable")
        sent = [
            self._client.publish(convention_topic(reading), convention_payload(reading), qos=1)
            for event in events
            for reading in _readings(event)
        ]
        for info in sent:
            try:
                info.wait_for_publish(PUBLISH_TIMEOUT_S)
            except (RuntimeError, ValueError) as error:
                raise DeliveryError(f"the MQTT broker did not take a reading: {error}") from error
            if not info.is_published():
                raise DeliveryError("the MQTT broker did not acknowledge a reading in time")

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def _readings(event: CloudEvent) -> list[dict[str, Any]]:
    data = event.data if not isinstance(event.data, (bytes, str)) else msgspec.json.decode(event.data)
    if event["type"] == READING:
        return [data]
    if event["type"] == READING_BATCH:
        readings: list[dict[str, Any]] = data["readings"]
        return readings
    raise ValueError(f"only readings go over MQTT, not {event['type']}")
