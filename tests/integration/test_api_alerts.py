"""The alert and silence endpoints on the real service over HTTP.

Alerts are seeded straight into PostgreSQL with iotmon.adapters.postgres.alerts (history rows included);
the service runs with the embedded event log, whose `alerts` topic the test reads to see
the events the API publishes. Scheduled ticks are off (no escalation behind the tests' back).
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
import redis as redis_lib

from eventing import topics
from eventing.binding import decode, json_data
from iotmon.adapters.postgres import alerts as store
from iotmon.adapters.redis.keys import ALERTS_ACTIVE
from iotmon.system import System
from tests.support.service import error_of

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module", autouse=True)
def alert_records(service: System) -> None:
    """A consumer group that never commits: from here on the transport keeps every `alerts` record for the tests
    to read (the shared system's own groups go on as before)."""
    service.transport.consumer(topics.ALERTS, "test-api-alerts")


SEEDER = "/tests/seed"


def seed(
    url: str, device: str, kind: str, severity: str, *, ago_s: float, value: float = 90.0, status: str = "triggered"
) -> str:
    """One alert (and its history) triggered `ago_s` seconds ago, moved to `status`."""
    with psycopg.connect(url, autocommit=True) as conn:
        change = store.trigger(
            conn,
            device,
            kind,
            severity=severity,
            message=f"{kind} on {device}",
            value=value,
            threshold=85.0,
            details={"rule": kind},
            at=NOW - timedelta(seconds=ago_s),
            source=SEEDER,
        )
        assert change is not None
        number = int(change.alert_id[6:])
        if status in ("acknowledged", "resolved"):
            if status == "acknowledged":
                store.acknowledge(conn, number, "seeder", None, source=SEEDER)
            else:
                store.resolve(conn, number, "seeder", "fixed", source=SEEDER)
        if status == "escalated":
            store.escalate_due(conn, NOW, at=NOW, source=SEEDER)
    return change.alert_id


@pytest.fixture
def seeded(api, clean_db) -> dict[str, str]:
    return {
        "crit": seed(clean_db, "device-001", "threshold_exceeded", "critical", ago_s=50),
        "high": seed(clean_db, "device-002", "threshold_exceeded", "high", ago_s=40),
        "med_ack": seed(clean_db, "device-002", "data_anomaly", "medium", ago_s=30, status="acknowledged"),
        "low": seed(clean_db, "device-003", "trend_warning", "low", ago_s=20),
        "done": seed(clean_db, "device-001", "data_anomaly", "high", ago_s=7200, status="resolved"),
    }


def alerts_of(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    return body["data"]["alerts"]


@pytest.fixture
def alert_events(service) -> Callable[[], list[dict[str, Any]]]:
    """The alert events published on the shared system's `alerts` topic from now on, read by a consumer group
    of the test's own (the system's notify commits and the log then drops what it read)."""
    consumer = service.transport.consumer(topics.ALERTS, f"tests-{uuid.uuid4().hex[:8]}")
    while consumer.poll(1000, 0):  # a new group starts at the oldest record kept: skip what came before
        pass
    found: list[dict[str, Any]] = []

    def published() -> list[dict[str, Any]]:
        for record in consumer.poll(1000, 0):
            event = decode(record.headers, record.key, record.value)
            found.append({**json_data(event), "ceType": event["type"], "source": event["source"]})
        return found

    return published
    return found


# --------------------------------------------------------------------------- GET /api/alerts


def test_list_defaults_to_open_alerts_newest_first_with_meta_counts(api, seeded):
    response = api.get("/api/alerts")
    body = response.json()
    found = alerts_of(response)
    assert [a["id"] for a in found] == [
        seeded["low"],
        seeded["med_ack"],
        seeded["high"],
        seeded["crit"],
    ]  # newest first
    assert body["meta"] | {"timestamp": None} == {
        "totalAlerts": 4,
        "criticalAlerts": 1,
        "highAlerts": 1,
        "mediumAlerts": 1,
        "lowAlerts": 1,
        "count": 4,
        "limit": 50,
        "offset": 0,
        "timestamp": None,
    }
    crit = found[-1]
    assert set(crit) == {
        "id",
        "deviceId",
        "type",
        "message",
        "severity",
        "value",
        "threshold",
        "status",
        "triggeredAt",
        "acknowledgedAt",
        "resolvedAt",
        "escalatedAt",
        "acknowledgedBy",
        "resolvedBy",
        "details",
    }
    assert crit["id"].startswith("alert-") and crit["deviceId"] == "device-001"
    assert (crit["value"], crit["threshold"], crit["status"], crit["severity"]) == (90.0, 85.0, "triggered", "critical")
    assert (
        crit["triggeredAt"].endswith("Z")
        and crit["acknowledgedAt"] is None
        and crit["details"] == {"rule": "threshold_exceeded"}
    )
    acked = found[1]
    assert acked["status"] == "acknowledged" and acked["acknowledgedBy"] == "seeder" and acked["acknowledgedAt"]


@pytest.mark.parametrize(
    ("query", "expected", "total"),
    [
        ({"status": "resolved"}, ["done"], 1),
        ({"status": "acknowledged,resolved"}, ["med_ack", "done"], 2),
        ({"status": "all"}, ["low", "med_ack", "high", "crit", "done"], 5),
        ({"status": "active"}, ["low", "med_ack", "high", "crit"], 4),
        ({"severity": "critical,high"}, ["high", "crit"], 2),
        ({"severity": "high", "status": "all"}, ["high", "done"], 2),
        ({"deviceId": "device-002"}, ["med_ack", "high"], 2),
        ({"type": "data_anomaly", "status": "all"}, ["med_ack", "done"], 2),
        ({"deviceId": "device-404"}, [], 0),
        ({"limit": 2}, ["low", "med_ack"], 4),
        ({"limit": 2, "offset": 2}, ["high", "crit"], 4),
        ({"offset": 10}, [], 4),
    ],
)
def test_filters_and_paging(api, seeded, query, expected, total):
    response = api.get("/api/alerts", params=query)
    assert [a["id"] for a in alerts_of(response)] == [seeded[name] for name in expected]
    assert response.json()["meta"]["totalAlerts"] == total


def test_meta_counts_follow_the_filter(api, seeded):
    meta = api.get("/api/alerts", params={"status": "all", "deviceId": "device-001"}).json()["meta"]
    assert (meta["totalAlerts"], meta["criticalAlerts"], meta["highAlerts"], meta["mediumAlerts"]) == (2, 1, 1, 0)


@pytest.mark.parametrize(
    "query",
    [
        {"status": "bogus"},
        {"status": "triggered,nope"},
        {"severity": "urgent"},
        {"limit": 0},
        {"limit": 501},
        {"limit": "ten"},
        {"offset": -1},
        {"deviceId": "x" * 101},
    ],
)
def test_bad_list_parameters_are_400(api, query):
    error_of(api.get("/api/alerts", params=query), 400, "VALIDATION_ERROR")


# --------------------------------------------------------------------------- GET /api/alerts/{id}, history


def test_one_alert_with_its_history(api, seeded):
    response = api.get(f"/api/alerts/{seeded['done']}")
    assert response.status_code == 200
    alert = response.json()["data"]["alert"]
    assert alert["id"] == seeded["done"] and alert["status"] == "resolved" and alert["resolvedBy"] == "seeder"
    assert [(h["action"], h["fromStatus"], h["toStatus"], h["actor"]) for h in alert["history"]] == [
        ("triggered", None, "triggered", "system"),
        ("resolved", "triggered", "resolved", "seeder"),
    ]
    assert alert["history"][1]["note"] == "fixed" and alert["history"][1]["at"].endswith("Z")


@pytest.mark.parametrize("alert", ["alert-999999", "alert-abc", "nope", "alert-99999999999999999999", "alert--1"])
def test_unknown_alerts_are_404(api, alert):
    error_of(api.get(f"/api/alerts/{alert}"), 404, "ALERT_NOT_FOUND")
    error_of(api.put(f"/api/alerts/{alert}/acknowledge"), 404, "ALERT_NOT_FOUND")
    error_of(api.put(f"/api/alerts/{alert}/resolve"), 404, "ALERT_NOT_FOUND")


def test_alert_history_lists_every_alert_newest_first_with_time_range(api, seeded):
    every = alerts_of(api.get("/api/alerts/history"))
    assert [a["id"] for a in every] == [seeded[k] for k in ("low", "med_ack", "high", "crit", "done")]
    since = (NOW - timedelta(hours=1)).isoformat()
    recent = api.get("/api/alerts/history", params={"from": since, "limit": 2, "offset": 1})
    assert [a["id"] for a in alerts_of(recent)] == [seeded["med_ack"], seeded["high"]]
    assert recent.json()["meta"]["totalAlerts"] == 4
    until = (NOW - timedelta(hours=1)).isoformat()
    assert [a["id"] for a in alerts_of(api.get("/api/alerts/history", params={"to": until}))] == [seeded["done"]]
    only = api.get("/api/alerts/history", params={"deviceId": "device-001", "status": "resolved"})
    assert [a["id"] for a in alerts_of(only)] == [seeded["done"]]
    for query in ({"from": "yesterday"}, {"from": NOW.isoformat(), "to": since}, {"limit": 9999}):
        error_of(api.get("/api/alerts/history", params=query), 400, "VALIDATION_ERROR")


# --------------------------------------------------------------------------- acknowledge / resolve


def test_acknowledge_then_resolve_publishes_events_and_refreshes_active(api, alert_events, seeded, redis_url):
    response = api.put(f"/api/alerts/{seeded['crit']}/acknowledge", json={"note": "on it"})
    assert response.status_code == 200, response.text
    body = response.json()
    alert = body["data"]["alert"]
    assert alert["status"] == "acknowledged" and alert["acknowledgedBy"] == "test-operator" and alert["acknowledgedAt"]
    assert alert["history"][-1] | {"at": None, "sequence": None} == {
        "action": "acknowledged",
        "fromStatus": "triggered",
        "toStatus": "acknowledged",
        "actor": "test-operator",
        "note": "on it",
        "details": {},
        "at": None,
        "sequence": None,
    }
    assert body["meta"]["action"] == "acknowledged" and body["meta"]["eventPublished"] is True

    response = api.put(f"/api/alerts/{seeded['crit']}/resolve")  # no body: the note is optional
    assert response.status_code == 200, response.text
    alert = response.json()["data"]["alert"]
    assert alert["status"] == "resolved" and alert["resolvedBy"] == "test-operator" and alert["resolvedAt"]

    sent = [e for e in alert_events() if e["alertId"] == seeded["crit"] and e["source"] == "/iotmon/api"]
    assert [(e["ceType"], e["alertId"], e["action"], e["actor"], e["source"]) for e in sent] == [
        ("io.iotmon.alert.acknowledged.v1", seeded["crit"], "acknowledged", "test-operator", "/iotmon/api"),
        ("io.iotmon.alert.resolved.v1", seeded["crit"], "resolved", "test-operator", "/iotmon/api"),
    ]
    assert sent[0]["note"] == "on it"
    active = json.loads(redis_lib.Redis.from_url(redis_url).get(ALERTS_ACTIVE))
    assert sorted(a["id"] for a in active) == sorted(seeded[k] for k in ("high", "med_ack", "low"))
    assert alerts_of(api.get("/api/alerts", params={"status": "resolved"}))[0]["id"] == seeded["crit"]


def test_an_escalated_alert_can_be_acknowledged(api, clean_db):
    alert = seed(clean_db, "device-004", "threshold_exceeded", "high", ago_s=900, status="escalated")
    assert api.get(f"/api/alerts/{alert}").json()["data"]["alert"]["status"] == "escalated"
    response = api.put(f"/api/alerts/{alert}/acknowledge", json={})
    assert response.json()["data"]["alert"]["status"] == "acknowledged"


def test_invalid_moves_are_409_and_change_nothing(api, alert_events, seeded):
    before = [e for e in alert_events() if e["source"] == "/iotmon/api"]
    error = error_of(api.put(f"/api/alerts/{seeded['med_ack']}/acknowledge"), 409, "INVALID_TRANSITION")
    assert error["details"] == {
        "alertId": seeded["med_ack"],
        "status": "acknowledged",
        "to": "acknowledged",
        "allowedFrom": ["triggered", "escalated"],
    }
    error_of(api.put(f"/api/alerts/{seeded['done']}/resolve"), 409, "INVALID_TRANSITION")
    error_of(api.put(f"/api/alerts/{seeded['done']}/acknowledge", json={"note": "late"}), 409, "INVALID_TRANSITION")
    assert [e for e in alert_events() if e["source"] == "/iotmon/api"] == before
    assert len(api.get(f"/api/alerts/{seeded['done']}").json()["data"]["alert"]["history"]) == 2


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        b'"note"',
        b'{"note": 5}',
        b'{"note": "x", "actor": "me"}',
        json.dumps({"note": "n" * 1001}).encode(),
    ],
)
def test_bad_move_bodies_are_400(api, seeded, body):
    error_of(api.put(f"/api/alerts/{seeded['crit']}/acknowledge", content=body), 400, "VALIDATION_ERROR")
    assert api.get(f"/api/alerts/{seeded['crit']}").json()["data"]["alert"]["status"] == "triggered"


