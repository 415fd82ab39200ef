"""`iotmon bridge opcua` against a real OPC UA server (asyncua's own, started by the test on a free loopback port):
value changes become readings that ingest stores in PostgreSQL (the shared system on the embedded event log), the
deadband is honoured, bad status codes are dead-lettered with the node id, the bridge reconnects and subscribes
again after the server restarts, and connects with a username and password, or over Basic256Sha256."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pytest
from asyncua import ua
from cryptography.x509.oid import ExtendedKeyUsageOID

from eventing import topics
from eventing.binding import decode, json_data
from eventing.postgres import PostgresTransport
from iotmon.bridges.opcua import SOURCE, OpcUaBridge
from iotmon.core.opcua import OpcUaConfig, parse_config
from iotmon.system import System
from tests.support.opcua_server import OpcUaTestServer, make_certificate
from tests.support.up import iotmon_command
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(120)

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)


def config(server: OpcUaTestServer, **server_fields: Any) -> OpcUaConfig:
    document = {
        "server": {"url": server.url, "timeoutS": 2, **server_fields},
        "location": "test-line",
        "publishingIntervalMs": 20,
        "samplingIntervalMs": 0,
        "batchMs": 10,
        "nodes": [
            {
                "nodeId": server.node_id("Oven.Temperature"),
                "deviceId": "device-001",
                "sensorType": "temperature",
                "unit": "celsius",
                "deadband": {"type": "absolute", "value": 1.0},
            },
            {
                "nodeId": server.node_id("Press.Pressure"),
                "deviceId": "device-002",
                "sensorType": "pressure",
                "unit": "psi",
                "location": "press-hall",
            },
        ],
    }
    return parse_config(json.dumps(document))


@pytest.fixture
def plant() -> Iterator[OpcUaTestServer]:
    server = OpcUaTestServer(["Oven.Temperature", "Press.Pressure"]).start()
    yield server
    server.close()


@contextmanager
def bridging(bridge: OpcUaBridge) -> Iterator[OpcUaBridge]:
    stop = threading.Event()
    thread = threading.Thread(target=bridge.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield bridge
    finally:
        stop.set()
        thread.join(30)
        assert not thread.is_alive(), "the bridge did not stop"


def stored(database_url: str, device: str, since: datetime = T0) -> list[tuple[datetime, float, str | None]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT timestamp, value::float8, location FROM sensor_readings"
            " WHERE device_id = %s AND timestamp >= %s ORDER BY timestamp",
            (device, since),
        ).fetchall()
    return [(row[0], row[1], row[2]) for row in rows]


def values(database_url: str, device: str) -> list[float]:
    return [value for _, value, _ in stored(database_url, device)]


def test_value_changes_become_readings_timed_by_the_source_and_stored_once(
    service: System, clean_db: str, plant: OpcUaTestServer
) -> None:
    times = [T0 + timedelta(seconds=i) for i in range(8)]
    plant.write("Oven.Temperature", 20.0, at=times[0])
    plant.write("Press.Pressure", 30.0, at=times[0])
    with bridging(OpcUaBridge(config(plant), service.transport)) as bridge:
        wait_for(lambda: bridge.connected, 15, "the bridge subscribed")
        # Deadband 1.0 on the temperature: moves of 0.3 and 0.6 are not value changes, 5.0 is.
        for i, value in enumerate([20.3, 20.6, 25.6, 25.9, 30.0], start=1):
            plant.write("Oven.Temperature", value, at=times[i])
        for i, value in enumerate([30.1, 30.2], start=1):  # no deadband: every change
            plant.write("Press.Pressure", value, at=times[i])
        wait_for(lambda: values(clean_db, "device-001")[-1:] == [30.0], 15, "the last temperature stored")
        wait_for(lambda: len(stored(clean_db, "device-002")) == 3, 15, "the pressures stored")

    assert values(clean_db, "device-001") == [20.0, 25.6, 30.0]
    temperatures = stored(clean_db, "device-001")
    assert [at for at, _, _ in temperatures] == [times[0], times[3], times[5]]  # the source timestamps
    assert {location for _, _, location in temperatures} == {"test-line"}
    assert stored(clean_db, "device-002") == [(times[i], v, "press-hall") for i, v in enumerate([30.0, 30.1, 30.2])]
    assert bridge.counters.publishes < bridge.counters.value_changes  # value changes were batched

    # A second bridge (a restarted one) gets every node's current value again: stored once all the same.
    with bridging(OpcUaBridge(config(plant), service.transport)) as again:
        wait_for(lambda: again.counters.readings >= 2, 15, "the current values sent again")
        wait_for(lambda: _ingested(service), 15, "ingest caught up")
    assert values(clean_db, "device-001") == [20.0, 25.6, 30.0]
    assert len(stored(clean_db, "device-002")) == 3


def _ingested(service: System) -> bool:
    transport = service.transport
    assert isinstance(transport, PostgresTransport)
    return not any(n for (topic, _), n in transport.backlog().items() if topic == topics.SENSORS_DATA)


def test_a_bad_status_code_goes_to_the_dead_letter_topic_with_the_node_id(
    service: System, clean_db: str, plant: OpcUaTestServer
) -> None:
    transport = service.transport
    assert isinstance(transport, PostgresTransport)
    before = len(transport.records(topics.SENSORS_DATA_DLQ))
    plant.write("Press.Pressure", 31.0, at=T0)
    with bridging(OpcUaBridge(config(plant), transport)) as bridge:
        wait_for(lambda: bridge.counters.readings == 2, 15, "the current values")
        plant.write("Press.Pressure", 99.0, status=ua.StatusCodes.BadSensorFailure, at=T0 + timedelta(seconds=1))
        plant.write("Press.Pressure", 32.0, at=T0 + timedelta(seconds=2))
        wait_for(lambda: bridge.counters.rejected == 1, 15, "the bad value change dead-lettered")
        wait_for(lambda: values(clean_db, "device-002") == [31.0, 32.0], 15, "the good ones stored")

    letters = [decode(r.headers, r.key, r.value) for r in transport.records(topics.SENSORS_DATA_DLQ)[before:]]
    (letter,) = [e for e in letters if e["source"] == SOURCE]
    assert json_data(letter)["origin"] == "ns=2;s=Press.Pressure"
    data = json_data(letter)
    assert data["reason"] == f"bad status BadSensorFailure (0x{ua.StatusCodes.BadSensorFailure:08X})"
    assert data["original"]["nodeId"] == "ns=2;s=Press.Pressure"
    assert data["original"]["status"] == "BadSensorFailure"


def test_the_bridge_reconnects_and_subscribes_again_after_the_server_restarts(
    service: System, clean_db: str, plant: OpcUaTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="iotmon.bridge.opcua")
    plant.write("Oven.Temperature", 40.0, at=T0)
    with bridging(OpcUaBridge(config(plant), service.transport, max_wait_s=1.0)) as bridge:
        wait_for(lambda: values(clean_db, "device-001") == [40.0], 15, "the first reading")
        plant.stop()
        wait_for(lambda: not bridge.connected, 15, "the bridge to see the server gone")
        wait_for(lambda: len(_retries(caplog)) >= 3, 15, "connection attempts while the server is down")
        plant.start()  # a new server process: new sessions, no subscriptions
        wait_for(lambda: bridge.counters.connections == 2, 20, "the bridge connected again")
        plant.write("Oven.Temperature", 50.0, at=T0 + timedelta(seconds=5))
        wait_for(lambda: 50.0 in values(clean_db, "device-001"), 15, "readings after the restart")

    waits = _retries(caplog)
    assert waits[:3] == [0.5, 1.0, 1.0]  # growing, up to max_wait_s
    assert any(r.getMessage() == "OPC UA disconnected; connecting again" for r in caplog.records)


def _retries(caplog: pytest.LogCaptureFixture) -> list[float]:
    return [r.retry_in_s for r in caplog.records if hasattr(r, "retry_in_s")]  # type: ignore[attr-defined]


def test_username_and_password_from_the_environment_never_logged(tmp_path: Path, own_database: str) -> None:
    """`iotmon bridge opcua` as deployed: the configuration file, the password from the environment, readings on
    the embedded event log, SIGTERM to stop; a wrong password is retried, and the password is never logged."""
    secret = "s3cret-Pa55word-for-the-plant"
    plant = OpcUaTestServer(["Oven.Temperature", "Press.Pressure"], users={"iotmon": secret}).start()
    try:
        plant.write("Oven.Temperature", 21.5, at=T0)
        document = msgspec.to_builtins(config(plant, username="iotmon"))
        file = tmp_path / "opcua.yaml"
        file.write_text(json.dumps(document))
        env = {k: v for k, v in os.environ.items() if k not in {"KAFKA_BOOTSTRAP_SERVERS"}}
        env |= {"DATABASE_URL": own_database, "IOTMON_OPCUA_PASSWORD": "wrong", "IOTMON_LOG_LEVEL": "INFO"}
        refused = _run_bridge(file, env, lambda log: "retry_in_s" in log)
        assert "BadUserAccessDenied" in refused or "BadIdentityTokenRejected" in refused, refused

        env["IOTMON_OPCUA_PASSWORD"] = secret
        transport = PostgresTransport(own_database)
        try:
            output = _run_bridge(file, env, lambda _: len(transport.records(topics.SENSORS_DATA)) >= 2)
            readings = [json_data(decode(r.headers, r.key, r.value)) for r in transport.records(topics.SENSORS_DATA)]
        finally:
            transport.close()
        assert "OPC UA subscribed" in output
        assert secret not in output and "wrong" not in output
        (temperature,) = [r for batch in readings for r in batch["readings"] if r["deviceId"] == "device-001"]
        assert temperature["value"] == 21.5
    finally:
        plant.close()


def _run_bridge(file: Path, env: dict[str, str], done: Any) -> str:
    """Run `iotmon bridge opcua --config file` until `done(log so far)`, then SIGTERM it; its log."""
    log_file = file.with_suffix(".log")
    with log_file.open("w") as log:
        process = subprocess.Popen(
            [iotmon_command(), "bridge", "opcua", "--config", str(file)], env=env, stdout=log, stderr=log
        )
    try:
        wait_for(lambda: done(log_file.read_text()) or process.poll() is not None, 30, lambda: log_file.read_text())
        assert process.poll() is None, log_file.read_text()
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0, log_file.read_text()
    finally:
        if process.poll() is None:
            process.kill()
    return log_file.read_text()


def test_basic256sha256_sign_and_encrypt_with_a_client_certificate(
    service: System, clean_db: str, tmp_path: Path
) -> None:
    plant = OpcUaTestServer(["Oven.Temperature", "Press.Pressure"], secure_in=tmp_path).start()
    try:
        uri = "urn:iotmon:opcua-bridge"
        # on the server's own loop: an earlier test may have left one running in this thread
        cert, key = plant.call(make_certificate(tmp_path, "client", uri, ExtendedKeyUsageOID.CLIENT_AUTH))
        plant.write("Oven.Temperature", 66.0, at=T0)
        security = {
            "policy": "Basic256Sha256",
            "mode": "SignAndEncrypt",
            "certificate": str(cert),
            "privateKey": str(key),
            "applicationUri": uri,
        }
        with bridging(OpcUaBridge(config(plant, security=security), service.transport)) as bridge:
            wait_for(lambda: values(clean_db, "device-001") == [66.0], 20, "a reading over the secure channel")
            assert bridge.counters.connections == 1
    finally:
        plant.close()
