"""The MQTT bridge against a real Mosquitto (started here): conventions and rules, MQTT 3.1.1 and 5, TLS with a
password, dead letters, acknowledgement only after the transport took the readings, broker restarts, and a
bridge killed with QoS 1 messages in flight (nothing lost, nothing stored twice); Sparkplug B edge nodes (births
registered, data read, a rebirth asked after a sequence gap, deaths reported at once)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from cloudevents.http import CloudEvent
from paho.mqtt.enums import CallbackAPIVersion

from eventing import topics
from eventing.binding import decode, json_data
from eventing.kafka import KafkaTransport
from eventing.postgres import PostgresTransport
from eventing.transport import Publisher
from iotmon.adapters.postgres import db
from iotmon.bridges.births import Registrar
from iotmon.bridges.mqtt import MqttBridge, translators
from iotmon.core.mqtt_config import BridgeConfig, parse
from iotmon.core.readings import ordering_key
from iotmon.core.sparkplug.payloads import decode as decode_sparkplug
from iotmon.core.writers import Writer
from iotmon.system import System
from tests.support import processes
from tests.support.database import sql
from tests.support.mosquitto import PASSWORD, USERNAME, Mosquitto
from tests.support.waiting import wait_for
from tests.unit.test_sparkplug import DBIRTH_METRICS, DOUBLE, nbirth, payload

CONVENTION = "iotmon/assembly-line-1/device-001/temperature"


@pytest.fixture(scope="module")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto")).start()
    yield broker
    broker.stop()


@pytest.fixture
def transport(own_database: str) -> Iterator[PostgresTransport]:
    transport = PostgresTransport(own_database, partitions=2, prune_every_s=0)
    yield transport
    transport.close()


_clients = iter(range(1_000_000))


def config(url: str, version: str = "5", extra: str = "", client_id: str | None = None) -> BridgeConfig:
    client = client_id or f"bridge-{os.getpid()}-{next(_clients)}"
    return parse(
        f"broker: {{url: '{url}', version: '{version}', clientId: {client}}}\nbatching: {{lingerMs: 2}}\n" + extra
    )


def publish(port: int, messages: Sequence[tuple[str, bytes | str]], version: int = paho.MQTTv311) -> None:
    """Publish QoS 1 messages and wait until the broker took them all."""
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=version)
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        sent = [client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in sent:
            info.wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def events_on(transport: PostgresTransport, topic: str, group: str = "test") -> list[CloudEvent]:
    consumer = transport.consumer(topic, group)
    found = [decode(r.headers, r.key, r.value) for r in consumer.poll(10_000, 0)]
    consumer.commit([])
    return found


def readings_on(transport: PostgresTransport, group: str = "test") -> list[dict[str, Any]]:
    return [
        reading
        for event in events_on(transport, topics.SENSORS_DATA, group)
        for reading in json_data(event)["readings"]
    ]


@pytest.fixture
def bridges() -> Iterator[list[MqttBridge]]:
    started: list[MqttBridge] = []
    yield started
    for bridge in started:
        bridge.stop()


def start(bridges: list[MqttBridge], cfg: BridgeConfig, publisher: Publisher) -> MqttBridge:
    bridge = MqttBridge(cfg, publisher, translators(cfg)).start()
    bridges.append(bridge)
    assert bridge.connected.wait(10), "the bridge did not connect"
    time.sleep(0.2)  # its SUBSCRIBE on the way
    return bridge


def test_the_default_convention_over_mqtt_5_becomes_batch_events_under_the_devices_ordering_keys(
    mosquitto, transport, bridges
):
    bridge = start(bridges, config(mosquitto.url, "5"), transport)
    sent_at = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    publish(mosquitto.port, [(CONVENTION, b'{"value": 72.5, "unit": "celsius"}')] * 3
            + [("iotmon/line-2/device-002/pressure", json.dumps({"value": 30, "unit": "psi", "timestamp": sent_at}))],
            version=paho.MQTTv5)  # fmt: skip
    wait_for(lambda: bridge.counts.acknowledged == 4, 10, what=lambda: f"acknowledgements ({bridge.health()})")
    events = events_on(transport, topics.SENSORS_DATA)
    assert {event["type"] for event in events} == {"io.iotmon.reading.batch.v1"}
    assert {event["source"] for event in events} == {"/iotmon/bridges/mqtt"}
    by_device: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        for reading in json_data(event)["readings"]:
            assert event["partitionkey"] == ordering_key(reading["deviceId"])  # as the API and presence reports
            by_device.setdefault(reading["deviceId"], []).append(reading)
    assert len(by_device["device-001"]) == 3 and by_device["device-001"][0]["location"] == "assembly-line-1"
    assert by_device["device-002"][0]["value"] == 30
    assert by_device["device-002"][0]["timestamp"] == sent_at.replace("+00:00", "Z")


def test_user_rules_over_mqtt_3_1_1(mosquitto, transport, bridges):
    rules = """