def test_wrong_methods_are_404_in_the_envelope(api, seeded):  # the service's contract for any unrouted request
    error_of(api.post(f"/api/alerts/{seeded['crit']}/acknowledge"), 404, "NOT_FOUND")
    error_of(api.get(f"/api/alerts/{seeded['crit']}/resolve"), 404, "NOT_FOUND")


# --------------------------------------------------------------------------- CSV


def test_alerts_csv_export_uses_the_list_filters_without_limit(api, seeded):
    response = api.get("/api/alerts/export.csv", params={"status": "all", "limit": 1})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == 'attachment; filename="alerts.csv"'
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [row["id"] for row in rows] == [seeded[k] for k in ("low", "med_ack", "high", "crit", "done")]
    done = rows[-1]
    assert (done["deviceId"], done["type"], done["severity"], done["status"], done["resolvedBy"]) == (
        "device-001",
        "data_anomaly",
        "high",
        "resolved",
        "seeder",
    )
    assert float(done["value"]) == 90.0 and done["triggeredAt"].endswith("Z") and done["acknowledgedAt"] == ""
    open_only = list(csv.DictReader(io.StringIO(api.get("/api/alerts/export.csv", params={"severity": "low"}).text)))
    assert [row["id"] for row in open_only] == [seeded["low"]]
    error_of(api.get("/api/alerts/export.csv", params={"severity": "urgent"}), 400, "VALIDATION_ERROR")


