"""The real service in-process over real HTTP: REST envelopes, health, Socket.IO.

The session's shared `System` (uvicorn, the embedded event log, the router and
the functions; tests/integration/conftest.py) runs against the suite's PostgreSQL
and Redis; every test starts from `clean_db` (no readings, the five seed devices).
Requests go without a login token here, as a dashboard reading anonymously does; readings are posted
with the suite's gateway key, as a gateway posts them.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import psycopg
import pytest
import simple_websocket

from iotmon.adapters.postgres import storage
from iotmon.core.readings import parse_reading
from iotmon.core.timestamps import iso
from iotmon.system import System
from tests.support.auth import bearer, gateway_headers
from tests.support.devices import register
from tests.support.waiting import wait_for

SEED_DEVICES = ["device-001", "device-002", "device-003", "device-004", "device-005"]
ISO_MS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


# --------------------------------------------------------------------------- helpers


def now() -> datetime:
    return datetime.now(UTC)


def reading(
    device: str = "device-001", value: float = 42.5, at: datetime | None = None, **fields: Any
) -> dict[str, Any]:
    return {
        "deviceId": device,
        "timestamp": iso(at or now()),
        "sensorType": "temperature",
        "value": value,
        "unit": "celsius",
        "location": "assembly-line-1",
        **fields,
    }


def stored_count(url: str, device: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM sensor_readings WHERE device_id = %s", (device,)).fetchone()[0]


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False
    assert set(body) == {"success", "error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# --------------------------------------------------------------------------- fixtures


def _has_request_id(response: httpx.Response) -> None:
    assert re.fullmatch(r"[0-9a-f]{16}", response.headers.get("x-request-id", "")), (
        f"{response.request.method} {response.request.url} answered without an x-request-id"
    )


@pytest.fixture
def anonymous(service: System, clean_db: str) -> Iterator[httpx.Client]:
    """An HTTP client on the shared system without a login token (as a dashboard reading anonymously) but with
    the suite's gateway key, which only POST /api/readings reads, and a clean database; it checks that every
    response carries an x-request-id."""
    with httpx.Client(
        base_url=service.url, timeout=10, event_hooks={"response": [_has_request_id]}, headers=gateway_headers()
    ) as client:
        yield client


def history(client: httpx.Client, device: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/api/devices/{device}/history", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def devices_by_id(client: httpx.Client) -> dict[str, dict[str, Any]]:
    response = client.get("/api/devices")
    assert response.status_code == 200, response.text
    return {device["deviceId"]: device for device in response.json()["data"]["devices"]}


# --------------------------------------------------------------------------- health


def test_health_reports_each_dependency_and_the_request_figures(anonymous):
    anonymous.get("/api/devices")  # counted once answered, so it shows in the next report
    response = anonymous.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert ISO_MS_Z.match(body["timestamp"])
    assert body["version"] is None  # for admins only
    for name in ("database", "redis", "kafka"):
        dependency = body["dependencies"][name]
        assert dependency["status"] == "healthy", dependency
        assert is_number(dependency["responseTime"]) and dependency["responseTime"] >= 0
    assert body["dependencies"]["kafka"]["transport"] == "postgres"
    metrics = body["metrics"]
    assert set(metrics) >= {"uptime", "requestsPerMinute", "errorRate"}
    assert is_number(metrics["uptime"]) and metrics["uptime"] >= 0
    assert is_number(metrics["requestsPerMinute"]) and metrics["requestsPerMinute"] >= 1
    assert is_number(metrics["errorRate"]) and 0 <= metrics["errorRate"] <= 1


# --------------------------------------------------------------------------- POST /api/readings


def test_a_posted_reading_is_stored_and_shown(anonymous):
    sent = reading("device-001", value=71.25)
    response = anonymous.post("/api/readings", json=sent)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["success"] is True
    assert body["data"] == {"accepted": 1}
    assert ISO_MS_Z.match(body["meta"]["timestamp"])

    readings = wait_for(lambda: history(anonymous, "device-001")["data"]["readings"], what="the reading in history")
    assert readings == [{"timestamp": sent["timestamp"], "value": 71.25, "unit": "celsius", "status": "active"}]

    device = devices_by_id(anonymous)["device-001"]
    assert device["lastReading"] == {"value": 71.25, "timestamp": sent["timestamp"]}
    assert device["status"] == "active"


def test_a_batch_is_stored_with_a_device_registered_before(anonymous, api, clean_db):
    newcomer = f"gw-9-{uuid.uuid4().hex[:8]}"
    register(api, newcomer, "humidity", "percent", "warehouse-3")
    base = now() - timedelta(seconds=30)
    batch = [reading("device-001", 40 + n, base + timedelta(seconds=n)) for n in range(3)]
    batch += [
        reading("device-002", 20 + n, base + timedelta(seconds=n), sensorType="pressure", unit="psi") for n in range(2)
    ]
    batch += [reading(newcomer, 7.5, base, sensorType="humidity", unit="percent", location="warehouse-3")]
    response = anonymous.post("/api/readings", json={"readings": batch})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["success"] is True and body["data"] == {"accepted": 6}

    wait_for(
        lambda: (
            (
                stored_count(clean_db, "device-001"),
                stored_count(clean_db, "device-002"),
                stored_count(clean_db, newcomer),
            )
            == (3, 2, 1)
        ),
        what="the batch in sensor_readings",
    )
    assert [r["value"] for r in history(anonymous, "device-001")["data"]["readings"]] == [40, 41, 42]
    assert [r["value"] for r in history(anonymous, "device-002")["data"]["readings"]] == [20, 21]

    listed = devices_by_id(anonymous)
    assert set(SEED_DEVICES) | {newcomer} == set(listed)
    device = listed[newcomer]
    assert device["type"] == "humidity"
    assert device["location"] == "warehouse-3"
    assert device["lastReading"] == {"value": 7.5, "timestamp": batch[-1]["timestamp"]}
    assert history(anonymous, newcomer)["data"]["readings"][0]["unit"] == "percent"


@pytest.mark.parametrize(
    "payload, reason",
    [
        (reading(value="hot"), "$.value"),
        ({k: v for k, v in reading().items() if k != "unit"}, "unit"),
        (reading(at=now() + timedelta(hours=1)), "future"),
        (reading(deviceId="bad id with spaces"), "$.deviceId"),
        (reading(extra="field"), "extra"),
    ],
    ids=["string-value", "missing-field", "future-timestamp", "bad-device-id", "unknown-field"],
)
def test_a_bad_reading_is_refused(anonymous, clean_db, payload, reason):
    error = assert_error(anonymous.post("/api/readings", json=payload), 400, "VALIDATION_ERROR")
    assert reason in json.dumps(error["details"]), error
    assert stored_count(clean_db, payload.get("deviceId", "device-001")) == 0


def test_a_batch_with_one_bad_reading_stores_nothing(anonymous, clean_db):
    base = now() - timedelta(seconds=20)
    batch = [reading("device-004", 300 + n, base + timedelta(seconds=n)) for n in range(5)]
    batch[3] = {**batch[3], "value": "300"}
    error = assert_error(anonymous.post("/api/readings", json={"readings": batch}), 400, "VALIDATION_ERROR")
    assert len(error["details"]) == 1
    assert error["details"][0]["index"] == 3
    assert "$.value" in error["details"][0]["reason"]
    # A later good reading is stored: had any of the batch been queued, it would be there by then too.
    anonymous.post("/api/readings", json=reading("device-005", 90.0))
    wait_for(lambda: stored_count(clean_db, "device-005") == 1, what="the sentinel reading")
    assert stored_count(clean_db, "device-004") == 0


def test_a_batch_names_the_right_index_for_a_future_reading_after_a_bad_one(anonymous):
    base = now() - timedelta(seconds=20)
    batch = [
        reading("device-001", 1, base),
        {**reading("device-001", 2, base), "value": "x"},
        reading("device-001", 3, now() + timedelta(hours=2)),
    ]
    error = assert_error(anonymous.post("/api/readings", json={"readings": batch}), 400, "VALIDATION_ERROR")
    assert sorted(problem["index"] for problem in error["details"]) == [1, 2]


@pytest.mark.parametrize(
    "content, content_type",
    [
        (b"{not json", "application/json"),
        (b"", "application/json"),
        (b"deviceId=device-001&value=1", "application/x-www-form-urlencoded"),
        (json.dumps([reading()]).encode(), "application/json"),
        (b'"a string"', "application/json"),
        (b'{"readings": []}', "application/json"),
        (b'{"readings": "many"}', "application/json"),
    ],
    ids=["malformed", "empty", "form", "json-array", "json-string", "empty-batch", "readings-not-a-list"],
)
def test_a_body_that_is_not_a_reading_is_refused(anonymous, content, content_type):
    assert_error(
        anonymous.post("/api/readings", content=content, headers={"content-type": content_type}),
        400,
        "VALIDATION_ERROR",
    )


def test_a_body_over_8_mib_is_refused(anonymous):
    big = b'{"readings": [' + b" " * (9 * 1024 * 1024) + b"]}"
    assert_error(
        anonymous.post("/api/readings", content=big, headers={"content-type": "application/json"}),
        413,
        "PAYLOAD_TOO_LARGE",
    )


# --------------------------------------------------------------------------- GET /api/devices


def test_devices_list_each_device_with_status_alert_status_and_stats(anonymous):
    response = anonymous.get("/api/devices")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    devices = body["data"]["devices"]
    assert [d["deviceId"] for d in devices] == SEED_DEVICES
    for device in devices:
        assert {"deviceId", "type", "location", "status", "lastReading", "alertStatus", "stats"} <= set(device)
        assert isinstance(device["type"], str) and isinstance(device["location"], str)
        assert device["status"] in {"active", "inactive", "maintenance", "error", "offline"}
        assert device["lastReading"] is None  # a clean database
        assert device["alertStatus"] == "normal"
        assert set(device["stats"]) == {"avg24h", "trend"}
    assert {d["deviceId"]: d["type"] for d in devices} == {
        "device-001": "temperature",
        "device-002": "pressure",
        "device-003": "vibration",
        "device-004": "production",
        "device-005": "quality",
    }
    meta = body["meta"]
    assert meta["totalDevices"] == 5
    assert meta["activeDevices"] == sum(d["status"] == "active" for d in devices)
    assert ISO_MS_Z.match(meta["timestamp"])


def test_last_reading_is_the_newest(anonymous, clean_db):
    at = now().replace(microsecond=0) - timedelta(minutes=5)
    with psycopg.connect(clean_db, autocommit=True) as conn:
        storage.write_readings(
            conn,
            [
                parse_reading(
                    reading("device-003", 10 + n, at + timedelta(seconds=n), sensorType="vibration", unit="hz")
                )
                for n in range(5)
            ],
        )
    device = devices_by_id(anonymous)["device-003"]
    assert device["lastReading"] == {"value": 14, "timestamp": iso(at + timedelta(seconds=4))}
    assert device["status"] == "offline"  # its last reading is older than the 30 s offline timeout


# --------------------------------------------------------------------------- history


@pytest.fixture
def known_readings(clean_db: str) -> list[datetime]:
    """device-002 readings every 10 s from 1 minute ago back (20 of them), and one 2 hours ago."""
    base = now().replace(microsecond=0) - timedelta(minutes=1)
    times = [base - timedelta(seconds=10 * n) for n in range(20)] + [base - timedelta(hours=2)]
    with psycopg.connect(clean_db, autocommit=True) as conn:
        storage.write_readings(
            conn,
            [
                parse_reading(reading("device-002", float(n), at, sensorType="pressure", unit="psi"))
                for n, at in enumerate(times)
            ],
        )
    return times


def test_history_defaults_to_the_last_hour_oldest_first(anonymous, known_readings):
    body = history(anonymous, "device-002")
    readings = body["data"]["readings"]
    assert body["data"]["deviceId"] == "device-002"
    assert [r["timestamp"] for r in readings] == [iso(t) for t in reversed(known_readings[:20])]
    assert [r["value"] for r in readings] == [float(n) for n in reversed(range(20))]
    assert readings[0] == {"timestamp": iso(known_readings[19]), "value": 19.0, "unit": "psi", "status": "active"}
    assert body["meta"]["count"] == 20 and body["meta"]["truncated"] is False
    assert ISO_MS_Z.match(body["meta"]["from"]) and ISO_MS_Z.match(body["meta"]["to"])


def test_history_honours_from_and_to_inclusively(anonymous, known_readings):
    body = history(anonymous, "device-002", **{"from": iso(known_readings[10]), "to": iso(known_readings[5])})
    assert [r["value"] for r in body["data"]["readings"]] == [10.0, 9.0, 8.0, 7.0, 6.0, 5.0]
    assert body["meta"]["from"] == iso(known_readings[10]) and body["meta"]["to"] == iso(known_readings[5])
    # A UTC offset, epoch milliseconds and a time without an offset (UTC) mean the same instants.
    offset = known_readings[5].astimezone(timezone(timedelta(hours=2))).isoformat()
    epoch_ms = str(int(known_readings[10].timestamp() * 1000))
    naive = known_readings[10].replace(tzinfo=None).isoformat()
    for start in (epoch_ms, naive):
        same = history(anonymous, "device-002", **{"from": start, "to": offset})
        assert [r["value"] for r in same["data"]["readings"]] == [10.0, 9.0, 8.0, 7.0, 6.0, 5.0]


def test_history_reaches_older_readings_when_asked(anonymous, known_readings):
    body = history(anonymous, "device-002", **{"from": iso(now() - timedelta(hours=3))})
    assert len(body["data"]["readings"]) == 21
    assert body["data"]["readings"][0]["timestamp"] == iso(known_readings[20])
    body = history(
        anonymous, "device-002", **{"from": iso(now() - timedelta(hours=3)), "to": iso(now() - timedelta(hours=1))}
    )
    assert [r["value"] for r in body["data"]["readings"]] == [20.0]


def test_history_limit_keeps_the_newest(anonymous, known_readings):
    body = history(anonymous, "device-002", limit=5)
    assert [r["value"] for r in body["data"]["readings"]] == [4.0, 3.0, 2.0, 1.0, 0.0]
    assert body["meta"]["limit"] == 5 and body["meta"]["count"] == 5 and body["meta"]["truncated"] is True
    body = history(anonymous, "device-002", limit=3, **{"from": iso(known_readings[15]), "to": iso(known_readings[5])})
    assert [r["value"] for r in body["data"]["readings"]] == [7.0, 6.0, 5.0]
    body = history(anonymous, "device-002", limit=10_000)
    assert body["meta"]["count"] == 20 and body["meta"]["truncated"] is False


def test_history_of_a_device_without_readings_is_empty(anonymous):
    body = history(anonymous, "device-005")
    assert body["success"] is True
    assert body["data"] == {"deviceId": "device-005", "readings": []}
    assert body["meta"]["count"] == 0


@pytest.mark.parametrize(
    "params, named",
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "20000"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2025-13-45T00:00:00Z"}, "to"),
        ({"from": "2025-01-11T10:00:00Z", "to": "2025-01-11T09:00:00Z"}, "from"),
    ],
    ids=["limit-0", "limit-20000", "limit-x", "limit-negative", "from-words", "to-impossible", "from-after-to"],
)
def test_bad_history_parameters_are_refused(anonymous, params, named):
    error = assert_error(anonymous.get("/api/devices/device-001/history", params=params), 400, "VALIDATION_ERROR")
    assert named in error["message"]


def test_history_of_an_unknown_device_is_404(anonymous):
    error = assert_error(anonymous.get("/api/devices/device-999/history"), 404, "DEVICE_NOT_FOUND")
    assert error["details"] == {"deviceId": "device-999"}


# --------------------------------------------------------------------------- the rest


@pytest.mark.parametrize(
    "method, path", [("GET", "/api/nothing-here"), ("POST", "/api/devices/device-001"), ("DELETE", "/api/readings")]
)
def test_unknown_api_routes_answer_404_in_the_envelope(anonymous, service, database_url, method, path):
    headers = bearer(service.url, database_url, "admin")  # writes are checked for a token before routing
    assert_error(anonymous.request(method, path, headers=headers), 404, "NOT_FOUND")


def test_every_response_has_its_own_request_id(anonymous):
    responses = [
        anonymous.get("/api/health"),
        anonymous.get("/api/devices"),
        anonymous.get("/api/nope"),
        anonymous.get("/"),
        anonymous.post("/api/readings", content=b"["),
    ]
    ids = [r.headers["x-request-id"] for r in responses]
    assert len(set(ids)) == len(ids)


def test_the_root_serves_html(anonymous):
    response = anonymous.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<html" in response.text.lower()
    # Client-side routes get the same page.
    assert anonymous.get("/devices/device-001").headers["content-type"].startswith("text/html")


# --------------------------------------------------------------------------- Socket.IO (Engine.IO v4 frames by hand:
# the python-socketio client needs aiohttp/requests, which are not dependencies of this project)


def _event(packet: str) -> tuple[str, Any] | None:
    """('name', data) of a Socket.IO EVENT packet on the default namespace ('42[...]')."""
    if not packet.startswith("42"):
        return None
    name, *args = json.loads(packet[2:])
    return name, (args[0] if args else None)


def test_socketio_websocket_says_connection_status(service):
    ws = simple_websocket.Client.connect(f"ws://127.0.0.1:{service.settings.port}/socket.io/?EIO=4&transport=websocket")
    try:
        # Ask for the default namespace at once: simple_websocket's client leaves a frame that came in
        # the same read as the 101 response (Engine.IO's OPEN) buffered until more data arrives.
        ws.send("40")
        packets: list[str] = []
        # python-socketio (always_connect=False) sends what the connect handler emits before the
        # CONNECT ack; socket.io clients buffer such events until connected, so either order is fine.
        while not (any(_event(p) for p in packets) and any(p.startswith("40") for p in packets)):
            packet = ws.receive(timeout=5)
            assert packet is not None, f"no connection-status event or CONNECT ack; got {packets}"
            packets.append(packet)
        opened = next(p for p in packets if p.startswith("0"))
        assert json.loads(opened[1:])["sid"]
        connected = next(p for p in packets if p.startswith("40"))
        client_id = json.loads(connected[2:])["sid"]
        name, data = next(e for p in packets if (e := _event(p)))
        assert name == "connection-status"
        assert data["status"] == "connected"
        assert data["clientId"] == client_id
        assert ISO_MS_Z.match(data["timestamp"])
        ws.send('421["ping"]')  # an event with an acknowledgement id
        ack = wait_for(lambda: (p := ws.receive(timeout=5)) and p.startswith("431") and p, what="the ping ack")
        assert json.loads(ack[3:])[0]["status"] == "pong"
    finally:
        ws.close()


def test_socketio_polling_says_connection_status(service):
    with httpx.Client(base_url=service.url, timeout=10) as client:
        params = {"EIO": "4", "transport": "polling"}
        opened = client.get("/socket.io/", params=params)
        assert opened.status_code == 200 and opened.text.startswith("0"), opened.text
        params["sid"] = json.loads(opened.text[1:])["sid"]
        assert client.post("/socket.io/", params=params, content="40").text.lower() == "ok"
        packets: list[str] = []
        deadline = time.monotonic() + 5
        while not any(_event(p) for p in packets):
            assert time.monotonic() < deadline, f"no connection-status event; got {packets}"
            packets += client.get("/socket.io/", params=params).text.split("\x1e")
        name, data = next(e for p in packets if (e := _event(p)))
        assert name == "connection-status" and data["status"] == "connected"
        client.post("/socket.io/", params=params, content="1")  # close
