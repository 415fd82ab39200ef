-- Monthly partitions of sensor_readings, named sensor_readings_YYYY_MM, with
-- bounds in UTC. Ingest calls ensure_sensor_readings_partitions for months it
-- has not seen; start-up creates the retention window and two months ahead.

CREATE OR REPLACE FUNCTION ensure_sensor_readings_partitions(first_ts timestamptz, last_ts timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  month_start timestamp := date_trunc('month', first_ts AT TIME ZONE 'UTC');
  created integer := 0;
  partition_name text;
BEGIN
  -- Serialise creators: two ingest replicas may meet a new month together.
  PERFORM pg_advisory_xact_lock(hashtext('sensor_readings_partitions'));
  WHILE month_start <= last_ts AT TIME ZONE 'UTC' LOOP
    partition_name := format('sensor_readings_%s', to_char(month_start, 'YYYY_MM'));
    IF to_regclass(partition_name) IS NULL THEN
      EXECUTE format(
        'CREATE TABLE %I PARTITION OF sensor_readings FOR VALUES FROM (%L) TO (%L)',
        partition_name,
        month_start AT TIME ZONE 'UTC',
        (month_start + interval '1 month') AT TIME ZONE 'UTC');
      created := created + 1;
    END IF;
    month_start := month_start + interval '1 month';
  END LOOP;
  RETURN created;
END;
$$;

-- Drops whole partitions that lie entirely before the cut-off (retention).
CREATE OR REPLACE FUNCTION drop_sensor_readings_partitions_before(cutoff timestamptz)
RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
  part record;
  upper_bound timestamptz;
BEGIN
  FOR part IN
    SELECT c.oid::regclass::text AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'sensor_readings'::regclass
  LOOP
    upper_bound := substring(part.bound FROM 'TO \(''([^'']+)''\)')::timestamptz;
    IF upper_bound <= cutoff THEN
      EXECUTE format('DROP TABLE %s', part.name);
      RETURN NEXT part.name;
    END IF;
  END LOOP;
END;
$$;

SELECT ensure_sensor_readings_partitions(now() - interval '3 months', now() + interval '2 months');
