"""The device registry on the running system: devices are registered, changed, listed and decommissioned through
the API by operators; readings of devices that are not registered, or were decommissioned, are refused — at the
API with a 400 and nothing stored, on the event log by a dead letter with the reason, without holding up the
readings behind them."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from eventing import topics
from eventing.dead_letters import read
from eventing.events import batch_event
from iotmon.adapters.postgres import db
from iotmon.core.contracts.readings import Reading
from iotmon.core.readings import parse_reading
from iotmon.core.writers import Writer
from iotmon.service.routes.readings import OutOfScope, admit
from iotmon.system import System
from tests.support.auth import bearer
from tests.support.database import sql
from tests.support.devices import register
from tests.support.service import error_of, settle
from tests.support.waiting import wait_for


def reading(device: str, value: float, seconds_ago: float = 0.0, **fields: Any) -> dict[str, Any]:
    at = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    stamp = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "deviceId": device,
        "timestamp": stamp,
        "sensorType": "temperature",
        "value": value,
        "unit": "celsius",
    } | fields


def data(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is True
    return body["data"]


def stored(database_url: str, device: str) -> int:
    return int(sql(database_url, "SELECT count(*) FROM sensor_readings WHERE device_id = %s", device)[0][0])


def open_alerts(api: httpx.Client, device: str) -> list[dict[str, Any]]:
    alerts: list[dict[str, Any]] = data(api.get("/api/alerts", params={"deviceId": device}))["alerts"]
    return alerts


# --------------------------------------------------------------------------- the endpoints


def test_a_device_is_registered_with_its_config_and_then_exists(api: httpx.Client) -> None:
    config = {"normalMin": 10, "normalMax": 40, "alertMax": 50, "breachCount": 1}
    device = register(api, "press-7", "pressure", "psi", "line-9", name="Press #7", config=config)
    assert (device["deviceId"], device["type"], device["unit"], device["location"], device["name"]) == (
        "press-7",
        "pressure",
        "psi",
        "line-9",
        "Press #7",
    )
    assert (device["config"]["alertMax"], device["config"]["breachCount"], device["config"]["alertMin"]) == (
        50,
        1,
        None,
    )
    assert data(api.get("/api/devices/press-7"))["device"]["config"]["normalMax"] == 40

    again = api.post("/api/devices", json={"deviceId": "press-7", "type": "pressure", "unit": "psi", "location": "x"})
    assert "PUT /api/devices/press-7" in error_of(again, 409, "DEVICE_EXISTS")["message"]


def test_a_bad_registration_lists_every_problem_inside_config_too(api: httpx.Client) -> None:
    body = {"deviceId": "no spaces", "unit": "", "location": "line-1", "config": {"alertMax": "high", "breachCount": 0}}
    problems = error_of(api.post("/api/devices", json=body), 400, "VALIDATION_ERROR")["details"]
    assert {problem["field"] for problem in problems} == {
        "deviceId",
        "type",
        "unit",
        "config.alertMax",
        "config.breachCount",
    }

    crossed = {
        "deviceId": "x-1",
        "type": "t",
        "unit": "u",
        "location": "l",
        "config": {"normalMax": 90, "alertMax": 80},
    }
    problems = error_of(api.post("/api/devices", json=crossed), 400, "VALIDATION_ERROR")["details"]
    assert [problem["field"] for problem in problems] == ["config.alertMax"]
    assert error_of(api.get("/api/devices/x-1"), 404, "DEVICE_NOT_FOUND")


def test_a_device_is_changed_with_put(api: httpx.Client) -> None:
    register(api, "oven-2", location="line-1")
    changed = data(
        api.put("/api/devices/oven-2", json={"location": "line-2", "name": "Oven", "config": {"alertMax": 300}})
    )["device"]
    assert (changed["location"], changed["name"], changed["config"]["alertMax"]) == ("line-2", "Oven", 300)

    low = api.put("/api/devices/oven-2", json={"config": {"alertMin": 400}})
    assert error_of(low, 400, "VALIDATION_ERROR")["details"][0]["field"] == "config.alertMax"
    assert error_of(api.put("/api/devices/nobody", json={"name": "x"}), 404, "DEVICE_NOT_FOUND")
    twice = api.put("/api/devices/oven-2", json={"location": "a", "config": {"location": "b"}})
    assert error_of(twice, 400, "VALIDATION_ERROR")["details"][0]["field"] == "config.location"


def test_the_list_is_paged_and_filtered_with_totals(api: httpx.Client) -> None:
    for n in range(3):
        register(api, f"hall-a-{n}", "humidity", "percentage", "hall-a")
    register(api, "hall-b-0", "humidity", "percentage", "hall-b")

    answer = api.get("/api/devices", params={"location": "hall-a", "limit": 2, "offset": 1})
    body = answer.json()
    assert [d["deviceId"] for d in body["data"]["devices"]] == ["hall-a-1", "hall-a-2"]
    assert {k: body["meta"][k] for k in ("totalDevices", "activeDevices", "count", "limit", "offset")} == {
        "totalDevices": 3,
        "activeDevices": 0,
        "count": 2,
        "limit": 2,
        "offset": 1,
    }
    humid = data(api.get("/api/devices", params={"type": "humidity"}))["devices"]
    assert [d["deviceId"] for d in humid] == ["hall-a-0", "hall-a-1", "hall-a-2", "hall-b-0"]
    everything = api.get("/api/devices").json()
    assert everything["meta"]["totalDevices"] == 9 and everything["meta"]["limit"] == 50  # the 5 seed devices too
    assert error_of(api.get("/api/devices", params={"limit": 0}), 400, "VALIDATION_ERROR")


@pytest.mark.parametrize("role", [None, "viewer"])
def test_only_operators_change_the_registry(api: httpx.Client, url: str, clean_db: str, role: str | None) -> None:
    headers = bearer(url, clean_db, role) if role else {}
    status, code = (403, "FORBIDDEN") if role else (401, "UNAUTHORIZED")
    body = {"deviceId": "sneaky-1", "type": "t", "unit": "u", "location": "l"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        error_of(client.post("/api/devices", json=body), status, code)
        error_of(client.put("/api/devices/device-001", json={"name": "x"}), status, code)
        error_of(client.delete("/api/devices/device-001"), status, code)
        assert len(data(client.get("/api/devices"))["devices"]) == 5  # reading stays open
    assert data(api.get("/api/devices/device-001"))["device"]["name"] == "Temperature sensor #1"


# --------------------------------------------------------------------------- readings


def test_config_set_at_registration_applies_to_the_first_reading(api: httpx.Client, service: System) -> None:
    data(api.post("/api/readings", json=reading("device-001", 50)), 202)  # the rule engine's device cache is warm
    settle(service)
    register(api, "kiln-1", config={"normalMin": 10, "normalMax": 40, "alertMax": 50, "breachCount": 1})
    data(api.post("/api/readings", json=reading("kiln-1", 60)), 202)
    (alert,) = wait_for(lambda: open_alerts(api, "kiln-1"), 15, "the first reading's alert")
    assert (alert["type"], alert["threshold"], alert["value"]) == ("threshold_exceeded", 50, 60)


def test_readings_of_unknown_devices_are_refused_with_nothing_stored(
    api: httpx.Client, service: System, clean_db: str
) -> None:
    admin = bearer(service.url, clean_db, "admin")
    made = httpx.post(f"{service.url}/api/keys", headers=admin, json={"name": "fixed fleet", "autoRegister": False})
    key = {"X-API-Key": made.json()["data"]["secret"]}  # every device, but no new ones
    batch = {"readings": [reading("device-001", 50), reading("ghost-1", 1), reading("ghost-2", 2)]}
    problems = error_of(httpx.post(f"{service.url}/api/readings", json=batch, headers=key), 400, "VALIDATION_ERROR")[
        "details"
    ]
    assert problems == [
        {"index": 1, "reason": "unknown device 'ghost-1': register it with POST /api/devices"},
        {"index": 2, "reason": "unknown device 'ghost-2': register it with POST /api/devices"},
    ]
    single = error_of(
        httpx.post(f"{service.url}/api/readings", json=reading("ghost-1", 1), headers=key), 400, "VALIDATION_ERROR"
    )
    assert single["details"] == [{"reason": "unknown device 'ghost-1': register it with POST /api/devices"}]
    settle(service)
    assert stored(clean_db, "device-001") == 0 and stored(clean_db, "ghost-1") == 0
    assert sql(clean_db, "SELECT count(*) FROM devices WHERE device_id LIKE 'ghost-%%'") == [(0,)]


def test_unknown_devices_on_the_event_log_are_dead_lettered_and_do_not_hold_up_their_partition(
    api: httpx.Client, service: System, clean_db: str
) -> None:
    gateway = f"gw-{uuid.uuid4().hex[:8]}"  # one key: one partition, in this order
    unknown = batch_event([reading("phantom-1", 1), reading("device-002", 30, unit="psi")], "/test", key=gateway)
    known = batch_event([reading("device-003", 40, unit="hz")], "/test", key=gateway)
    sent = time.monotonic()
    service.transport.publish(topics.SENSORS_DATA, [unknown, known])
    wait_for(lambda: stored(clean_db, "device-003") == 1, 10, "the next event's reading")
    assert time.monotonic() - sent < 10
    assert stored(clean_db, "device-002") == 1  # the good reading beside the unknown one is kept

    def letters() -> list[Any]:
        found = [read(record) for record in service.transport.records(topics.SENSORS_DATA_DLQ)]
        return [
            letter
            for letter in found
            # (other tests' letters share the topic: an MQTT message's original is its text)
            if letter.event and _device_of(json.loads(letter.event.get_data())["original"]) == "phantom-1"
        ]

    (letter,) = wait_for(letters, 10, "the dead letter")
    assert letter.kind == "rejected"
    assert letter.reason == "unknown device 'phantom-1': register it with POST /api/devices"
    assert json.loads(letter.event.get_data())["index"] == 0
    assert sql(clean_db, "SELECT count(*) FROM devices WHERE device_id = 'phantom-1'") == [(0,)]


def _device_of(original: Any) -> Any:
    return original.get("deviceId") if isinstance(original, dict) else None


# --------------------------------------------------------------------------- decommissioning


def test_a_decommissioned_device_keeps_its_history_and_its_readings_are_refused(
    api: httpx.Client, service: System, clean_db: str
) -> None:
    register(api, "mixer-4", config={"alertMax": 50, "normalMax": 40, "normalMin": 0, "breachCount": 1})
    data(api.post("/api/readings", json=reading("mixer-4", 70, seconds_ago=1)), 202)
    (alert,) = wait_for(lambda: open_alerts(api, "mixer-4"), 15, "the alert")
    settle(service)

    gone = data(api.delete("/api/devices/mixer-4"))
    assert gone["deviceId"] == "mixer-4" and gone["resolvedAlerts"] == [alert["id"]]
    resolved = data(api.get(f"/api/alerts/{alert['id']}"))["alert"]
    assert (resolved["status"], resolved["history"][-1]["note"]) == ("resolved", "device decommissioned")
    assert "mixer-4" not in [d["deviceId"] for d in data(api.get("/api/devices"))["devices"]]
    error_of(api.get("/api/devices/mixer-4"), 404, "DEVICE_NOT_FOUND")
    assert len(data(api.get("/api/devices/mixer-4/history"))["readings"]) == 1  # the history stays
    error_of(api.delete("/api/devices/mixer-4"), 404, "DEVICE_NOT_FOUND")

    refused = error_of(api.post("/api/readings", json=reading("mixer-4", 20)), 400, "VALIDATION_ERROR")
    assert "was decommissioned at" in refused["details"][0]["reason"]
    before = stored(clean_db, "mixer-4")
    service.transport.publish(topics.SENSORS_DATA, [batch_event([reading("mixer-4", 21)], "/test", key="mixer-4")])
    settle(service)
    assert stored(clean_db, "mixer-4") == before

    again = register(api, "mixer-4", "temperature", "celsius", "line-3")
    assert again["config"]["alertMax"] is None and again["location"] == "line-3"  # afresh
    data(api.post("/api/readings", json=reading("mixer-4", 22)), 202)
    wait_for(lambda: stored(clean_db, "mixer-4") == before + 1, 10, "the reading of the device registered again")


# --------------------------------------------------------------------------- writers


ANONYMOUS = Writer("anonymous")  # (authentication lets nobody write so; the rule is checked here all the same)


def parsed(*readings: dict[str, Any]) -> list[Reading]:
    return [parse_reading(r) for r in readings]


def test_a_writer_allowed_to_registers_the_new_devices_it_names_and_no_one_else_does(clean_db: str) -> None:
    pool = db.pool(clean_db)
    try:
        batch = parsed(reading("gw-new-1", 1, location="hall-c"), reading("gw-new-1", 2, 1), reading("device-001", 3))
        refused = admit(pool, batch, ANONYMOUS, in_batch=True)
        assert [problem["index"] for problem in refused] == [0, 1]
        operator = Writer("operator-1", auto_register=True)
        assert admit(pool, batch, operator, in_batch=True) == []
        assert sql(clean_db, "SELECT device_type, unit, location FROM devices WHERE device_id = 'gw-new-1'") == [
            ("temperature", "celsius", "hall-c")
        ]
        sql(clean_db, "UPDATE devices SET decommissioned_at = now() WHERE device_id = 'device-002'")
        (problem,) = admit(pool, parsed(reading("gw-new-2", 1), reading("device-002", 2)), operator, in_batch=True)
        assert problem["index"] == 1 and "was decommissioned" in problem["reason"]  # never brought back
        assert sql(clean_db, "SELECT count(*) FROM devices WHERE device_id = 'gw-new-2'") == [(0,)]  # all or nothing

        picky = Writer("gateway-7", devices=frozenset({"gw-7-a"}), auto_register=True)
        with pytest.raises(OutOfScope, match="gw-7-b"):
            admit(pool, parsed(reading("gw-7-a", 1), reading("gw-7-b", 2)), picky, in_batch=True)
        assert sql(clean_db, "SELECT count(*) FROM devices WHERE device_id LIKE 'gw-7-%%'") == [(0,)]
        assert admit(pool, parsed(reading("gw-7-a", 1)), picky, in_batch=True) == []  # its own: registered

        scoped = Writer("line-1-gateway", locations=frozenset({"assembly-line-1"}))
        with pytest.raises(OutOfScope) as refused:
            admit(pool, parsed(reading("device-001", 1), reading("device-003", 2)), scoped, in_batch=True)
        assert refused.value.devices == ["device-003"]
    finally:
        pool.close()
