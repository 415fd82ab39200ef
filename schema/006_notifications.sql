-- notify: silences / maintenance windows, and the log of every
-- notification decided for an alert change, which is also its deduplication key.

-- A silence suppresses email and webhook notifications (never the dashboard's
-- live Socket.IO view) for one device, or for all devices when device_id is
-- NULL, from starts_at until ends_at. Every silence expires.
CREATE TABLE IF NOT EXISTS silences (
  id BIGSERIAL PRIMARY KEY,
  device_id VARCHAR(50) REFERENCES devices (device_id) ON DELETE CASCADE,
  reason TEXT NOT NULL CHECK (length(btrim(reason)) > 0),
  created_by VARCHAR(100) NOT NULL DEFAULT 'system',
  starts_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  ends_at TIMESTAMPTZ NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  CONSTRAINT silences_ends_after_start CHECK (ends_at > starts_at)
);
-- "Is this device silenced now?": the device's own silences and the global ones (device_id NULL).
CREATE INDEX IF NOT EXISTS idx_silences_device_ends ON silences (device_id, ends_at);

-- One row per (alert change, channel, target). The unique key is the
-- deduplication: a redelivered alert event finds its rows and sends nothing
-- again on a channel whose row is final (sent, silenced, rate_limited); only
-- `failed` rows are attempted again, and updated in place with the outcome.
CREATE TABLE IF NOT EXISTS notifications (
  id BIGSERIAL PRIMARY KEY,
  alert_id VARCHAR(20) NOT NULL,       -- public id, alert-001
  change_key VARCHAR(64) NOT NULL,     -- the alert_history sequence, or action@timestamp without one
  channel VARCHAR(20) NOT NULL CHECK (channel IN ('socketio', 'email', 'webhook')),
  target VARCHAR(100) NOT NULL DEFAULT '',  -- which webhook (host#hash of its URL); '' for one-target channels
  device_id VARCHAR(50) NOT NULL,
  action VARCHAR(20) NOT NULL,
  severity VARCHAR(20) NOT NULL,
  status VARCHAR(20) NOT NULL CHECK (status IN ('sent', 'failed', 'rate_limited', 'silenced')),
  error TEXT,
  silence_id BIGINT,                   -- the silence that suppressed it (no FK: the log outlives silences)
  attempts INTEGER NOT NULL DEFAULT 1,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  CONSTRAINT notifications_once UNIQUE (alert_id, change_key, channel, target)
);
CREATE INDEX IF NOT EXISTS idx_notifications_device_created ON notifications (device_id, created_at DESC);
CREATE INDEX IF NOT EXISTS idx_notifications_status_created ON notifications (status, created_at DESC);
