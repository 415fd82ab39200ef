"""POST /api/devices/{id}/backtest on the real service: the rules over stored history or an uploaded CSV, the
current configuration or a candidate, and nothing written anywhere."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx

from iotmon.core.timestamps import iso
from tests.integration.test_api_devices import insert_series
from tests.support.database import sql
from tests.support.service import bearer, error_of

# device-001 (temperature, alert above 85): two hours at 10 s, steady at 70 except three single readings at 90.
SPIKES = (100, 400, 650)


def seed_history(url: str) -> datetime:
    start = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)
    spikes = " OR ".join(f"i = {i}" for i in SPIKES)
    insert_series(url, "device-001", start, 7200, step_s=10, value_sql=f"CASE WHEN {spikes} THEN 90 ELSE 70 END")
    return start


def written(url: str) -> tuple[object, ...]:
    return tuple(
        sql(url, f"SELECT count(*) FROM {table}")[0][0] for table in ("alerts", "alert_history", "alert_outbox")
    ) + tuple(sql(url, "SELECT updated_at, breach_count, alert_max FROM devices WHERE device_id = 'device-001'"))


def test_the_current_configuration_over_stored_history_finds_each_breach_and_writes_nothing(api, clean_db):
    start = seed_history(clean_db)
    before = written(clean_db)
    response = api.post("/api/devices/device-001/backtest", json={})
    assert response.status_code == 200, response.text
    result = response.json()["data"]
    assert (result["deviceId"], result["source"], result["readings"]) == ("device-001", "history", 720)
    exceeded = [a for a in result["alerts"] if a["type"] == "threshold_exceeded"]
    assert [a["triggeredAt"] for a in exceeded] == [iso(start + timedelta(seconds=10 * i)) for i in SPIKES]
    first = exceeded[0]
    assert first["value"] == 90.0 and first["threshold"] == 85.0 and "above the alert maximum" in first["message"]
    assert first["severity"] == "medium" and first["resolvedAt"] is not None  # 5 past 85: 8 % of the span 60
    assert result["perType"]["threshold_exceeded"] == 3 and result["alertCount"] == len(result["alerts"])
    assert sum(day["alerts"] for day in result["perDay"]) == result["alertCount"]
    assert result["config"]["alertMax"] == 85.0
    assert written(clean_db) == before  # no alert, no history, nothing to publish, the device unchanged


def test_a_candidate_configuration_is_judged_without_being_saved(api, clean_db):
    seed_history(clean_db)
    before = written(clean_db)
    higher = api.post("/api/devices/device-001/backtest", json={"config": {"alertMax": 95}}).json()["data"]
    assert higher["perType"].get("threshold_exceeded", 0) == 0 and higher["config"]["alertMax"] == 95.0
    debounced = api.post("/api/devices/device-001/backtest", json={"config": {"breachCount": 2}}).json()["data"]
    assert debounced["perType"].get("threshold_exceeded", 0) == 0  # single readings never repeat
    assert written(clean_db) == before


def test_a_range_narrows_the_history(api, clean_db):
    start = seed_history(clean_db)
    body = {"from": iso(start), "to": iso(start + timedelta(seconds=2000))}  # the first spike only
    result = api.post("/api/devices/device-001/backtest", json=body).json()["data"]
    assert result["readings"] == 201 and result["perType"]["threshold_exceeded"] == 1


def test_an_uploaded_csv_of_any_age_is_judged_with_its_own_columns(api, clean_db):
    rows = ["when;temp"] + [f"2019-03-01T00:{i // 6:02d}:{i % 6 * 10:02d};{99 if i == 200 else 70}" for i in range(360)]
    body = {"csv": "\n".join(rows), "timeColumn": "when", "valueColumn": "temp"}
    result = api.post("/api/devices/device-001/backtest", json=body).json()["data"]
    assert (result["source"], result["readings"], result["from"]) == ("upload", 360, "2019-03-01T00:00:00.000Z")
    exceeded = [a for a in result["alerts"] if a["type"] == "threshold_exceeded"]
    assert [(a["triggeredAt"], a["severity"]) for a in exceeded] == [("2019-03-01T00:33:20.000Z", "high")]
    assert result["perDay"][0]["day"] == "2019-03-01"
    assert sql(clean_db, "SELECT count(*) FROM sensor_readings")[0][0] == 0  # judged, not stored


def test_bad_requests_say_what_is_wrong(api, clean_db):
    post = api.post
    error = error_of(
        post("/api/devices/device-001/backtest", json={"config": {"alertMax": 10}}), 400, "VALIDATION_ERROR"
    )
    assert "alertMin < normalMin" in error["message"]
    error = error_of(post("/api/devices/device-001/backtest", json={"csv": "a,b\n1,2"}), 400, "VALIDATION_ERROR")
    assert "no time column 'timestamp'" in error["message"]
    bad_rows = "timestamp,value\n2020-01-01T00:00:00Z,1\nyesterday,2\n2020-01-01T00:00:20Z,x"
    error = error_of(post("/api/devices/device-001/backtest", json={"csv": bad_rows}), 400, "VALIDATION_ERROR")
    assert [problem["row"] for problem in error["details"]] == [2, 3]
    error = error_of(
        post("/api/devices/device-001/backtest", json={"from": "2026-01-02", "to": "2026-01-01"}),
        400,
        "VALIDATION_ERROR",
    )
    error_of(post("/api/devices/device-001/backtest", json={"speed": 3}), 400, "VALIDATION_ERROR")
    error_of(post("/api/devices/nope/backtest", json={}), 404, "DEVICE_NOT_FOUND")


def test_only_operators_may_backtest(service, clean_db):
    with httpx.Client(base_url=service.url, headers=bearer(service.url, clean_db, "viewer")) as viewer:
        error_of(viewer.post("/api/devices/device-001/backtest", json={}), 403, "FORBIDDEN")
    assert httpx.post(f"{service.url}/api/devices/device-001/backtest", json={}).status_code == 401


def test_the_cli_judges_stored_history_or_a_file_with_a_candidate(clean_db, tmp_path, monkeypatch, capsys):
    from iotmon import cli

    monkeypatch.setenv("DATABASE_URL", clean_db)
    start = seed_history(clean_db)
    before = written(clean_db)
    assert cli.main(["backtest", "--device", "device-001", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["source"] == "history" and answer["readings"] == 720
    assert answer["perType"]["threshold_exceeded"] == 3
    assert cli.main(["backtest", "--device", "device-001", "--config", '{"alertMax": 95}']) == 0
    text = capsys.readouterr().out
    assert "device-001: 720 readings" in text and "threshold_exceeded" not in text
    assert written(clean_db) == before
    path = tmp_path / "run.csv"
    path.write_text(
        "t,v\n" + "".join(f"{iso(start + timedelta(seconds=i))},{91 if i == 50 else 70}\n" for i in range(100))
    )
    argv = ["backtest", str(path), "--time-column", "t", "--value-column", "v", "--json"]
    assert cli.main([*argv, "--config", '{"alertMax": 90}']) == 0
    answer = json.loads(capsys.readouterr().out)
    assert (answer["deviceId"], answer["source"], answer["perType"]) == ("run", "upload", {"threshold_exceeded": 1})
    assert cli.main([*argv, "--config", '{"alertMax": "high"}']) == 2
    assert "alertMax" in capsys.readouterr().err
    assert cli.main(["backtest", "--device", "nope"]) == 2
