"""Migrations, partitions and the idempotent COPY path on a real PostgreSQL."""

from datetime import UTC, datetime, timedelta

import psycopg

from iotmon.adapters.postgres import db, registry, storage
from iotmon.adapters.postgres.devices import DeviceCatalog
from iotmon.core.readings import parse_reading
from tests.support.database import sql
from tests.support.devices import register_in


def reading(second: int, device: str = "device-001", day: datetime | None = None) -> object:
    at = (day or datetime.now(UTC).replace(microsecond=0)) - timedelta(seconds=second)
    return parse_reading(
        {
            "deviceId": device,
            "timestamp": at.isoformat().replace("+00:00", "Z"),
            "sensorType": "temperature",
            "value": 20 + second / 100,
            "unit": "celsius",
            "location": "assembly-line-1",
        }
    )


def count(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT count(*) FROM sensor_readings").fetchone()[0]


def test_migrations_are_safe_to_run_again(database_url):
    assert db.migrate(database_url) == []
    with psycopg.connect(database_url) as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
        assert versions == [version for version, _, _ in db.migrations()]


def test_the_seed_devices_are_there(clean_db):
    with psycopg.connect(clean_db) as conn:
        rows = conn.execute(
            "SELECT device_id, device_type, unit, normal_min::float8, normal_max::float8, alert_min::float8,"
            " alert_max::float8, update_period_ms FROM devices ORDER BY device_id"
        ).fetchall()
    assert rows == [
        ("device-001", "temperature", "celsius", 20, 80, 15, 85, 2000),
        ("device-002", "pressure", "psi", 10, 50, 5, 55, 3000),
        ("device-003", "vibration", "hz", 0, 100, None, 120, 1000),
        ("device-004", "production", "units/hour", 100, 500, 50, None, 5000),
        ("device-005", "quality", "percentage", 85, 100, 80, None, 4000),
    ]


def test_partitions_exist_for_the_retention_window_and_ahead(database_url):
    with psycopg.connect(database_url) as conn:
        names = {
            row[0]
            for row in conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " WHERE i.inhparent = 'sensor_readings'::regclass"
            )
        }
    now = datetime.now(UTC)
    for months_ahead in (-3, 0, 1, 2):
        month = (now.replace(day=15) + timedelta(days=30.5 * months_ahead)).strftime("%Y_%m")
        assert f"sensor_readings_{month}" in names


def test_a_redelivered_batch_stores_nothing_twice(clean_db):
    now = datetime.now(UTC).replace(microsecond=0)  # one clock: the overlap must not drift a second
    batch = [reading(s, day=now) for s in range(100)]
    with psycopg.connect(clean_db, autocommit=True) as conn:
        assert storage.write_readings(conn, batch) == 100
        assert storage.write_readings(conn, batch) == 0
        overlapping = [reading(s, day=now) for s in range(50, 150)]
        assert storage.write_readings(conn, overlapping + overlapping[:10]) == 50
        assert count(conn) == 150


def test_values_are_stored_as_sent(clean_db):
    with psycopg.connect(clean_db, autocommit=True) as conn:
        storage.write_readings(conn, [reading(7)])
        row = conn.execute(
            "SELECT device_id, sensor_type, value::float8, unit, location, status FROM sensor_readings"
        ).fetchone()
    assert row == ("device-001", "temperature", 20.07, "celsius", "assembly-line-1", "active")


def test_a_month_without_a_partition_gets_one(clean_db):
    far = datetime.now(UTC) + timedelta(days=200)
    with psycopg.connect(clean_db, autocommit=True) as conn:
        assert storage.write_readings(conn, [reading(0, day=far)]) == 1
        partition = conn.execute("SELECT tableoid::regclass::text FROM sensor_readings").fetchone()[0]
    assert partition == f"sensor_readings_{far:%Y_%m}"


def test_devices_are_registered_from_readings_once_and_a_decommissioned_one_stays_so(clean_db):
    with psycopg.connect(clean_db, autocommit=True) as conn:
        conn.execute("UPDATE devices SET decommissioned_at = now() WHERE device_id = 'device-002'")
        newcomer = reading(0, device="gw-7-sensor-1")
        made = registry.register_from(
            conn, [newcomer, reading(1, device="gw-7-sensor-1"), reading(0, device="device-002")]
        )
        assert made == ["gw-7-sensor-1"]
        assert conn.execute(
            "SELECT device_type, location, unit FROM devices WHERE device_id = 'gw-7-sensor-1'"
        ).fetchone() == ("temperature", "assembly-line-1", "celsius")
        entries = registry.lookup(conn, ["gw-7-sensor-1", "device-002", "nobody", "nul\x00"])
    assert set(entries) == {"gw-7-sensor-1", "device-002"}
    assert registry.refusal("gw-7-sensor-1", entries) is None
    assert "was decommissioned at" in (registry.refusal("device-002", entries) or "")
    assert registry.refusal("nobody", entries) == "unknown device 'nobody': register it with POST /api/devices"


def test_expired_partitions_are_dropped(clean_db):
    with psycopg.connect(clean_db, autocommit=True) as conn:
        conn.execute("SELECT ensure_sensor_readings_partitions('2001-01-15', '2001-02-15')")
        dropped = [row[0] for row in conn.execute("SELECT drop_sensor_readings_partitions_before('2001-02-01')")]
    assert dropped == ["sensor_readings_2001_01"]


def test_the_functions_device_cache_looks_up_a_device_it_has_not_seen_once(clean_db):
    pool = db.pool(clean_db)
    try:
        catalog = DeviceCatalog(pool, ttl_s=3600)
        assert sorted(catalog.devices()) == [f"device-00{n}" for n in range(1, 6)]
        register_in(clean_db, "kiln-1", "kiln-2")
        sql(clean_db, "UPDATE devices SET decommissioned_at = now(), alert_max = 7 WHERE device_id = 'kiln-2'")
        found = catalog.devices(["kiln-1", "kiln-2", "device-001"])
        assert "kiln-1" in found and "kiln-2" not in found  # registered a moment ago; decommissioned
        register_in(clean_db, "kiln-3")
        assert "kiln-3" not in catalog.devices(["device-001"])  # only what is asked for is looked up
        sql(clean_db, "UPDATE devices SET decommissioned_at = NULL WHERE device_id = 'kiln-2'")
        assert "kiln-2" not in catalog.devices(["kiln-2"])  # not found once: not asked again until the next read
    finally:
        pool.close()


def test_the_functions_device_cache_rereads_changed_rows_and_keeps_the_others(clean_db):
    now = [0.0]
    pool = db.pool(clean_db)
    try:
        catalog = DeviceCatalog(pool, ttl_s=5, clock=lambda: now[0])
        first = catalog.devices()
        sql(clean_db, "UPDATE devices SET alert_max = 99, status = 'maintenance' WHERE device_id = 'device-002'")
        sql(clean_db, "UPDATE devices SET decommissioned_at = now() WHERE device_id = 'device-003'")
        assert catalog.devices()["device-002"].rules.alert_max != 99  # cached until the ttl is over
        now[0] = 5.0
        again = catalog.devices()
        assert again["device-002"].rules.alert_max == 99 and not again["device-002"].monitored
        assert "device-003" not in again  # decommissioned since
        assert again["device-001"] is first["device-001"]  # unchanged: the same object, not built again
        sql(clean_db, "UPDATE devices SET decommissioned_at = NULL, alert_max = 5 WHERE device_id = 'device-003'")
        now[0] = 10.0
        assert catalog.devices()["device-003"].rules.alert_max == 5  # back in service, as it now is
    finally:
        pool.close()
