-- The alert lifecycle: states triggered → acknowledged →
-- escalated → resolved, exactly one open alert per (device, type), and an
-- append-only history of every state change.

ALTER TABLE alerts ALTER COLUMN status SET DEFAULT 'triggered';
ALTER TABLE alerts
  ADD COLUMN IF NOT EXISTS updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  ADD COLUMN IF NOT EXISTS escalated_at TIMESTAMPTZ,
  ADD COLUMN IF NOT EXISTS acknowledged_by VARCHAR(100),
  ADD COLUMN IF NOT EXISTS resolved_by VARCHAR(100),
  -- rule specifics: expected band, forecast crossing time, breach counts, …
  ADD COLUMN IF NOT EXISTS details JSONB NOT NULL DEFAULT '{}'::jsonb;

ALTER TABLE alerts DROP CONSTRAINT IF EXISTS alerts_status_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_status_check
  CHECK (status IN ('triggered', 'acknowledged', 'escalated', 'resolved'));
ALTER TABLE alerts DROP CONSTRAINT IF EXISTS alerts_severity_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_severity_check
  CHECK (severity IN ('low', 'medium', 'high', 'critical'));

-- The database, not the code, guarantees one open alert per device and type:
-- concurrent evaluators and redeliveries meet here (INSERT … ON CONFLICT).
CREATE UNIQUE INDEX IF NOT EXISTS idx_alerts_one_open
  ON alerts (device_id, alert_type) WHERE status <> 'resolved';
CREATE INDEX IF NOT EXISTS idx_alerts_status_triggered ON alerts (status, triggered_at DESC);

CREATE TABLE IF NOT EXISTS alert_history (
  id BIGSERIAL PRIMARY KEY,
  alert_id INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
  action VARCHAR(20) NOT NULL,        -- triggered, updated, acknowledged, escalated, resolved
  from_status VARCHAR(20),
  to_status VARCHAR(20) NOT NULL,
  actor VARCHAR(100) NOT NULL DEFAULT 'system',
  note TEXT,
  details JSONB NOT NULL DEFAULT '{}'::jsonb,
  at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS idx_alert_history_alert ON alert_history (alert_id, at);
CREATE INDEX IF NOT EXISTS idx_alert_history_at ON alert_history (at DESC);

-- Append-only: history rows are never changed (they go only with their alert, by retention).
CREATE OR REPLACE FUNCTION alert_history_is_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'alert_history is append-only';
END;
$$;
DROP TRIGGER IF EXISTS alert_history_no_update ON alert_history;
CREATE TRIGGER alert_history_no_update BEFORE UPDATE ON alert_history
  FOR EACH ROW EXECUTE FUNCTION alert_history_is_append_only();

-- Rule settings per device (PUT /api/devices/:id/config edits them; the rule engine reads them on every evaluation).
ALTER TABLE devices
  ADD COLUMN IF NOT EXISTS anomaly_sensitivity DOUBLE PRECISION NOT NULL DEFAULT 4.0 CHECK (anomaly_sensitivity > 0),
  ADD COLUMN IF NOT EXISTS trend_horizon_s INTEGER NOT NULL DEFAULT 900 CHECK (trend_horizon_s > 0),
  ADD COLUMN IF NOT EXISTS breach_count INTEGER NOT NULL DEFAULT 2 CHECK (breach_count > 0),
  ADD COLUMN IF NOT EXISTS clear_after_s INTEGER NOT NULL DEFAULT 30 CHECK (clear_after_s >= 0),
  ADD COLUMN IF NOT EXISTS hysteresis_pct DOUBLE PRECISION NOT NULL DEFAULT 2.0 CHECK (hysteresis_pct >= 0);
