"""History import on the real service and database: POST /api/devices/:id/import and `iotmon import`.

Old data (beyond the 92 days ingest takes) is stored once, rolled up, raises nothing live, and survives the
retention sweep; bad rows are reported; the body is bounded; only operators may import."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from eventing.memory import MemoryTransport
from functions.escalate_cron import EscalateCron
from iotmon import cli
from iotmon.adapters.postgres import db
from iotmon.adapters.redis import keys
from iotmon.service.requests import IMPORT_LIMIT
from tests.support.auth import bearer
from tests.support.database import sql
from tests.support.service import error_of

OLD = (datetime.now(UTC) - timedelta(days=200)).replace(minute=0, second=0, microsecond=0)  # 200 days ago


def skab_like_csv(start: datetime, minutes: int, value: float = 200.0) -> str:
    """SKAB's layout: `;`, naive datetimes (UTC), a minute apart; 200 °C is far past device-001's alert limit."""
    lines = ["datetime;Temperature;Pressure"]
    lines += [f"{start + timedelta(minutes=i):%Y-%m-%d %H:%M:%S};{value + i % 3};1.0" for i in range(minutes)]
    return "\n".join(lines) + "\n"


def post(url: str, headers: dict[str, str], device: str, body: str | bytes, media: str, **query: str) -> httpx.Response:
    return httpx.post(
        f"{url}/api/devices/{device}/import",
        params=query,
        content=body,
        headers={**headers, "content-type": media},
        timeout=60,
    )


@pytest.fixture
def operator(url: str, clean_db: str) -> dict[str, str]:
    return bearer(url, clean_db, "operator")


EVENTS = "SELECT count(*) FROM event_log WHERE topic IN ('sensors-data', 'metrics', 'alerts')"


def test_old_csv_history_is_imported_once_rolled_up_and_raises_nothing(url, clean_db, operator, redis):
    body = skab_like_csv(OLD, 180)
    events_before = sql(clean_db, EVENTS)
    answer = post(url, operator, "device-001", body, "text/csv", timeColumn="datetime", valueColumn="Temperature")
    assert answer.status_code == 200, answer.text
    summary = answer.json()["data"]
    assert summary == {
        "deviceId": "device-001",
        "rowsRead": 180,
        "imported": 180,
        "duplicates": 0,
        "rejected": 0,
        "from": OLD.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "to": (OLD + timedelta(minutes=179)).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "problems": [],
    }
    assert sql(clean_db, "SELECT count(*), min(timestamp) FROM sensor_readings WHERE device_id = 'device-001'") == [
        (180, OLD)
    ]
    hours = sql(clean_db, "SELECT count_readings FROM device_stats_hourly WHERE device_id = 'device-001' ORDER BY 1")
    assert hours == [(60,), (60,), (60,)]
    history = httpx.get(
        f"{url}/api/devices/device-001/history",
        params={"from": OLD.isoformat(), "to": (OLD + timedelta(hours=3)).isoformat(), "resolution": "1h"},
    ).json()
    assert [point["count"] for point in history["data"]["readings"]] == [60, 60, 60]

    again = post(url, operator, "device-001", body, "text/csv", timeColumn="datetime", valueColumn="Temperature")
    assert (again.json()["data"]["imported"], again.json()["data"]["duplicates"]) == (0, 180)
    assert sql(clean_db, "SELECT count(*) FROM sensor_readings") == [(180,)]

    # Nothing live: no alert for 200 °C, no current value, nothing on the event log's sensors-data.
    assert sql(clean_db, "SELECT count(*) FROM alerts") == [(0,)]
    assert redis.get(keys.current("device-001")) is None
    assert sql(clean_db, EVENTS) == events_before


def test_json_rows_with_epoch_seconds_and_bad_rows_reported(url, clean_db, operator):
    start = int(OLD.timestamp())
    rows = [{"t": start + 60 * i, "v": 20 + i} for i in range(10)]
    rows[3] = {"t": "yesterday", "v": 1}
    rows[5] = {"t": start + 300, "v": "n/a"}
    rows[7] = {"t": (datetime.now(UTC) + timedelta(days=1)).isoformat(), "v": 1}
    rows.append({"t": start, "v": 99})  # the first row's time again: a duplicate, skipped
    answer = post(
        url, operator, "device-002", json.dumps({"readings": rows}), "application/json", timeColumn="t", valueColumn="v"
    )
    assert answer.status_code == 200, answer.text
    summary = answer.json()["data"]
    assert (summary["rowsRead"], summary["imported"], summary["duplicates"], summary["rejected"]) == (11, 7, 1, 3)
    assert [problem["row"] for problem in summary["problems"]] == [4, 6, 8]
    assert "neither ISO 8601 nor epoch seconds" in summary["problems"][0]["reason"]
    assert "not a number" in summary["problems"][1]["reason"]
    assert sql(clean_db, "SELECT value::float8 FROM sensor_readings WHERE timestamp = %s", OLD) == [(20.0,)]


@pytest.mark.parametrize(
    ("body", "media", "reason"),
    [
        ("", "text/csv", "empty"),
        ("when,value\n2020-01-01T00:00:00Z,1\n", "text/csv", "no time column 'timestamp'"),
        ('{"rows": []}', "application/json", "expected a JSON array"),
        (b"timestamp,value\n\xff\xfe,1\n", "text/csv", "not UTF-8"),
    ],
)
def test_a_file_that_cannot_be_read_imports_nothing(url, clean_db, operator, body, media, reason):
    problem = error_of(post(url, operator, "device-001", body, media), 400, "VALIDATION_ERROR")
    assert reason in problem["message"] and "nothing was imported" in problem["message"]
    assert sql(clean_db, "SELECT count(*) FROM sensor_readings") == [(0,)]


def test_only_operators_import_and_only_into_registered_devices(url, clean_db, operator):
    body = "timestamp,value\n2024-01-01T00:00:00Z,1\n"
    error_of(post(url, {}, "device-001", body, "text/csv"), 401, "UNAUTHORIZED")
    error_of(post(url, bearer(url, clean_db, "viewer"), "device-001", body, "text/csv"), 403, "FORBIDDEN")
    error_of(post(url, operator, "no-such-device", body, "text/csv"), 404, "DEVICE_NOT_FOUND")
    assert httpx.delete(f"{url}/api/devices/device-005", headers=operator).status_code == 200
    error_of(post(url, operator, "device-005", body, "text/csv"), 409, "DEVICE_DECOMMISSIONED")
    assert sql(clean_db, "SELECT count(*) FROM sensor_readings") == [(0,)]


def test_a_body_over_the_limit_is_refused(url, operator):
    problem = error_of(
        post(url, operator, "device-001", b" " * (IMPORT_LIMIT + 1), "text/csv"), 413, "PAYLOAD_TOO_LARGE"
    )
    assert "32 MiB" in problem["message"]


def test_retention_keeps_imported_history_and_the_offline_rule_ignores_it(url, clean_db, operator, redis):
    """Raw readings 200 days old and rollups 400 days old survive the sweep: they were imported just now. A
    device whose only readings are imported raises no device_offline."""
    for start, minutes in ((OLD, 60), (datetime.now(UTC) - timedelta(days=400), 60)):
        csv = skab_like_csv(start.replace(minute=0, second=0, microsecond=0), minutes, value=50)
        answer = post(url, operator, "device-003", csv, "text/csv", timeColumn="datetime", valueColumn="Temperature")
        assert answer.json()["data"]["imported"] == minutes
    sql(clean_db, "SELECT ensure_sensor_readings_partitions(now() - interval '300 days', now() - interval '300 days')")
    pool = db.pool(clean_db)
    try:
        cron = EscalateCron(pool, redis, MemoryTransport(), offline_timeout_s=30)
        changes = cron([])
    finally:
        pool.close()
    assert sql(clean_db, "SELECT count(*) FROM sensor_readings WHERE device_id = 'device-003'") == [(120,)]
    assert sql(clean_db, "SELECT count(*) FROM device_stats_hourly WHERE device_id = 'device-003'") == [(2,)]
    dropped = cron.last_tick["droppedPartitions"]
    month_300 = datetime.now(UTC) - timedelta(days=300)
    assert f"sensor_readings_{month_300:%Y_%m}" in dropped  # a month no import touched still goes
    assert not [change for change in changes if change.device_id == "device-003"]
    assert sql(clean_db, "SELECT count(*) FROM alerts WHERE device_id = 'device-003'") == [(0,)]


def test_the_cli_registers_the_device_and_imports(clean_db, tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", clean_db)
    path = tmp_path / "oven.csv"
    path.write_text(skab_like_csv(OLD, 30).replace(";", "\t"))
    argv = ["import", "--device", "oven-7", "--time-column", "datetime", "--value-column", "Temperature", str(path)]
    assert cli.main(argv) == 2  # not registered
    assert "not registered" in capsys.readouterr().err
    create = ["--create", "--type", "temperature", "--unit", "celsius", "--location", "line-3"]
    assert cli.main([*argv, *create]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["deviceId"], summary["imported"], summary["rejected"]) == ("oven-7", 30, 0)
    assert sql(clean_db, "SELECT device_type, unit, location FROM devices WHERE device_id = 'oven-7'") == [
        ("temperature", "celsius", "line-3")
    ]
    assert cli.main([*argv, *create]) == 0  # again: registered already, nothing imported twice
    assert json.loads(capsys.readouterr().out)["duplicates"] == 30
    assert sql(clean_db, "SELECT count(*) FROM sensor_readings WHERE device_id = 'oven-7'") == [(30,)]