# --------------------------------------------------------------------------- silences


def test_silence_create_list_delete(api, clean_db):
    ends = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    created = api.post("/api/silences", json={"deviceId": "device-001", "reason": "maintenance", "endsAt": ends})
    assert created.status_code == 201, created.text
    silence = created.json()["data"]["silence"]
    assert (silence["deviceId"], silence["reason"], silence["createdBy"]) == (
        "device-001",
        "maintenance",
        "test-operator",
    )
    assert silence["endsAt"].endswith("Z") and silence["startsAt"].endswith("Z")
    everywhere = api.post(
        "/api/silences",
        json={
            "deviceId": None,
            "reason": "line stop",
            "endsAt": ends,
            "startsAt": (datetime.now(UTC) + timedelta(minutes=5)).isoformat(),
        },
    )
    assert everywhere.status_code == 201 and everywhere.json()["data"]["silence"]["deviceId"] is None

    listed = api.get("/api/silences").json()
    assert [s["id"] for s in listed["data"]["silences"]] == [silence["id"], everywhere.json()["data"]["silence"]["id"]]
    assert listed["meta"]["count"] == 2
    with psycopg.connect(clean_db, autocommit=True) as conn:  # an expired one, inserted directly
        conn.execute(
            "INSERT INTO silences (reason, starts_at, ends_at) VALUES ('old', now() - interval '2 h', now() - interval '1 h')"
        )
    assert len(api.get("/api/silences").json()["data"]["silences"]) == 2
    assert len(api.get("/api/silences", params={"includeExpired": "true"}).json()["data"]["silences"]) == 3

    deleted = api.delete(f"/api/silences/{silence['id']}")
    assert deleted.status_code == 200 and deleted.json()["data"] == {"deleted": silence["id"]}
    error_of(api.delete(f"/api/silences/{silence['id']}"), 404, "SILENCE_NOT_FOUND")
    for bad in ("abc", "99999999999999999999999", "0", "-3"):
        error_of(api.delete(f"/api/silences/{bad}"), 404, "SILENCE_NOT_FOUND")


