"""`iotmon up`'s embedded MQTT broker (amqtt) with the bridge attached to the system's event log: a reading
published with Debian's `mosquitto_pub` reaches the dashboard's API; the bridge's session is persistent (QoS 1
messages published while it is away are delivered when it is back); MQTT 5 is refused (amqtt speaks 3.1.1)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from iotmon.bridges.mqtt import MqttBridge
from iotmon.system import System
from tests.support.service import running_system
from tests.support.waiting import wait_for

TOPIC = "iotmon/assembly-line-1/device-001/temperature"


@pytest.fixture
def system(own_database: str, redis_url: str, tmp_path: Path) -> Iterator[System]:
    with running_system(own_database, redis_url, tmp_path / "system", mqtt_port=0) as running:
        yield running


def mosquitto_pub(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    where = urlsplit(url)
    return subprocess.run(
        ["mosquitto_pub", "-h", str(where.hostname), "-p", str(where.port), "-q", "1", *args],
        capture_output=True,
        text=True,
        timeout=20,
    )


def current(system: System) -> float | None:
    answer = httpx.get(f"{system.url}/api/devices/device-001/current", timeout=5)
    live = answer.json()["data"]["current"] if answer.status_code == 200 else None
    return None if live is None else float(live["value"])


def test_a_reading_published_with_mosquitto_pub_reaches_the_dashboard(system: System) -> None:
    assert system.mqtt_url is not None and system.mqtt_bridge is not None
    assert system.mqtt_bridge.connected.wait(10)
    sent = mosquitto_pub(system.mqtt_url, "-V", "mqttv311", "-t", TOPIC, "-m", '{"value": 72.5, "unit": "celsius"}')
    assert sent.returncode == 0, sent.stderr
    wait_for(lambda: current(system) == 72.5, 20, what="the reading on the dashboard's current value")


def test_the_bridge_session_keeps_qos_1_messages_while_it_is_away(system: System) -> None:
    bridge = system.mqtt_bridge
    assert bridge is not None and system.mqtt_url is not None and bridge.connected.wait(10)
    bridge.stop()
    for value in (61.0, 62.0, 63.0):
        sent = mosquitto_pub(
            system.mqtt_url, "-V", "mqttv311", "-t", TOPIC, "-m", f'{{"value": {value}, "unit": "celsius"}}'
        )
        assert sent.returncode == 0, sent.stderr
    back = MqttBridge(bridge.config, bridge.publisher, bridge.translators).start()
    try:
        wait_for(lambda: back.counts.acknowledged == 3, 15, what=lambda: str(back.health()))
        wait_for(lambda: current(system) == 63.0, 20, what="the last reading on the dashboard")
    finally:
        back.stop()


def test_mqtt_5_clients_are_refused_by_the_embedded_broker(system: System) -> None:
    assert system.mqtt_url is not None
    where = urlsplit(system.mqtt_url)
    answers: list[str] = []
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.on_connect = lambda _c, _u, _f, code, _p: answers.append(str(code))
    client.connect(str(where.hostname), int(where.port or 1883))
    client.loop_start()
    try:
        wait_for(lambda: answers, 10, what="the broker's answer")
        assert answers[0] == "Unsupported protocol version"
    finally:
        client.loop_stop()
