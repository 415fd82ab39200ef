-- The five tables and their indexes (docs/architecture.md, "Where state lives"), with
-- sensor_readings partitioned by month and an idempotency key on readings.

CREATE TABLE IF NOT EXISTS devices (
  device_id VARCHAR(50) PRIMARY KEY,
  device_type VARCHAR(50) NOT NULL,
  location VARCHAR(100) NOT NULL,
  normal_min DECIMAL(10,2),
  normal_max DECIMAL(10,2),
  alert_min DECIMAL(10,2),
  alert_max DECIMAL(10,2),
  unit VARCHAR(20),
  status VARCHAR(20) DEFAULT 'active',
  created_at TIMESTAMPTZ DEFAULT NOW(),
  updated_at TIMESTAMPTZ DEFAULT NOW(),
  -- a display name, the expected reporting period, when silence means offline
  name VARCHAR(100),
  update_period_ms INTEGER CHECK (update_period_ms > 0),
  offline_timeout_s INTEGER NOT NULL DEFAULT 30 CHECK (offline_timeout_s > 0)
);

-- bigserial, not serial: 2^31 readings is one day at 25k/s.
-- The primary key must contain the partition key, hence (id, timestamp).
CREATE TABLE IF NOT EXISTS sensor_readings (
  id BIGSERIAL,
  device_id VARCHAR(50) NOT NULL,
  timestamp TIMESTAMPTZ NOT NULL,
  sensor_type VARCHAR(50) NOT NULL,
  value DECIMAL(10,2) NOT NULL,
  unit VARCHAR(20) NOT NULL,
  location VARCHAR(100),
  status VARCHAR(20) DEFAULT 'active',
  created_at TIMESTAMPTZ DEFAULT NOW(),
  PRIMARY KEY (id, timestamp)
) PARTITION BY RANGE (timestamp);

-- The idempotency key: a device reports one value per instant, so
-- (device_id, timestamp) identifies a reading and a redelivery is refused.
-- The same index serves "a device's readings, newest first".
CREATE UNIQUE INDEX IF NOT EXISTS idx_sensor_readings_device_timestamp
  ON sensor_readings (device_id, timestamp DESC);
CREATE INDEX IF NOT EXISTS idx_sensor_readings_sensor_type
  ON sensor_readings (sensor_type, timestamp DESC);
CREATE INDEX IF NOT EXISTS idx_sensor_readings_location
  ON sensor_readings (location, timestamp DESC);

-- Ids are drawn per row by COPY; a cache makes that cheap.
ALTER SEQUENCE sensor_readings_id_seq CACHE 1000;

CREATE TABLE IF NOT EXISTS alerts (
  id SERIAL PRIMARY KEY,
  device_id VARCHAR(50) NOT NULL,
  alert_type VARCHAR(50) NOT NULL,
  message TEXT NOT NULL,
  severity VARCHAR(20) DEFAULT 'medium',
  value DECIMAL(10,2),
  threshold DECIMAL(10,2),
  status VARCHAR(20) DEFAULT 'active',
  triggered_at TIMESTAMPTZ NOT NULL,
  acknowledged_at TIMESTAMPTZ,
  resolved_at TIMESTAMPTZ,
  created_at TIMESTAMPTZ DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS idx_alerts_device_status ON alerts (device_id, status);
CREATE INDEX IF NOT EXISTS idx_alerts_triggered_at ON alerts (triggered_at DESC);

CREATE TABLE IF NOT EXISTS device_stats_hourly (
  id SERIAL PRIMARY KEY,
  device_id VARCHAR(50) NOT NULL,
  hour_timestamp TIMESTAMPTZ NOT NULL,
  avg_value DECIMAL(10,2),
  min_value DECIMAL(10,2),
  max_value DECIMAL(10,2),
  count_readings INTEGER,
  std_deviation DECIMAL(10,2),
  created_at TIMESTAMPTZ DEFAULT NOW()
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_device_stats_hourly_unique
  ON device_stats_hourly (device_id, hour_timestamp);

CREATE TABLE IF NOT EXISTS system_events (
  id SERIAL PRIMARY KEY,
  event_type VARCHAR(50) NOT NULL,
  service_name VARCHAR(50),
  message TEXT,
  metadata JSONB,
  severity VARCHAR(20) DEFAULT 'info',
  timestamp TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS idx_system_events_type_timestamp
  ON system_events (event_type, timestamp DESC);