@pytest.mark.parametrize(
    "body",
    [
        {"reason": "x"},  # no endsAt
        {"reason": "x", "endsAt": "tomorrow"},
        {"reason": "x", "endsAt": 12},
        {"reason": "x", "endsAt": "2020-01-01T00:00:00Z"},  # in the past
        {"reason": "", "endsAt": "2999-01-01T00:00:00Z"},
        {"reason": 5, "endsAt": "2999-01-01T00:00:00Z"},
        {"reason": "x" * 501, "endsAt": "2999-01-01T00:00:00Z"},
        {"deviceId": "device-404", "reason": "x", "endsAt": "2999-01-01T00:00:00Z"},
        {"deviceId": 7, "reason": "x", "endsAt": "2999-01-01T00:00:00Z"},
        {"deviceId": "d" * 51, "reason": "x", "endsAt": "2999-01-01T00:00:00Z"},
        {"reason": "x", "endsAt": "2999-01-01T00:00:00Z", "startsAt": "2999-02-01T00:00:00Z"},
        {"reason": "x", "endsAt": "2999-01-01T00:00:00Z", "until": "later"},
        [],
    ],
)
def test_bad_silences_are_400(api, body):
    error_of(api.post("/api/silences", json=body), 400, "VALIDATION_ERROR")