rules:
  - topic: plant/{line}/{machine}/temp
    deviceId: "{line}-{machine}"
    sensorType: temperature
    unit: celsius
    value: $.data.t
    timestamp: $.data.ts
"""
    bridge = start(bridges, config(mosquitto.url, "3.1.1", rules), transport)
    sent_at = datetime.now(UTC).replace(microsecond=250_000) - timedelta(seconds=5)
    publish(
        mosquitto.port, [("plant/l2/m7/temp", json.dumps({"data": {"t": 81.5, "ts": int(sent_at.timestamp() * 1000)}}))]
    )
    wait_for(lambda: bridge.counts.acknowledged == 1, 10)
    (reading,) = readings_on(transport)
    assert (reading["deviceId"], reading["value"]) == ("l2-m7", 81.5)
    assert reading["timestamp"] == sent_at.isoformat().replace("+00:00", "Z")


def test_tls_with_a_username_and_password(mosquitto, transport, bridges):
    def over_tls(client_id: str, password: str) -> BridgeConfig:
        return parse(
            f"broker:\n  url: '{mosquitto.tls_url}'\n  clientId: {client_id}\n  username: {USERNAME}\n"
            f"  password: {password}\n  tls: {{ca: '{mosquitto.cert}'}}\n"
        )

    good = over_tls("tls-bridge", PASSWORD)
    bridge = start(bridges, good, transport)
    publish(mosquitto.port, [(CONVENTION, b'{"value": 1, "unit": "celsius"}')])
    wait_for(lambda: bridge.counts.acknowledged == 1, 10)
    assert len(readings_on(transport)) == 1

    wrong = over_tls("tls-intruder", "nope")
    refused = MqttBridge(wrong, transport, translators(wrong)).start()
    try:
        assert not refused.connected.wait(1.5)
    finally:
        refused.stop()


def test_bad_messages_go_to_the_dead_letter_topic_with_the_reason_and_the_topic(mosquitto, transport, bridges):
    cfg = config(
        mosquitto.url, "5", "batching: {maxPayloadBytes: 1000, lingerMs: 2}\nsubscriptions: [{topic: iotmon/#}]\n"
    )
    bridge = start(bridges, cfg, transport)
    bad = [
        (CONVENTION, b"not json"),
        (CONVENTION, b'{"value": "hot", "unit": "celsius"}'),
        ("iotmon/only/three", b'{"value": 1, "unit": "c"}'),
        (CONVENTION, b"x" * 5000),
        (CONVENTION, b'{"value": 1, "unit": "celsius"}'),  # and the bridge carries on
    ]
    publish(mosquitto.port, bad)
    wait_for(lambda: bridge.counts.acknowledged == 5, 10, what=lambda: str(bridge.health()))
    letters = [json_data(event) for event in events_on(transport, topics.SENSORS_DATA_DLQ)]
    reasons = {letter["reason"]: letter for letter in letters}
    assert len(letters) == 4 and {letter["origin"] for letter in letters} == {CONVENTION, "iotmon/only/three"}
    assert any("no value at $.value" in r for r in reasons)
    assert any("not a number" in r for r in reasons)
    assert any("no mapping rule matches the topic 'iotmon/only/three'" in r for r in reasons)
    (oversized,) = [letter for r, letter in reasons.items() if "over the limit of 1000" in r]
    assert oversized["original"]["bytes"] == 5000 and len(oversized["original"]["head"]) == 1024
    assert len(readings_on(transport)) == 1


class Refusing:
    """A transport that refuses while `refuse` is set: the bridge must not acknowledge meanwhile."""

    def __init__(self, inner: Publisher) -> None:
        self.inner = inner
        self.refuse = threading.Event()
        self.refuse.set()
        self.refused = 0

    def publish(self, topic: str, events: Sequence[CloudEvent]) -> None:
        if self.refuse.is_set():
            self.refused += 1
            raise RuntimeError("the transport is down")
        self.inner.publish(topic, events)


def test_qos_1_is_acknowledged_only_after_the_transport_took_the_readings(mosquitto, transport, bridges):
    refusing = Refusing(transport)
    cfg = config(mosquitto.url, "5", client_id="ack-bridge")
    first = start(bridges, cfg, refusing)
    publish(mosquitto.port, [(CONVENTION, json.dumps({"value": n, "unit": "celsius"})) for n in range(20)])
    wait_for(lambda: refusing.refused >= 2, 10)
    assert first.counts.acknowledged == 0
    first.stop()  # gives up the batch unacknowledged
    bridges.remove(first)

    # The broker kept them for the session: a new bridge with the same client id gets them all.
    second = start(bridges, cfg, transport)
    wait_for(lambda: second.counts.acknowledged >= 20, 10, what=lambda: str(second.health()))
    assert sorted(r["value"] for r in readings_on(transport)) == list(range(20))


class Slow:
    """A transport that takes its time over each publish and notes, as each begins, how many readings it had
    taken and how many messages the bridge had acknowledged."""

    def __init__(self, inner: Publisher) -> None:
        self.inner = inner
        self.values: list[float] = []
        self.at_start: list[tuple[int, int]] = []
        self.busy = threading.Lock()
        self.bridge: MqttBridge | None = None

    def publish(self, topic: str, events: Sequence[CloudEvent]) -> None:
        assert self.busy.acquire(blocking=False), "two publishes at once"
        try:
            self.at_start.append((len(self.values), self.bridge.counts.acknowledged if self.bridge else 0))
            time.sleep(0.05)
            self.inner.publish(topic, events)
            self.values += [reading["value"] for event in events for reading in event.data["readings"]]
        finally:
            self.busy.release()


def test_batches_translated_while_the_transport_is_busy_are_published_and_acknowledged_in_order(
    mosquitto, transport, bridges
):
    slow = Slow(transport)
    bridge = start(bridges, config(mosquitto.url, "5", "batching: {maxMessages: 50, lingerMs: 1}\n"), slow)
    slow.bridge = bridge
    publish(mosquitto.port, [(CONVENTION, json.dumps({"value": n, "unit": "celsius"})) for n in range(1000)])
    wait_for(lambda: bridge.counts.acknowledged == 1000, 30, what=lambda: str(bridge.health()))
    assert slow.values == list(range(1000))  # one device's readings, in the order sent
    assert len(slow.at_start) >= 20
    assert all(acknowledged <= taken for taken, acknowledged in slow.at_start)  # never ahead of the transport
    assert [r["value"] for r in readings_on(transport)] == list(range(1000))


def test_a_broker_restart_loses_nothing(mosquitto, transport, bridges):
    cfg = config(mosquitto.url, "3.1.1", client_id="restart-bridge")
    bridge = start(bridges, cfg, transport)
    publish(mosquitto.port, [(CONVENTION, json.dumps({"value": n, "unit": "celsius"})) for n in range(200)])
    mosquitto.restart()
    publish(mosquitto.port, [(CONVENTION, json.dumps({"value": n, "unit": "celsius"})) for n in range(200, 400)])
    wait_for(lambda: bridge.counts.connections >= 2, 15, what="the bridge to reconnect")
    values: set[float] = set()

    def all_there() -> bool:
        values.update(r["value"] for r in readings_on(transport))
        return len(values) == 400

    wait_for(all_there, 20, what=lambda: f"400 readings (have {len(values)}; {bridge.health()})")


def test_through_kafka(mosquitto, kafka_bootstrap, bridges):
    kafka = KafkaTransport(kafka_bootstrap, "mqtt-bridge-test")
    try:
        consumer = kafka.consumer(topics.SENSORS_DATA, f"mqtt-test-{time.time_ns()}")
        consumer.poll(1, 1)  # joined, at the end of the topic from now on (earliest: drain what is there)
        while consumer.poll(10_000, 0.5):
            pass
        bridge = start(bridges, config(mosquitto.url, "5"), kafka)
        publish(
            mosquitto.port,
            [(f"iotmon/k/device-00{n % 5 + 1}/temperature", json.dumps({"value": n, "unit": "c"})) for n in range(50)],
        )
        wait_for(lambda: bridge.counts.acknowledged == 50, 15, what=lambda: str(bridge.health()))
        records: list[Any] = []
        wait_for(
            lambda: (
                records.extend(consumer.poll(1000, 0.5))
                or sum(len(json_data(decode(r.headers, r.key, r.value))["readings"]) for r in records) >= 50
            ),
            20,
        )
        assert {r.key for r in records} <= {ordering_key(f"device-00{n}").encode() for n in range(1, 6)}
        assert all(dict(r.headers)["ce_type"] == b"io.iotmon.reading.batch.v1" for r in records)
        consumer.close()
    finally:
        kafka.close()


def test_a_bridge_killed_with_qos_1_messages_in_flight_loses_and_doubles_nothing(
    mosquitto, service: System, clean_db: str, tmp_path: Path
):
    """A separate `iotmon bridge mqtt` process on the system's event log, killed -9 mid-stream and started again:
    every reading (with the device's timestamp) is stored exactly once."""
    env = {
        **os.environ,
        "DATABASE_URL": clean_db,
        "IOTMON_MQTT_URL": mosquitto.url,
        "IOTMON_MQTT_CLIENT_ID": "killed-bridge",
        "IOTMON_DATA_DIR": str(tmp_path),
    }
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    log = tmp_path / "bridge.log"
    bridge = processes.start(["bridge", "mqtt"], env, log)
    wait_for(lambda: "mqtt bridge connected" in log.read_text(), 20, what=lambda: log.read_text()[-2000:])
    start_at = datetime.now(UTC) - timedelta(minutes=1)
    count = 3000
    messages = [
        (
            f"iotmon/line/device-00{n % 5 + 1}/temperature",
            json.dumps(
                {"value": n % 90, "unit": "celsius", "timestamp": (start_at + timedelta(milliseconds=n)).isoformat()}
            ),
        )
        for n in range(count)
    ]
    feeder = threading.Thread(target=publish, args=(mosquitto.port, messages))
    feeder.start()
    wait_for(lambda: stored(clean_db) > 0, 20, what="the first readings to be stored")
    bridge.send_signal(signal.SIGKILL)
    bridge.wait(10)
    assert stored(clean_db) < count, "killed after all had been handed on: nothing was in flight"
    feeder.join(30)
    again = processes.start(["bridge", "mqtt"], env, log)
    try:
        wait_for(
            lambda: stored(clean_db) >= count, 60, what=lambda: f"{count} readings stored (have {stored(clean_db)})"
        )
        time.sleep(0.5)
        assert stored(clean_db) == count
        assert sql(clean_db, "SELECT count(DISTINCT (device_id, timestamp)) FROM sensor_readings")[0][0] == count
    finally:
        processes.stop([again])


def stored(url: str) -> int:
    return int(sql(url, "SELECT count(*) FROM sensor_readings")[0][0])


def test_the_bridge_command_says_what_is_wrong_with_its_configuration(tmp_path: Path):
    bad = tmp_path / "bridge.yaml"
    bad.write_text("rules: [{topic: 'a/{x}', sensorType: t, unit: u}]")
    result = subprocess.run(
        [processes.IOTMON, "bridge", "mqtt", "--config", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "rules[0]: topic 'a/{x}': say where deviceId comes from" in result.stderr


def test_the_simulator_publishes_its_devices_over_mqtt(mosquitto, transport, bridges, tmp_path: Path):
    bridge = start(bridges, config(mosquitto.url, "5"), transport)
    env = {**os.environ, "IOTMON_MQTT_URL": mosquitto.url, "IOTMON_MQTT_VERSION": "5"}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    log = tmp_path / "simulate.log"
    simulator = processes.start(["simulate", "live", "--via", "mqtt", "--health-port", "0"], env, log)
    devices: set[str] = set()

    def all_five() -> bool:
        devices.update(r["deviceId"] for r in readings_on(transport))
        return len(devices) == 5

    try:
        wait_for(all_five, 20, what=lambda: f"the five seed devices (have {devices}; {log.read_text()[-1000:]})")
    finally:
        assert processes.stop([simulator]) == [0]
    assert bridge.counts.rejected == 0


# Sparkplug B: payloads encoded with the Sparkplug B protobuf schema (as tests/unit/test_sparkplug.py builds them).
NODE, DEVICE = "spBv1.0/plant-7/{kind}/edge-1", "spBv1.0/plant-7/{kind}/edge-1/plc-1"


def commands(port: int) -> list[bytes]:
    """Collects what the bridge sends back to the edge node (NCMD)."""
    received: list[bytes] = []
    subscribed = threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2)
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_message = lambda _c, _u, message: received.append(message.payload)
    client.connect("127.0.0.1", port)
    client.subscribe(NODE.format(kind="NCMD"), qos=1)
    client.loop_start()
    assert subscribed.wait(10)
    return received


def test_an_edge_node_is_registered_read_asked_to_rebirth_and_its_device_reported_offline(
    mosquitto, transport, bridges, own_database
):
    pool = db.pool(own_database)
    cfg = config(mosquitto.url, "5")
    bridge = MqttBridge(cfg, transport, translators(cfg), on_births=Registrar(pool, Writer("edge", auto_register=True)))
    bridges.append(bridge.start())
    assert bridge.connected.wait(10)
    ncmd = commands(mosquitto.port)
    now = int(datetime.now(UTC).timestamp() * 1000)
    publish(mosquitto.port, [
        (NODE.format(kind="NBIRTH"), nbirth(3)),
        (DEVICE.format(kind="DBIRTH"), payload(*DBIRTH_METRICS, seq=1, timestamp=now - 2000)),
        (DEVICE.format(kind="DDATA"), payload({"alias": 1, "datatype": DOUBLE, "double_value": 72.25}, seq=2,
                                              timestamp=now - 1000)),
        (DEVICE.format(kind="DDEATH"), payload(seq=3, timestamp=now)),
        (NODE.format(kind="NDATA"), payload({"name": "Load", "datatype": DOUBLE, "double_value": 0.5}, seq=9,
                                            timestamp=now)),  # a gap: 4 was next
    ])  # fmt: skip
    wait_for(lambda: bridge.counts.acknowledged == 5, 15, what=lambda: f"acknowledgements ({bridge.health()})")
    # Births registered the numeric metrics as devices (with their unit), before any reading of them was queued.
    registered = dict(sql(own_database, "SELECT device_id, unit FROM devices WHERE device_id LIKE 'edge-1-%%'"))
    assert registered == {"edge-1-plc-1-Motor.Temperature": "celsius", "edge-1-plc-1-Running": "none",
                          "edge-1-plc-1-Offset": "none"}  # fmt: skip
    events = events_on(transport, topics.SENSORS_DATA)
    temperatures = [
        reading["value"]
        for event in events
        if event["type"] == "io.iotmon.reading.batch.v1"
        for reading in json_data(event)["readings"]
        if reading["deviceId"] == "edge-1-plc-1-Motor.Temperature"
    ]
    assert temperatures == [71.5, 72.25]  # the birth's value and the data's
    offline = [json_data(e) for e in events if e["type"] == "io.iotmon.device.presence.v1"]
    assert {(p["deviceId"], p["state"]) for p in offline} >= {("edge-1-plc-1-Motor.Temperature", "offline")}
    gap = [json_data(e) for e in events_on(transport, topics.SENSORS_DATA_DLQ)]
    assert any("seq 9 where 4 was expected" in letter["reason"] for letter in gap)
    wait_for(lambda: ncmd, 10, what="the rebirth command")
    (metric,) = decode_sparkplug(ncmd[0]).metrics
    assert (metric.name, metric.boolean_value) == ("Node Control/Rebirth", True)
    pool.close()
