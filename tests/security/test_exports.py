"""CSV exports never hold a live spreadsheet formula: a value a gateway sent as `=1+2+cmd|calc` opens as text."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from iotmon.core.timestamps import iso
from tests.support.database import sql


def test_history_csv_neutralises_spreadsheet_formulas(api, clean_db):
    """A unit sent as `=1+2` is text in the export, not a formula; negative values stay numbers."""
    at = datetime.now(UTC).replace(second=0, microsecond=0)
    sql(
        clean_db,
        "INSERT INTO sensor_readings (device_id, timestamp, sensor_type, value, unit) VALUES"
        " ('device-003', %s, 'temperature', -5, '=1+2+cmd|calc')",
        at,
    )
    response = api.get("/api/devices/device-003/history.csv", params={"from": iso(at)})
    [row] = list(csv.DictReader(io.StringIO(response.text)))
    assert (row["unit"], row["value"]) == ("'=1+2+cmd|calc", "-5.0")


def test_alerts_csv_neutralises_spreadsheet_formulas(api, clean_db):
    """An alert's message carries what a device sent (its unit, say): text in the export, never a formula."""
    sql(
        clean_db,
        "INSERT INTO alerts (device_id, alert_type, message, severity, value, threshold, status, triggered_at,"
        " updated_at) VALUES ('device-001', 'threshold_exceeded', '@SUM(1+1)*cmd|calc', 'high', -3, 85,"
        " 'triggered', now(), now())",
    )
    response = api.get("/api/alerts/export.csv", params={"status": "all"})
    [row] = list(csv.DictReader(io.StringIO(response.text)))
    assert (row["message"], row["value"]) == ("'@SUM(1+1)*cmd|calc", "-3.0")