def test_silence_body_and_query_errors(api):
    error_of(api.post("/api/silences", content=b"{oops"), 400, "VALIDATION_ERROR")
    error_of(api.post("/api/silences"), 400, "VALIDATION_ERROR")
    error_of(api.get("/api/silences", params={"includeExpired": "maybe"}), 400, "VALIDATION_ERROR")


def test_nul_bytes_are_refused_not_crashed_on(api, seeded):
    for query in ({"deviceId": "a\x00b"}, {"type": "\x00"}):
        error_of(api.get("/api/alerts", params=query), 400, "VALIDATION_ERROR")
        error_of(api.get("/api/alerts/history", params=query), 400, "VALIDATION_ERROR")
    error_of(api.put(f"/api/alerts/{seeded['crit']}/acknowledge", json={"note": "a\u0000"}), 400, "VALIDATION_ERROR")
    error_of(
        api.post("/api/silences", json={"reason": "a\u0000", "endsAt": "2999-01-01T00:00:00Z"}), 400, "VALIDATION_ERROR"
    )
    error_of(
        api.post("/api/silences", json={"deviceId": "\u0000", "reason": "r", "endsAt": "2999-01-01T00:00:00Z"}),
        400,
        "VALIDATION_ERROR",
    )
    error_of(api.get("/api/silences", params={"deviceId": "\x00"}), 400, "VALIDATION_ERROR")
