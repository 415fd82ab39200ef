-- Imported history (POST /api/devices/:id/import, `iotmon import`): one row per import, with the time range
-- of its rows. Retention counts imported history from when it was imported, not from its timestamps: a
-- monthly partition an import touched is kept until 3 months after that import (with whatever else the
-- month holds), the hourly rollups of its range a year after it. The offline rule does not take imported
-- readings for signs of life (functions/escalate_cron.py).
CREATE TABLE IF NOT EXISTS reading_imports (
  id BIGSERIAL PRIMARY KEY,
  device_id VARCHAR(50) NOT NULL,
  first_at TIMESTAMPTZ NOT NULL,
  last_at TIMESTAMPTZ NOT NULL,
  rows_imported INTEGER NOT NULL,
  imported_by VARCHAR(100),
  imported_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS idx_reading_imports_device ON reading_imports (device_id, last_at DESC);

-- As in 002, but a partition that a recent import (after the cut-off) touched is kept.
CREATE OR REPLACE FUNCTION drop_sensor_readings_partitions_before(cutoff timestamptz)
RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
  part record;
  lower_bound timestamptz;
  upper_bound timestamptz;
BEGIN
  FOR part IN
    SELECT c.oid::regclass::text AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'sensor_readings'::regclass
  LOOP
    lower_bound := substring(part.bound FROM 'FROM \(''([^'']+)''\)')::timestamptz;
    upper_bound := substring(part.bound FROM 'TO \(''([^'']+)''\)')::timestamptz;
    IF upper_bound <= cutoff AND NOT EXISTS (
      SELECT 1 FROM reading_imports ri
      WHERE ri.imported_at > cutoff AND ri.first_at < upper_bound AND ri.last_at >= lower_bound
    ) THEN
      EXECUTE format('DROP TABLE %s', part.name);
      RETURN NEXT part.name;
    END IF;
  END LOOP;
END;
$$;
